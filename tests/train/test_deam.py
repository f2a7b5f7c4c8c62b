#!/usr/bin/env python3
"""valar-train on a small generated fake-DEAM folder.

Writes WAV/FLAC files whose arousal is the smoothed loudness and valence the
pitch register (as tests/train/synth.h), the two wide annotation CSVs in
DEAM's layout (sample_15000ms, ..., blank cells after shorter songs) and a
split file, then checks: training writes best/last weight files and a
feature cache; `valar-train eval` prints RMSE well below chance on the test
songs; the cache is reused when nothing changed and rebuilt for a song whose
audio changed; --resume continues; bad input (malformed CSV, missing audio,
unknown split set) fails with a message naming the file and no output file.

With a third argument (the valar CLI), also checks that `valar analyze`
loads the trained file and its per-segment output follows the target.

usage: test_deam.py VALAR_TRAIN WORKDIR [VALAR]
"""
import os
import re
import shutil
import subprocess
import sys
import wave

import numpy as np

SR = 22050
fails = 0


def check(cond, what):
    global fails
    if not cond:
        print("FAIL:", what)
        fails += 1


def synth(seed, seconds):
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    pa, pv = rng.uniform(0, 6.283, 3), rng.uniform(0, 6.283, 3)
    fa, fv = 1 / (4 + 10 * rng.uniform(size=3)), 1 / (4 + 10 * rng.uniform(size=3))
    ca = sum(np.sin(6.283 * fa[k] * t + pa[k]) for k in range(3)) / 3
    cv = sum(np.sin(6.283 * fv[k] * t + pv[k]) for k in range(3)) / 3
    amp = 10 ** ((-21 + 15 * ca) / 20)
    f = 670 * 20 ** (cv / 2)
    ph = np.cumsum(6.283 * f / SR)
    tone = np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.25 * np.sin(3 * ph)
    x = amp * (0.5 * tone + 0.15 * rng.uniform(-1, 1, n))
    seg = SR // 2
    nseg = n // seg
    a = 0.8 * ca[: nseg * seg].reshape(nseg, seg).mean(1)
    v = 0.8 * cv[: nseg * seg].reshape(nseg, seg).mean(1)
    return x, a, v


def write_wav(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def write_csvs(d, ann, names=("arousal.csv", "valence.csv")):
    ncol = max(len(a) for a, _ in ann.values())
    for k, name in enumerate(names):
        with open(os.path.join(d, name), "w") as f:
            f.write("song_id," + ",".join("sample_%dms" % (15000 + 500 * j) for j in range(ncol)) + "\n")
            for sid, av in ann.items():
                vals = ["%.4f" % v for v in av[k]] + [""] * (ncol - len(av[k]))
                f.write("%s,%s\n" % (sid, ",".join(vals)))


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=240, **kw)


def parse_eval(out):
    m = {}
    for line in out.splitlines():
        r = re.match(r"\s+(arousal|valence)\s+([-\d.naN]+)\s+([-\d.naN]+)", line)
        if r:
            m[r.group(1)] = (float(r.group(2)), float(r.group(3)))
    return m


