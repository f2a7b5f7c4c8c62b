"""End-to-end tests of `valar analyze` and `valar info` on generated audio.

Usage: test_cli.py VALAR_EXE SRC_DIR WORK_DIR
Generates its own audio with numpy (+ lame for MP3), runs the real binary and
checks rows, timing, ranges, formats, atomic output and every malformed-model
case of tests/weights/malformed.py.
"""
import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

VALAR, SRC, WORK = sys.argv[1:4]
sys.path.insert(0, os.path.join(SRC, "tests", "weights"))
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
from testutil import check, failures, write_wav  # noqa: E402


def run(*args, **kw):
    return subprocess.run([VALAR, *args], capture_output=True, text=True, timeout=120, **kw)


def music(seconds, rate, channels, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 + 0.5 * np.sin(2 * math.pi * 0.25 * t)  # slow loudness swell
    tone = sum(np.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    x = 0.4 * env * tone + 0.05 * env * rng.standard_normal(t.size)
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)], axis=1)


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [[float(v) for v in r] for r in rows[1:]]


os.makedirs(WORK, exist_ok=True)

# 1. Mono 16 kHz WAV, 7.3 s -> 14 rows of 500 ms.
mono = os.path.join(WORK, "mono16k.wav")
write_wav(mono, music(7.3, 16000, 1), 16000)
r = run("analyze", "-q", mono)
check(r.returncode == 0, f"analyze mono 16 kHz WAV exits 0 ({r.stderr.strip()})")
head, rows = parse_csv(r.stdout)
check(head == ["time_s", "arousal", "valence"], "CSV header time_s,arousal,valence")
check(len(rows) == 14, f"7.3 s gives 14 rows (got {len(rows)})")
check([row[0] for row in rows] == [0.5 * k for k in range(len(rows))], "time_s steps by 0.5 from 0")
vals = np.array([row[1:] for row in rows])
check(np.all(np.isfinite(vals)) and np.all(np.abs(vals) <= 1), "values finite and in [-1, 1]")
check(np.ptp(vals[:, 0]) > 0 or np.ptp(vals[:, 1]) > 0, "predictions vary over time")

# 2. Stereo 48 kHz MP3 (lame), 6 s -> 12 rows (MP3 decoders may pad the end:
#    allow one extra segment).
stereo = os.path.join(WORK, "stereo48k.wav")
mp3 = os.path.join(WORK, "stereo48k.mp3")
write_wav(stereo, music(6.0, 48000, 2, seed=2), 48000)
subprocess.run(["lame", "--quiet", "-b", "192", stereo, mp3], check=True, timeout=60)
r = run("analyze", "-q", mp3)
check(r.returncode == 0, f"analyze stereo 48 kHz MP3 exits 0 ({r.stderr.strip()})")
_, rows_mp3 = parse_csv(r.stdout)
check(len(rows_mp3) in (12, 13), f"6 s MP3 gives 12 rows (got {len(rows_mp3)})")
r = run("analyze", "-q", stereo)
_, rows_wav = parse_csv(r.stdout)
check(len(rows_wav) == 12, f"6 s stereo WAV gives 12 rows (got {len(rows_wav)})")
d = np.abs(np.array(rows_mp3)[:12, 1:] - np.array(rows_wav)[:, 1:]).max()
check(d < 0.1, f"MP3 and WAV of the same audio agree (max diff {d:.4f})")

# 3. Streaming model: same row count; JSON equals CSV.
r = run("analyze", "-q", "--streaming", mono)
check(r.returncode == 0, f"analyze --streaming exits 0 ({r.stderr.strip()})")
_, rows_s = parse_csv(r.stdout)
check(len(rows_s) == 14, f"--streaming gives 14 rows (got {len(rows_s)})")
r = run("analyze", "-q", "--format", "json", mono)
j = json.loads(r.stdout)
fr = j["files"][0]["frames"]
check(len(fr) == 14 and all(abs(f["arousal"] - row[1]) < 1e-6 and abs(f["valence"] - row[2]) < 1e-6
                            for f, row in zip(fr, rows)), "JSON output equals CSV output")

