#!/usr/bin/python3
"""Record what a build of valar outputs, to compare two builds bit for bit.

For refactors that must not change behaviour: run it on the build before and
the build after, then `diff -r` the two output folders (the same inputs are
used for both: make them once).

  tools/record-outputs.py inputs DIR [--4q DIR4Q]   generate the inputs once
  tools/record-outputs.py record BUILD DIR OUT      run BUILD's valar and
                                                    valar-train on them

Inputs: examples/demo.ogg; generated WAV (mono/stereo, 8 to 48 kHz, a file
shorter than a segment), FLAC, MP3 and Ogg (sox, lame); a fake DEAM folder
(as tests/train/test_deam.py makes it) and, with --4q, a few clips of the 4Q
dataset. Outputs: `valar analyze` (offline and --streaming; CSV, JSON, JSON
Lines, --summary, --deam, --plot), `valar info`, and valar-train: offline
and streaming/joint weights after a few epochs, `valar-train eval` and,
with the 4Q clips, `valar-train labels` and training on song-level labels.
Weight files are recorded as their tensor bytes and their metadata without
`created` (a timestamp) and the paths in `trained_on`/`training_args`.
Every command's exit status and stderr are recorded too.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import wave

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "common"))
sys.path.insert(0, os.path.join(REPO, "tests", "train"))


def music(rng, rate, seconds, channels):
    """Chords, noise bursts and a level that changes: every feature moves."""
    import numpy as np
    n = int(rate * seconds)
    t = np.arange(n) / rate
    f = 110 * 2 ** (rng.integers(0, 24, 8) / 12)
    x = sum(np.sin(2 * np.pi * f[k] * t + rng.uniform(0, 6)) for k in range(8)) / 8
    x *= 0.3 + 0.25 * np.sin(2 * np.pi * t / 7.0)
    x += 0.1 * rng.uniform(-1, 1, n) * (np.sin(2 * np.pi * t / 3.0) > 0.6)
    x[0] = 0.01  # a non-zero first sample
    if channels == 1:
        return x
    return np.stack([x, np.roll(x, 37) * 0.7], axis=1)


def make_inputs(d, q4):
    import numpy as np
    import test_deam
    from testutil import write_wav
    os.makedirs(os.path.join(d, "audio"), exist_ok=True)
    a = os.path.join(d, "audio")
    shutil.copy(os.path.join(REPO, "examples", "demo.ogg"), a)
    rng = np.random.default_rng(10)
    for name, rate, secs, ch in (("s44.wav", 44100, 23.3, 2), ("m48.wav", 48000, 12.3, 1),
                                 ("m8.wav", 8000, 9.1, 1), ("m22.wav", 22050, 31.0, 1),
                                 ("s96.wav", 96000, 6.2, 2), ("short.wav", 44100, 0.4, 1)):
        write_wav(os.path.join(a, name), music(rng, rate, secs, ch), rate)
    subprocess.run(["sox", os.path.join(a, "s44.wav"), os.path.join(a, "s44.flac")], check=True)
    subprocess.run(["sox", os.path.join(a, "m22.wav"), os.path.join(a, "m22.ogg")], check=True)
    subprocess.run(["lame", "--quiet", os.path.join(a, "m48.wav"), os.path.join(a, "m48.mp3")],
                   check=True)
    # fake DEAM, as the train-deam test makes it
    deam = os.path.join(d, "deam")
    os.makedirs(deam, exist_ok=True)
    ann = {}
    for i, sid in enumerate(list(range(1, 11)) + [2001, 2002]):
        x, ar, va = test_deam.synth(sid, 40 if i % 4 else 33)
        ann[sid] = (ar[30:], va[30:])
        test_deam.write_wav(os.path.join(deam, "%d.wav" % sid), x)
    test_deam.write_csvs(deam, ann)
    with open(os.path.join(d, "split.txt"), "w") as f:
        f.write("train 1-8\nval 9 10\ntest 2001 2002\n")
    if q4:
        clips = os.path.join(d, "q4audio")
        os.makedirs(clips, exist_ok=True)
        names = sorted(os.listdir(os.path.join(q4, "audio")))[:12]
        for nm in names:
            shutil.copy(os.path.join(q4, "audio", nm), clips)
        with open(os.path.join(d, "q4dir"), "w") as f:
            f.write(q4)


def weights_summary(path, out):
    """Tensor bytes and metadata, without what differs from run to run."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    md = hdr.pop("__metadata__", {})
    for k in ("created", "trained_on", "training_args"):
        md.pop(k, None)
    with open(out, "w") as f:
        json.dump({"metadata": md, "tensors": hdr}, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(out + ".data", "wb") as f:
        f.write(data)


def record(build, d, out):
    valar = os.path.join(build, "src", "valar")
    train = os.path.join(build, "src", "train", "valar-train")
    os.makedirs(out, exist_ok=True)
    a = os.path.join(d, "audio")
    env = dict(os.environ, VALAR_MODEL_DIR=os.path.join(REPO, "models"))
    log = open(os.path.join(out, "commands.txt"), "w")

    def run(name, args, cwd=None):
        r = subprocess.run(args, capture_output=True, env=env, cwd=cwd)
        for ext, text in ((".out", r.stdout), (".err", r.stderr)):
            with open(os.path.join(out, name + ext), "wb") as f:
                f.write(neutral(text))
        log.write("%s: exit %d: %s\n" % (name, r.returncode,
                                          neutral(" ".join(args[1:]).encode()).decode()))
        return r

    def neutral(b):
        """Without the paths of this run's folders, which differ between runs."""
        for path, word in ((out, b"OUT"), (d, b"IN"), (build, b"BUILD"), (REPO, b"REPO")):
            b = b.replace(path.encode(), word)
        return b

    files = sorted(os.path.join(a, f) for f in os.listdir(a))
    for f in files:
        b = os.path.basename(f)
        run("analyze-" + b, [valar, "analyze", f])
        run("analyze-s-" + b, [valar, "analyze", "--streaming", f])
    run("analyze-all-json", [valar, "analyze", "-f", "json", "-j", "2"] + files)
    run("analyze-all-jsonl-s", [valar, "analyze", "-s", "-f", "jsonl", "-j", "1"] + files)
    run("analyze-summary", [valar, "analyze", "--summary", "-r", a])
    deam = os.path.join(out, "deam-out")
    os.makedirs(deam, exist_ok=True)
    run("analyze-deam", [valar, "analyze", "-q", "--deam", deam, "--plot",
                         os.path.join(out, "plot.svg"), "-o", os.path.join(out, "o.csv")]
        + files)
    for m in ("placeholder-offline", "placeholder-streaming"):
        run("info-" + m, [valar, "info", os.path.join(REPO, "models", m + ".safetensors")])

    # valar-train on the fake DEAM folder, offline then streaming/joint
    work = os.path.join(out, "train")
    shutil.rmtree(work, ignore_errors=True)
    data = os.path.join(work, "deam")
    shutil.copytree(os.path.join(d, "deam"), data)
    split = os.path.join(d, "split.txt")
    base = [train, "train", "--data", data, "--split", split, "--threads", "2", "--quiet",
            "--lr", "0.01", "--patience", "0", "--seed", "3"]
    m1, m2 = os.path.join(work, "off.safetensors"), os.path.join(work, "str.safetensors")
    run("train-offline", base + ["--out", m1, "--epochs", "4", "--aug-gain", "3", "--crop",
                                 "--ema", "0.9"])
    run("train-streaming", base + ["--out", m2, "--epochs", "3", "--kind", "streaming",
                                   "--joint", "--seq-len", "20"])
    for m in (m1, m2, m1.replace(".safetensors", ".last.safetensors")):
        if os.path.exists(m):
            weights_summary(m, os.path.join(out, os.path.basename(m) + ".json"))
            run("analyze-trained-" + os.path.basename(m),
                [valar, "analyze", "-m", m, os.path.join(a, "s44.flac")])
    run("eval-offline", [train, "eval", "--data", data, "--split", split, "--model", m1,
                         "--threads", "2"])
    run("eval-streaming", [train, "eval", "--data", data, "--split", split, "--model", m2,
                           "--format", "json", "--set", "all"])
    q4f = os.path.join(d, "q4dir")
    if os.path.exists(q4f):
        q4 = open(q4f).read()
        clips = os.path.join(d, "q4audio")
        for f in sorted(os.listdir(clips))[:4]:
            run("analyze-4q-" + f, [valar, "analyze", os.path.join(clips, f)])
            run("analyze-4q-s-" + f, [valar, "analyze", "-s", os.path.join(clips, f)])
        labels = os.path.join(work, "labels.csv")
        run("labels-4q", [train, "labels", "--4q", q4, "--out", labels])
        if os.path.exists(labels):
            shutil.copy(labels, os.path.join(out, "labels.csv"))
            ids = [f.split(".")[0] for f in os.listdir(clips)]
            with open(labels) as f:
                rows = [ln for ln in f if ln.split(",")[0] in ids or ln.startswith("song_id")]
            sl = os.path.join(work, "labels-clips.csv")
            with open(sl, "w") as f:
                f.writelines(rows)
            m3 = os.path.join(work, "q4.safetensors")
            run("train-4q", [train, "train", "--labels", sl, "--audio", clips,
                             "--cache", os.path.join(work, "q4.cache"), "--out", m3,
                             "--threads", "2", "--quiet", "--epochs", "2", "--warmup", "5"])
            if os.path.exists(m3):
                weights_summary(m3, os.path.join(out, "q4.safetensors.json"))
    shutil.rmtree(work, ignore_errors=True)
    log.close()


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "inputs":
        q4 = sys.argv[sys.argv.index("--4q") + 1] if "--4q" in sys.argv else None
        make_inputs(os.path.abspath(sys.argv[2]), q4 and os.path.abspath(q4))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "record":
        record(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]),
               os.path.abspath(sys.argv[4]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
