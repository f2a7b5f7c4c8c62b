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
Then the walkthrough checks: range errors name the flag, a song in two sets
of the split is an error, unwritable outputs fail before any work, per-song r
skips (and counts) songs without variance and never prints nan, the time
limit says so, audio in .aiff/.au/.caf/.w64 is found, and trained_on holds
absolute paths.

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


def metadata(path):
    """The __metadata__ of a safetensors file."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def walkthrough_checks(exe, work, data, split, model):
    """Problems a user walkthrough found: flag names in range errors, songs in
    two sets, unwritable outputs found late, nan in per-song r, a silent time
    limit, audio extensions, relative paths in the provenance."""
    import json
    quick = ["--threads", "2", "--epochs", "1", "--patience", "0"]

    # 1. every numeric flag names itself in a range error (not the value)
    bad_values = {"n-mels": "0", "seq-len": "0", "batch": "300", "epochs": "-1",
                  "patience": "-1", "time-limit": "-1", "lr": "-1", "dropout": "1",
                  "dropout-conv": "1", "dropout-gru": "1", "l1": "-1", "l2": "-1",
                  "act-l1": "-1", "act-l2": "-1", "filters": "0", "dense": "0", "gru": "0",
                  "maxout-k": "0", "seed": "-1", "threads": "0"}
    for flag, value in bad_values.items():
        for args in (["--" + flag, value], ["--%s=%s" % (flag, value)]):
            r = run([exe, "train", "--data", data, "--out", os.path.join(work, "never.safetensors")]
                    + args)
            check(r.returncode == 2 and ("--%s: '%s'" % (flag, value)) in r.stderr,
                  "range error for %s names the flag: %r" % (" ".join(args), r.stderr))
    r = run([exe, "train", "--data", data, "--out", "x.safetensors", "--batch", "2.5"])
    check(r.returncode == 2 and "--batch: '2.5' is not an integer" in r.stderr,
          "integer flag rejects 2.5: " + r.stderr)

    # 2. a song in two sets is an error naming the split file, the id and both sets
    def split_run(text, cmd="train"):
        sp = os.path.join(work, "overlap.split")
        with open(sp, "w") as f:
            f.write(text)
        args = [exe, cmd, "--data", data, "--split", sp, "--threads", "2"]
        if cmd == "train":
            return run(args + ["--out", os.path.join(work, "overlap.safetensors"), "--quiet"]
                       + quick)
        return run(args + ["--model", model])
    for text, sid, sets in (("train 2-10\nval 5\ntest 2001-2004\n", "5", ("train", "val")),
                            ("train 1 3 5\nval 15\ntest 5\n", "5", ("train", "test")),
                            ("train 1-14\nval 14-18\ntest 2001-2004\n", "14", ("train", "val")),
                            ("train 1-14 999\nval 15-18 999\n", "999", ("train", "val"))):
        for cmd in ("train", "eval"):
            r = split_run(text, cmd)
            msg = r.stderr
            check(r.returncode == 1 and "overlap.split" in msg and ("song %s " % sid) in msg
                  and all(("%s (line " % x) in msg for x in sets),
                  "%s: song %s in two sets reported: %r" % (cmd, sid, msg))
    check(not os.path.exists(os.path.join(work, "overlap.safetensors")), "no output after overlap")
    # ranges that overlap only on ids absent from the CSVs are fine
    r = split_run("train 1-14 100-200\nval 15-18 150-300\ntest 2001-2004\n")
    check(r.returncode == 0, "ranges overlapping outside the CSVs accepted: " + r.stderr)

    # 3. unwritable --out, --last, --state: fail at once, before any features
    probe_cache = os.path.join(work, "probe.cache")
    missing = os.path.join(work, "no-such-dir")
    for flag in ("--out", "--last", "--state"):
        target = os.path.join(missing, "x" + flag[2:])
        args = [exe, "train", "--data", data, "--cache", probe_cache, "--quiet"] + quick
        if flag != "--out":
            args += ["--out", os.path.join(work, "w3.safetensors")]
        r = run(args + [flag, target])
        check(r.returncode == 1 and target in r.stderr and flag in r.stderr,
              "unwritable %s named: %r" % (flag, r.stderr))
        check(not os.path.exists(probe_cache), "%s checked before feature extraction" % flag)
    r = run([exe, "train", "--data", data, "--cache", probe_cache, "--quiet", "--out", work] + quick)
    check(r.returncode == 1 and "is a directory" in r.stderr, "--out a folder: " + r.stderr)
    check(not os.path.exists(probe_cache), "--out a folder checked first")
    # ... while an unwritable cache is only a warning (at startup)
    cache3 = os.path.join(missing, "c.cache")
    r = run([exe, "eval", "--data", data, "--split", split, "--model", model, "--cache", cache3])
    check(r.returncode == 0 and "warning" in r.stderr and cache3 in r.stderr
          and r.stderr.count("warning") == 1,
          "unwritable cache: one warning, eval runs: " + r.stderr)

    # 4. songs without variance: skipped from the per-song r and counted, never nan
    ref = {}
    for name in ("arousal.csv", "valence.csv"):
        with open(os.path.join(data, name)) as f:
            ref[name] = f.read().splitlines()
    def const_csv(ids):
        path = os.path.join(work, "const-arousal.csv")
        with open(path, "w") as f:
            for i, line in enumerate(ref["arousal.csv"]):
                c = line.split(",")
                if i and c[0] in ids:
                    c = [c[0]] + ["0.2500" if x else "" for x in c[1:]]
                f.write(",".join(c) + "\n")
        return path
    ev = [exe, "eval", "--data", data, "--split", split, "--model", model, "--threads", "2"]
    r = run(ev + ["--arousal", const_csv({"2001", "2002"})])
    print(r.stdout)
    arow = [l for l in r.stdout.splitlines() if l.strip().startswith("arousal")]
    check(r.returncode == 0 and arow and "(2 songs without variance skipped)" in arow[0]
          and "nan" not in r.stdout, "two constant songs skipped and counted: " + r.stdout)
    m = parse_eval(r.stdout)
    check("arousal" in m and m["arousal"][1] == m["arousal"][1], "overall r still defined")
    r = run(ev + ["--arousal", const_csv({"2001", "2002", "2003", "2004"})])
    print(r.stdout)
    arow = [l for l in r.stdout.splitlines() if l.strip().startswith("arousal")]
    check(r.returncode == 0 and arow and arow[0].count("n/a") == 2
          and "(4 songs without variance skipped)" in arow[0] and "nan" not in r.stdout,
          "all songs constant: n/a, not nan: " + r.stdout)
    # the training log and the metadata: n/a and null, not nan
    cout = os.path.join(work, "const.safetensors")
    r = run([exe, "train", "--data", data, "--split", split, "--out", cout,
             "--arousal", const_csv({"15", "16", "17", "18"})] + quick)
    check(r.returncode == 0 and "r A n/a" in r.stderr and "nan" not in r.stderr,
          "training log says n/a: " + r.stderr)
    if os.path.exists(cout):
        text = metadata(cout).get("metrics", "")
        try:
            met = json.loads(text)
        except ValueError:
            met = {}
        check(met.get("val_r_arousal", 0) is None and met.get("val_r_valence") is not None,
              "metrics is JSON with null for an undefined r: " + text)

    # 5. the time limit says so (unless --quiet)
    tl = [exe, "train", "--data", data, "--split", split, "--out",
          os.path.join(work, "tl.safetensors"), "--threads", "2", "--epochs", "1000",
          "--patience", "0", "--time-limit", "0.001"]
    r = run(tl)
    check(r.returncode == 0 and "time limit of 0.001 s reached in epoch 1" in r.stderr,
          "time limit reported: " + r.stderr)
    r = run(tl + ["--quiet"])
    check(r.returncode == 0 and r.stderr == "", "--quiet: no time-limit line: " + r.stderr)

    # 6. audio extensions beyond .mp3/.wav/.flac/.ogg (as docs/training.md lists)
    if shutil.which("sox"):
        ext = os.path.join(work, "ext")
        shutil.copytree(data, ext)
        for sid, e in ((2001, "aiff"), (2002, "au"), (2003, "caf"), (2004, "w64")):
            src = [f for f in os.listdir(ext) if f.startswith("%d." % sid)][0]
            subprocess.run(["sox", os.path.join(ext, src), os.path.join(ext, "%d.%s" % (sid, e))],
                           check=True)
            os.remove(os.path.join(ext, src))
        r = run([exe, "eval", "--data", ext, "--split", split, "--model", model, "--no-cache"])
        m2 = parse_eval(r.stdout)
        check(r.returncode == 0 and "4 songs" in r.stdout, ".aiff .au .caf .w64 found: " + r.stderr)
        # the same audio, so the same figures as the original files
        r0 = run([exe, "eval", "--data", data, "--split", split, "--model", model])
        check(m2 and m2 == parse_eval(r0.stdout), "same figures from the converted files")

    # 7. provenance: absolute paths even when typed relative
    rel = os.path.join(work, "rel.safetensors")
    r = run([exe, "train", "--data", os.path.relpath(data, work), "--split",
             os.path.relpath(split, work), "--out", "rel.safetensors", "--quiet"] + quick,
            cwd=work)
    check(r.returncode == 0, "train with relative paths: " + r.stderr)
    if os.path.exists(rel):
        on = metadata(rel).get("trained_on", "")
        print("trained_on:", on)
        want = [os.path.realpath(p) for p in (data, os.path.join(data, "arousal.csv"),
                                              os.path.join(data, "valence.csv"), split)]
        check(on.startswith("/") and all(w in on for w in want)
              and " deam/" not in on and "(audio deam" not in on,
              "trained_on has absolute paths: " + on)


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
    exe, work = os.path.abspath(sys.argv[1]), sys.argv[2]
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

    walkthrough_checks(exe, work, data, split, out)

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
