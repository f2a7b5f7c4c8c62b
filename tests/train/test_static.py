#!/usr/bin/env python3
"""valar-train with song-level labels, `valar-train labels`, and the eval
report (song means, quadrants, baselines), on generated data.

Songs are tones with noise; a song's arousal is its loudness and its valence
its pitch register, constant over the song, so a model (and the ridge
baseline on per-band mean/std) can learn them. Checks:

* `labels`: a small 4Q-like folder (annotations, Latin-1 metadata with
  quoted commas, norms) gives exactly the means an independent computation
  here gives; every kind of bad input (song missing either way, unknown tag,
  song without tags, bad quadrant, duplicate id, missing column, malformed
  CSV, a norm out of 1..9) exits 1 naming file and line and writes nothing.
* `train --labels`: every frame from --warmup on is a target (the frame
  count in eval's JSON), bad label files are refused naming file and line,
  --labels with --arousal is a usage error.
* `eval --format json`: quadrant accuracy, sign accuracies, confusion
  matrix and song-mean RMSE equal the same figures computed here from
  `valar analyze` of every test song with the trained model; the
  training-mean baseline equals the training labels' mean; the ridge
  baseline and the model beat the mean baseline on song-mean RMSE.
* augmentation flags run, and a seeded run is deterministic.

usage: test_static.py VALAR_TRAIN VALAR WORKDIR
"""
import json
import math
import os
import shutil
import subprocess
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.join(os.environ.get("VALAR_SRC", "."), "tests", "common"))
from safetensors import read_safetensors  # noqa: E402
from testutil import check, failures  # noqa: E402

SR = 22050


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=240)


def quadrant(a, v):
    return (1 if v >= 0 else 2) if a >= 0 else (4 if v >= 0 else 3)


def song(seed, seconds, a, v):
    """Loudness from arousal, pitch register from valence, constant."""
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    amp = 10 ** ((-24 + 18 * a) / 20)
    f = 500 * 8 ** v
    tone = np.sin(2 * math.pi * f * t) + 0.5 * np.sin(4 * math.pi * f * t)
    return amp * (0.6 * tone + 0.2 * rng.uniform(-1, 1, n))