def analyze_follows(valar, model, data, sid, truth, min_ra, min_rv):
    """`valar analyze -m model` on song sid: one row per segment, following the target."""
    song = [f for f in os.listdir(data) if f.startswith("%d." % sid)][0]
    r = run([valar, "analyze", "-q", "-m", model, os.path.join(data, song)])
    check(r.returncode == 0, "valar analyze %s: %s" % (model, r.stderr))
    rows = [l.split(",") for l in r.stdout.splitlines()[1:] if l.strip()]
    a, v = truth[sid]
    check(len(rows) == len(a), "valar analyze: %d rows for %d segments" % (len(rows), len(a)))
    if not rows:
        return
    pred = np.array([[float(c) for c in row[-2:]] for row in rows])
    n = min(len(pred), len(a))
    ra = np.corrcoef(pred[:n, 0], a[:n])[0, 1]
    rv = np.corrcoef(pred[:n, 1], v[:n])[0, 1]
    ea = np.sqrt(np.mean((pred[30:n, 0] - a[30:n]) ** 2))
    ev = np.sqrt(np.mean((pred[30:n, 1] - v[30:n]) ** 2))
    print("valar analyze -m %s on %d: %d rows, r arousal %.3f valence %.3f, RMSE from 15 s "
          "%.3f %.3f" % (os.path.basename(model), sid, len(rows), ra, rv, ea, ev))
    check(ra > min_ra and rv > min_rv, "valar analyze follows the target")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    data = os.path.join(work, "deam")
    os.makedirs(data)
    ann = {}
    truth = {}
    ids = list(range(1, 19)) + [2001, 2002, 2003, 2004]
    for i, sid in enumerate(ids):
        seconds = 45 if i % 4 else 40  # some shorter songs: blank cells
        x, a, v = synth(sid, seconds)
        # annotations from 15 s: DEAM frame t = segment 30 + t
        ann[sid] = (a[30:], v[30:])
        truth[sid] = (a, v)
        wav = os.path.join(data, "%d.wav" % sid)
        write_wav(wav, x)
        if i % 5 == 1 and shutil.which("sox"):  # a few FLACs
            flac = os.path.join(data, "%d.flac" % sid)
            subprocess.run(["sox", wav, flac], check=True)
            os.remove(wav)
    write_csvs(data, ann)
    split = os.path.join(work, "split.txt")
    with open(split, "w") as f:
        f.write("# fake DEAM split\ntrain 1-14\nval 15 16 17 18\ntest 2001-2004\n")
    out = os.path.join(work, "model.safetensors")
    base = [exe, "train", "--data", data, "--split", split, "--out", out, "--quiet",
            "--threads", "2", "--lr", "0.01", "--dropout", "0.1", "--l1", "1e-4", "--l2", "1e-4",
            "--act-l1", "1e-4", "--act-l2", "1e-4", "--patience", "0"]
    r = run(base + ["--epochs", "40"])
    print(r.stdout, r.stderr)
    check(r.returncode == 0, "train exit status %d" % r.returncode)
    cache = os.path.join(data, "valar-features.cache")
    last = os.path.join(work, "model.last.safetensors")
    for p in (out, last, cache, out + ".state"):
        check(os.path.exists(p), "%s written" % p)
    check(not [f for f in os.listdir(work) if ".tmp" in f], "no temporary files left")

    # eval on the test songs, against chance (predicting the mean)
    r = run([exe, "eval", "--data", data, "--split", split, "--model", out, "--threads", "2"])
    print(r.stdout, r.stderr)
    check(r.returncode == 0, "eval exit status")
    m = parse_eval(r.stdout)
    check("per song" in r.stdout, "eval prints per-song figures")
    for k, name in enumerate(("arousal", "valence")):
        tv = np.concatenate([ann[s][k] for s in (2001, 2002, 2003, 2004)])
        chance = tv.std()
        got = m.get(name, (9, 0))
        print("%s: RMSE %.4f r %.3f, chance %.4f" % (name, got[0], got[1], chance))
        check(got[0] < 0.6 * chance, "%s RMSE %.4f below 0.6 x chance %.4f" % (name, got[0], chance))
        check(got[1] > 0.7, "%s r %.3f > 0.7" % (name, got[1]))

    # valar analyze loads the file and follows the target on a test song
    if len(sys.argv) > 3:
        analyze_follows(sys.argv[3], out, data, 2001, truth, 0.8, 0.7)

    # the cache is reused when nothing changed ...
    st = os.stat(cache)
    r = run([exe, "eval", "--data", data, "--split", split, "--model", out, "--set", "val"])
    check(r.returncode == 0 and os.stat(cache).st_mtime_ns == st.st_mtime_ns,
          "cache not rewritten when nothing changed")
    # ... and rebuilt when a song's audio changes
    p = os.path.join(data, "15.wav")
    if not os.path.exists(p):
        p = os.path.join(data, "15.flac")
    os.utime(p, ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    r = run([exe, "eval", "--data", data, "--split", split, "--model", out, "--set", "val"])
    check(r.returncode == 0 and os.stat(cache).st_mtime_ns != st.st_mtime_ns,
          "cache rewritten after an audio file changed")
    # a damaged cache is ignored (rebuilt), not fatal
    with open(cache, "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 64)
    r = run([exe, "eval", "--data", data, "--split", split, "--model", out, "--set", "val"])
    check(r.returncode == 0 and parse_eval(r.stdout), "damaged cache rebuilt")

    # --resume continues after the last epoch
    r = run(base + ["--epochs", "42", "--resume"])
    check(r.returncode == 0, "resume exit status")
    r2 = run([a for a in base if a != "--quiet"] + ["--epochs", "43", "--resume"])
    check("resumed" in r2.stderr and "epoch  43" in r2.stderr, "resume continues at epoch 43")

    # the streaming kind and the joint branch variant train and evaluate too
    outs = os.path.join(work, "stream.safetensors")
    r = run(base[:base.index("--out")] + ["--out", outs] + base[base.index("--out") + 2:] +
            ["--kind", "streaming", "--joint", "--epochs", "15"])
    check(r.returncode == 0, "streaming joint training: " + r.stderr[-300:])
    r = run([exe, "eval", "--data", data, "--split", split, "--model", outs])
    print(r.stdout)
    check(r.returncode == 0 and "stepped over whole songs" in r.stdout, "streaming eval")
    if len(sys.argv) > 3:  # valar analyze runs it through the streaming analyzer (crnn_step)
        analyze_follows(sys.argv[3], outs, data, 2002, truth, 0.8, 0.7)

    # bad input: a message naming the file, exit 1, no output
    bad = os.path.join(work, "bad")
    shutil.copytree(data, bad)
    os.remove(os.path.join(bad, "valar-features.cache"))
    with open(os.path.join(bad, "valence.csv"), "a") as f:
        f.write("99,0.1,zebra\n")
    bout = os.path.join(work, "bad.safetensors")
    r = run([exe, "train", "--data", bad, "--out", bout, "--epochs", "1", "--quiet"])
    check(r.returncode == 1 and "valence.csv" in r.stderr and "zebra" in r.stderr,
          "malformed CSV reported: " + r.stderr)
    check(not os.path.exists(bout), "no output after a bad CSV")
    with open(os.path.join(bad, "valence.csv"), "w") as f:
        f.write(open(os.path.join(data, "valence.csv")).read())
    for f in os.listdir(bad):
        if f.startswith("3."):
            os.remove(os.path.join(bad, f))
    r = run([exe, "train", "--data", bad, "--out", bout, "--epochs", "1", "--quiet"])
    check(r.returncode == 1 and "3.mp3" in r.stderr, "missing audio reported: " + r.stderr)
    check(not os.path.exists(bout), "no output after missing audio")
    with open(os.path.join(work, "badsplit.txt"), "w") as f:
        f.write("training 1 2\n")
    r = run([exe, "train", "--data", data, "--split", os.path.join(work, "badsplit.txt"),
             "--out", bout, "--epochs", "1", "--quiet"])
    check(r.returncode == 1 and "badsplit.txt:1" in r.stderr, "bad split reported: " + r.stderr)
    r = run([exe, "train", "--data", data, "--out", bout, "--seq-len", "x"])
    check(r.returncode == 2, "usage error exits 2")

    if fails:
        print("%d checks FAILED" % fails)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("all fake-DEAM checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