# 3b. "-" reads standard input: WAV, MP3 and FLAC through a pipe (spooled to
#     a temporary file: libsndfile cannot seek a pipe) give the file's rows.
flac = os.path.join(WORK, "mono16k.flac")
subprocess.run(["sox", mono, flac], check=True, timeout=60)
for path, what in [(mono, "WAV"), (mp3, "MP3"), (flac, "FLAC")]:
    with open(path, "rb") as f:
        data = f.read()
    piped = subprocess.run([VALAR, "analyze", "-q", "-"], input=data, capture_output=True,
                           timeout=120)
    direct = run("analyze", "-q", path)
    check(piped.returncode == 0 and piped.stdout.decode() == direct.stdout,
          f"{what} through a pipe gives the file's rows ({piped.stderr.decode().strip()[:300]})")
piped = subprocess.run([VALAR, "analyze", "-q", "-"], input=b"not audio at all" * 100,
                       capture_output=True, timeout=120)
err = piped.stderr.decode()
check(piped.returncode == 1 and "standard input: cannot read audio" in err,
      f"junk through a pipe: exit 1 naming standard input ({err.strip()})")

# 4. Several files: a file column; DEAM wide format.
deam = os.path.join(WORK, "deam")
shutil.rmtree(deam, ignore_errors=True)
os.makedirs(deam)
long_wav = os.path.join(WORK, "2001.wav")
write_wav(long_wav, music(17.2, 22050, 1, seed=3), 22050)
r = run("analyze", "-q", "--deam", deam, long_wav, mono)
check(r.returncode == 0, "analyze two files with --deam exits 0")
head, *body = list(csv.reader(io.StringIO(r.stdout)))
check(head[0] == "file" and len(body) == 34 + 14, f"two files: file column, 48 rows (got {len(body)})")
with open(os.path.join(deam, "arousal.csv")) as f:
    arows = list(csv.reader(f))
check(arows[0][:3] == ["song_id", "sample_15000ms", "sample_15500ms"] and len(arows[0]) == 5,
      f"DEAM header from 15000 ms ({arows[0]})")
check(arows[1][0] == "2001" and arows[2][0] == "mono16k" and arows[2][1:] == [""] * (len(arows[0]) - 1),
      "DEAM rows: song ids, blank cells for the short song")
check(os.path.exists(os.path.join(deam, "valence.csv")), "DEAM valence.csv written")

# 5. -o is atomic: a failed run leaves neither the output nor a temp file.
out = os.path.join(WORK, "out", "result.csv")
os.makedirs(os.path.dirname(out), exist_ok=True)
r = run("analyze", "-q", "-o", out, mono)
check(r.returncode == 0 and os.path.exists(out), "-o writes the file")
os.remove(out)
r = run("analyze", "-q", "-o", out, mono, os.path.join(WORK, "missing.wav"))
check(r.returncode == 1 and "missing.wav" in r.stderr, f"missing input: exit 1 naming it ({r.stderr.strip()})")
with open(out) as f:
    body = f.read().splitlines()
check(len(body) == 1 + 14 and os.listdir(os.path.dirname(out)) == ["result.csv"],
      "one of two inputs missing: -o has the other file's rows, no temp file left")
os.remove(out)
r = run("analyze", "-q", "-o", out, os.path.join(WORK, "missing.wav"))
check(r.returncode == 1 and os.listdir(os.path.dirname(out)) == [],
      "every input failed: no output and no temp file left")

# 5b. An output that cannot be written fails before any analysis and leaves
#     an existing -o file as it was.
keep = os.path.join(WORK, "keep.csv")
with open(keep, "w") as f:
    f.write("keep\n")
nodir = os.path.join(WORK, "no-such-dir")
r = run("analyze", "-q", "-o", keep, "--deam", nodir, mono)
with open(keep) as f:
    kept = f.read() == "keep\n"
check(r.returncode == 1 and nodir in r.stderr and "not a writable directory" in r.stderr and kept
      and not r.stdout, f"--deam into a missing folder: exit 1 first, -o untouched ({r.stderr.strip()})")
r = run("analyze", "-q", "-o", os.path.join(nodir, "x.csv"), mono)
check(r.returncode == 1 and nodir in r.stderr and not r.stdout,
      f"-o into a missing folder: exit 1 naming it ({r.stderr.strip()})")

# 6. Not audio.
junk = os.path.join(WORK, "junk.wav")
with open(junk, "wb") as f:
    f.write(b"this is not audio" * 10)
r = run("analyze", "-q", junk)
check(r.returncode == 1 and "junk.wav" in r.stderr, f"junk audio: exit 1 naming it ({r.stderr.strip()})")
r = run("analyze")
check(r.returncode == 2, "no file: usage error exit 2")