def write_wav(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


# --- valar-train labels -------------------------------------------------------

NORMS = {"happy": (8.47, 6.05), "calm": (6.89, 1.67), "sad": (2.10, 3.49),
         "angry": (2.53, 6.20), "tense": (3.25, 5.73), "gentle": (7.08, 2.90)}


def write_4q(d, songs):
    """songs: [(id, quadrant, [tags])] -> the three CSVs of a 4Q folder."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "panda_dataset_taffc_annotations.csv"), "w") as f:
        f.write("Song,Quadrant\n")
        for sid, q, _ in songs:
            f.write(f"{sid},{q}\n")
    with open(os.path.join(d, "panda_dataset_taffc_metadata.csv"), "w", encoding="latin-1") as f:
        f.write('"Song","Artist","Title","Quadrant","MoodsFoundStr","Genres"\n')
        for i, (sid, q, tags) in enumerate(songs):
            f.write(f'"{sid}","Art\xe9 {i}","A, B and ""C""","{q}","{"; ".join(tags)}","Pop"\n')
    with open(os.path.join(d, "warriner-moods.csv"), "w") as f:
        f.write("Word,V.Mean.Sum,A.Mean.Sum,D.Mean.Sum\n")
        for w, (v, a) in NORMS.items():
            f.write(f"{w},{v},{a},5\n")


def check_labels(exe, work):
    d = os.path.join(work, "4q")
    songs = [("S1", "Q1", ["happy", "tense"]), ("S2", "Q3", ["sad"]),
             ("S3", "Q4", ["calm", "gentle", "happy"]), ("S4", "Q2", ["angry", "tense"])]
    write_4q(d, songs)
    out = os.path.join(work, "labels.csv")
    r = run([exe, "labels", "--4q", d, "--out", out])
    check(r.returncode == 0, "labels --4q: exit 0 " + r.stderr)
    got = open(out).read().splitlines() if os.path.exists(out) else []
    want = ["song_id,arousal,valence,quadrant"]
    for sid, q, tags in songs:
        a = sum((NORMS[w][1] - 5) / 4 for w in tags) / len(tags)
        v = sum((NORMS[w][0] - 5) / 4 for w in tags) / len(tags)
        want.append(f"{sid},{a:.6f},{v:.6f},{q}")
    check(got == want, f"labels are the tag means of (norm - 5) / 4: {got}")
    r = run([exe, "labels", "--4q", d])
    check(r.returncode == 0 and r.stdout.splitlines() == want, "without --out: standard output")

    def bad(name, songs_, edit, words):
        b = os.path.join(work, "bad-" + name)
        shutil.rmtree(b, ignore_errors=True)
        write_4q(b, songs_)
        if edit:
            edit(b)
        o = os.path.join(b, "labels.csv")
        r = run([exe, "labels", "--4q", b, "--out", o])
        check(r.returncode == 1 and all(w in r.stderr for w in words) and not os.path.exists(o)
              and not [f for f in os.listdir(b) if ".tmp" in f],
              f"{name}: exit 1, message names {words}, no output: {r.stderr.strip()}")

    def append(file, text):
        return lambda b: open(os.path.join(b, file), "a", encoding="latin-1").write(text)

    def replace(file, old, new):
        def f(b):
            p = os.path.join(b, file)
            s = open(p, encoding="latin-1").read()
            open(p, "w", encoding="latin-1").write(s.replace(old, new))
        return f

    ann, meta, nrm = ("panda_dataset_taffc_annotations.csv", "panda_dataset_taffc_metadata.csv",
                      "warriner-moods.csv")
    bad("unknown-tag", songs[:1] + [("S9", "Q1", ["happy", "zesty"])], None,
        [meta + ":3", "zesty", nrm])
    bad("no-tags", songs[:1] + [("S9", "Q1", [])], None, [meta + ":3", "S9", "no tags"])
    bad("song-not-in-metadata", songs, append(ann, "S7,Q2\n"), [ann + ":6", "S7"])
    bad("song-not-in-quadrants", songs, append(meta, '"S8","x","y","Q1","happy","Pop"\n'),
        [meta + ":6", "S8"])
    bad("bad-quadrant", songs, replace(ann, "S2,Q3", "S2,Q5"), [ann + ":3", "Q5"])
    bad("duplicate", songs, append(ann, "S1,Q1\n"), [ann + ":6", "S1", "twice"])
    bad("missing-column", songs, replace(nrm, "A.Mean.Sum", "Arousal"), [nrm + ":1", "A.Mean.Sum"])
    bad("malformed", songs, append(meta, '"S5","unterminated\n'), [meta + ":6", "malformed"])
    bad("norm-range", songs, replace(nrm, "sad,2.1,", "sad,12,"), [nrm + ":4", "12"])
    r = run([exe, "labels", "--quadrants", os.path.join(d, ann)])
    check(r.returncode == 2 and "--4q" in r.stderr, "labels without all three files: usage error")


# --- training and eval ----------------------------------------------------------

def make_data(work):
    """40 songs of 12 s on a grid of (arousal, valence); labels and split."""
    d = os.path.join(work, "static")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(5)
    lab = {}
    for i in range(40):
        a, v = rng.uniform(-0.8, 0.8, 2)
        sid = f"s{i:02d}"
        lab[sid] = (a, v)
        write_wav(os.path.join(d, sid + ".wav"), song(i, 12, a, v))
    with open(os.path.join(d, "labels.csv"), "w") as f:
        f.write("song_id,arousal,valence,quadrant\n")
        for sid, (a, v) in lab.items():
            f.write(f"{sid},{a:.4f},{v:.4f},Q{quadrant(a, v)}\n")
    ids = sorted(lab)
    split = os.path.join(d, "split.txt")
    with open(split, "w") as f:
        f.write("train " + " ".join(ids[:28]) + "\nval " + " ".join(ids[28:34]) +
                "\ntest " + " ".join(ids[34:]) + "\n")
    return d, split, lab, ids


def check_train_eval(exe, valar, work):
    d, split, lab, ids = make_data(work)
    labels = os.path.join(d, "labels.csv")
    model = os.path.join(work, "static.safetensors")
    base = [exe, "train", "--labels", labels, "--audio", d, "--split", split, "--quiet",
            "--threads", "2", "--seq-len", "10", "--filters", "4", "--dense", "8", "--gru", "8",
            "--lr", "0.01", "--dropout", "0.1", "--l1", "1e-4", "--act-l1", "0", "--act-l2", "0",
            "--patience", "0"]
    r = run(base + ["--epochs", "40", "--warmup", "2", "--out", model])
    check(r.returncode == 0 and os.path.exists(model), "train --labels: " + r.stderr[-300:])
    ev = [exe, "eval", "--labels", labels, "--audio", d, "--split", split, "--model", model,
          "--warmup", "2"]
    r = run(ev + ["--format", "json"])
    check(r.returncode == 0, "eval --format json: " + r.stderr)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = {"models": [{}] * 3, "frames": 0}
    m, mean_b, ridge_b = rep["models"]
    frames_per_song = 24  # 12 s = 24 segments
    check(rep["frames"] == 6 * (frames_per_song - 4),
          f"--warmup 2: the first 4 frames of each of the 6 test songs have no target "
          f"({rep['frames']} frames)")

    # the same figures from valar analyze of each test song
    pm, tm, qt, qp = [], [], [], []
    for sid in ids[34:]:
        r = run([valar, "analyze", "-q", "-m", model, os.path.join(d, sid + ".wav")])
        rows = np.array([[float(x) for x in l.split(",")] for l in r.stdout.splitlines()[1:]])
        p = rows[4:, 1:3].mean(0)  # the frames with a target
        pm.append(p)
        tm.append(lab[sid])
        qt.append(quadrant(*lab[sid]))
        qp.append(quadrant(*p))
    pm, tm = np.array(pm), np.array(tm)
    acc = np.mean(np.array(qt) == np.array(qp))
    conf = [[sum(1 for a, b in zip(qt, qp) if a == i and b == j) for j in range(1, 5)]
            for i in range(1, 5)]
    rmse = np.sqrt(((pm - tm) ** 2).mean(0))
    sa = np.mean([(a <= 2) == (b <= 2) for a, b in zip(qt, qp)])
    sv = np.mean([(a in (1, 4)) == (b in (1, 4)) for a, b in zip(qt, qp)])
    check(abs(m.get("quadrant_accuracy", -1) - acc) < 1e-9 and m.get("confusion") == conf,
          f"quadrant accuracy {m.get('quadrant_accuracy')} and confusion {m.get('confusion')} "
          f"== valar analyze's song means ({acc}, {conf})")
    check(abs(m.get("arousal_sign_accuracy", -1) - sa) < 1e-9 and
          abs(m.get("valence_sign_accuracy", -1) - sv) < 1e-9, "sign accuracies agree")
    check(abs(m.get("song_mean_rmse_arousal", -1) - rmse[0]) < 2e-5 and
          abs(m.get("song_mean_rmse_valence", -1) - rmse[1]) < 2e-5,
          f"song-mean RMSE {m.get('song_mean_rmse_arousal')}, {m.get('song_mean_rmse_valence')} "
          f"== {rmse}")
    train_mean = np.array([lab[s] for s in ids[:28]]).mean(0)
    want = np.sqrt(((tm - train_mean) ** 2).mean(0))
    check(abs(mean_b["song_mean_rmse_arousal"] - want[0]) < 1e-5 and
          abs(mean_b["song_mean_rmse_valence"] - want[1]) < 1e-5,
          "training-mean baseline: RMSE of the training labels' mean")
    for name, b in (("ridge baseline", ridge_b), ("model", m)):
        check(b.get("song_mean_rmse_arousal", 9) < 0.6 * mean_b["song_mean_rmse_arousal"] and
              b.get("song_mean_rmse_valence", 9) < 0.6 * mean_b["song_mean_rmse_valence"],
              f"{name} beats the training mean: {b.get('song_mean_rmse_arousal')}, "
              f"{b.get('song_mean_rmse_valence')} vs {mean_b['song_mean_rmse_arousal']}, "
              f"{mean_b['song_mean_rmse_valence']}")
    r = run(ev)
    check(r.returncode == 0 and "quadrant" in r.stdout and "baseline: ridge" in r.stdout
          and "confusion" in r.stdout and "ridge penalty" in r.stdout, "text report: " + r.stdout)
    r = run(ev + ["--no-baselines", "--format", "json"])
    check(r.returncode == 0 and len(json.loads(r.stdout)["models"]) == 1, "--no-baselines")

    # augmentation runs, deterministically
    outs = []
    for k, threads in enumerate(["1", "2"]):
        o = os.path.join(work, f"aug{k}.safetensors")
        r = run(base + ["--epochs", "2", "--aug-gain", "6", "--aug-tilt", "4", "--crop",
                        "--aug-shift", "2", "--lr-cosine", "--ema", "0.9", "--threads", threads, "--out", o])
        check(r.returncode == 0, "augmented training: " + r.stderr[-200:])
        outs.append(read_safetensors(o)[0] if os.path.exists(o) else {})
    check(outs[0] and outs[0].keys() == outs[1].keys() and
          all(np.array_equal(outs[0][k], outs[1][k]) for k in outs[0]),
          "augmented training is deterministic for a seed, 1 or 2 threads")

    # --ema: what is saved is the average, and a resumed run continues it
    # exactly (the resume state holds it)
    ema = [base + ["--epochs", "3", "--ema", "0.9", "--out"]]
    straight, part = os.path.join(work, "ema3.safetensors"), os.path.join(work, "ema12.safetensors")
    r1 = run(ema[0] + [straight])
    r2 = run([a if a != "3" else "2" for a in ema[0]] + [part])
    r3 = run(ema[0] + [part, "--resume"])
    plain = os.path.join(work, "plain3.safetensors")
    r4 = run(base + ["--epochs", "3", "--out", plain])
    if check(all(x.returncode == 0 for x in (r1, r2, r3, r4)), "--ema runs and resumes"):
        last = [p.replace(".safetensors", ".last.safetensors") for p in (straight, part, plain)]
        a, b, c = (read_safetensors(p)[0] for p in last)
        check(all(np.array_equal(a[k], b[k]) for k in a),
              "--ema: 2 epochs + --resume to 3 == 3 epochs, bit for bit")
        check(any(not np.array_equal(a[k], c[k]) for k in a if k.endswith("weight")),
              "--ema saves other weights than the plain run")

    # bad label files
    def bad_labels(name, text, words, extra=()):
        p = os.path.join(work, name + ".csv")
        with open(p, "w") as f:
            f.write(text)
        r = run([exe, "train", "--labels", p, "--audio", d, "--out",
                 os.path.join(work, "never.safetensors"), "--quiet", "--epochs", "1", *extra])
        check(r.returncode == 1 and all(w in r.stderr for w in words),
              f"labels file {name}: exit 1 naming {words}: {r.stderr.strip()}")

    bad_labels("range", "song_id,arousal,valence\ns00,0.5,1.5\n", ["range.csv:2", "valence", "1.5"])
    bad_labels("cells", "song_id,arousal,valence\ns00,0.5\n", ["cells.csv:2", "2 cells"])
    bad_labels("quad", "s00,0.5,0.5,Q7\n", ["quad.csv:1", "Q7"])
    bad_labels("dup", "s00,0.5,0.5\ns01,0,0\ns00,0.1,0.1\n", ["dup.csv:3", "s00", "twice"])
    bad_labels("nan", "s00,nan,0.5\n", ["nan.csv:1", "arousal"])
    bad_labels("unknown-in-split", "s00,0.5,0.5\n", ["split.txt", "s01", "unknown-in-split.csv"],
               ["--split", split])
    bad_labels("no-audio", "nosuchsong,0.5,0.5\n", ["nosuchsong"])
    r = run([exe, "train", "--labels", labels, "--arousal", "x.csv", "--audio", d, "--out", "x"])
    check(r.returncode == 2 and "--labels" in r.stderr, "--labels with --arousal: usage error")


def main():
    exe, valar, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    check_labels(exe, work)
    check_train_eval(exe, valar, work)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