r = run("analyze", "-q", WORK)
check(r.returncode == 1 and WORK in r.stderr and "is a directory" in r.stderr,
      f"a directory as input: exit 1 naming it ({r.stderr.strip()})")
r = run("info", "-h")
check(r.returncode == 0 and "usage: valar info" in r.stdout, "valar info -h prints usage")

# 7. Every malformed weight file: non-zero exit (not a crash) and a message
#    naming the file and the problem.
bad = os.path.join(WORK, "malformed")
shutil.rmtree(bad, ignore_errors=True)
os.makedirs(bad)
subprocess.run([sys.executable, os.path.join(SRC, "tests", "weights", "malformed.py"), bad],
               check=True, timeout=60)
n = 0
with open(os.path.join(bad, "cases.tsv")) as f:
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        name, code, needle = line.rstrip("\n").split("\t")[:3]
        path = os.path.join(bad, name)
        r = run("analyze", "-q", "--model", path, mono)
        n += 1
        check(r.returncode == 1 and name in r.stderr and needle in r.stderr,
              f"malformed {name}: exit {r.returncode}, {r.stderr.strip()!r} has {needle!r}")
check(n >= 10, f"{n} malformed cases run")

# 7b. A model whose metadata n_mels disagrees with its input.mean is refused
#     before any audio is read (the offline path once read frames with the
#     wrong stride, past the end of its buffer).
from safetensors import read_safetensors, write_safetensors  # noqa: E402

for kind in ("offline", "streaming"):
    t, meta = read_safetensors(os.path.join(SRC, "models", f"placeholder-{kind}.safetensors"))
    meta["n_mels"] = str(t["input.mean"].shape[0] // 2)
    p = os.path.join(WORK, f"nmels-{kind}.safetensors")
    write_safetensors(p, t, meta)
    r = run("analyze", "-q", *(["--streaming"] if kind == "streaming" else []), "--model", p, mono)
    check(r.returncode == 1 and p in r.stderr and "mel bands" in r.stderr,
          f"{kind} model with n_mels != input.mean: exit {r.returncode}, {r.stderr.strip()!r}")

# 8. info on the default models.
for kind in ("offline", "streaming"):
    p = os.path.join(SRC, "models", f"placeholder-{kind}.safetensors")
    r = run("info", p)
    check(r.returncode == 0 and f"kind = {kind}" in r.stdout and "parameters:" in r.stdout,
          f"valar info {kind}")

# 9. Default models: $VALAR_MODEL_DIR is the only place when set; there a
#    trained valar-<kind> beats placeholder-<kind>; none there is an error.
md = os.path.join(WORK, "modeldir")
shutil.rmtree(md, ignore_errors=True)
os.makedirs(md)
t, meta = read_safetensors(os.path.join(SRC, "models", "placeholder-offline.safetensors"))
write_safetensors(os.path.join(md, "placeholder-offline.safetensors"), t, meta)
meta.pop("placeholder")
write_safetensors(os.path.join(md, "valar-offline.safetensors"), t, meta)
env = dict(os.environ, VALAR_MODEL_DIR=md)
r = run("analyze", "-f", "json", mono, env=env)
check(r.returncode == 0 and json.loads(r.stdout)["model"] == os.path.join(md, "valar-offline.safetensors")
      and "placeholder" not in r.stderr, f"trained model in VALAR_MODEL_DIR wins ({r.stderr.strip()})")
r = run("analyze", "--streaming", mono, env=env)
check(r.returncode == 1 and "no default streaming model" in r.stderr and "VALAR_MODEL_DIR" in r.stderr,
      f"no streaming model in VALAR_MODEL_DIR: exit 1 ({r.stderr.strip()})")

# 10. A valar outside the build tree (as installed) ignores the checkout's
#     models/: it uses the installed ones or says where it looked.
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    exe = os.path.join(tmp, "valar")
    shutil.copy(VALAR, exe)
    env = {k: v for k, v in os.environ.items() if k != "VALAR_MODEL_DIR"}
    r = subprocess.run([exe, "analyze", "-f", "json", mono], capture_output=True, text=True,
                       timeout=120, env=env)
    src_models = os.path.join(SRC, "models")
    used = json.loads(r.stdout)["model"] if r.returncode == 0 else ""
    check((r.returncode == 0 and not used.startswith(src_models)) or
          (r.returncode == 1 and "no default offline model" in r.stderr and src_models not in r.stderr),
          f"valar outside the build tree does not use the source models ({used or r.stderr.strip()})")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
