"""valar analyze at library scale, end to end on generated audio.

Usage: test_library.py VALAR_EXE WORK_DIR

-j N against single-file runs, per-file failures, --summary against the
per-segment rows, JSON Lines, -r walks (symbolic link loops, audio by
content or extension), --files-from with odd names, --resume after SIGKILL
and SIGINT, the progress bar on a terminal, and the GNU parallel recipe of
docs/analyze.md. Predicted values are never hard-coded (the models are
placeholders): every check compares valar with valar or with arithmetic.
"""
import csv
import io
import json
import math
import os
import pty
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

VALAR, WORK = sys.argv[1:3]
sys.path.insert(0, os.path.join(os.environ["VALAR_SRC"], "tests", "common"))
from testutil import check, failures, write_wav  # noqa: E402


def run(*args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 300)
    return subprocess.run([VALAR, "analyze", *args], **kw)


def out(r):
    return r.stdout.decode()


def err(r):
    return r.stderr.decode(errors="replace").strip()


def music(seconds, rate, channels, seed):
    """A chord whose loudness and register drift, plus noise bursts: the
    placeholder model's outputs move through several quadrants."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 + 0.5 * np.sin(2 * math.pi * (0.1 + 0.05 * seed) * t)
    f0 = 110 * 2 ** (seed % 5 / 2)
    tone = sum(np.sin(2 * math.pi * f0 * k * t) / k for k in (1, 2, 3, 5))
    noise = rng.standard_normal(t.size) * (np.sin(2 * math.pi * 0.3 * t) > 0.5)
    x = 0.3 * env * tone + 0.2 * noise * env
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)], axis=1)


def make(path, seconds, rate, channels, seed):
    """WAV directly; FLAC/OGG through sox, MP3 through lame."""
    ext = os.path.splitext(path)[1].lower()
    wav = path if ext == ".wav" else path + ".tmp.wav"
    write_wav(wav, music(seconds, rate, channels, seed), rate)
    if ext in (".flac", ".ogg"):
        subprocess.run(["sox", wav, "-t", ext[1:], path], check=True, timeout=60)
    elif ext == ".mp3":
        subprocess.run(["lame", "--quiet", "-b", "128", wav, path], check=True, timeout=60)
    if wav != path:
        os.remove(wav)


def csv_rows(text):
    return list(csv.reader(io.StringIO(text)))


def jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line]


shutil.rmtree(WORK, ignore_errors=True)
lib = os.path.join(WORK, "lib")
os.makedirs(os.path.join(lib, "b", "c"))
names = [  # (relative path, seconds, rate, channels)
    ("a/one.wav", 6.2, 44100, 2),
    ("a/two.flac", 4.0, 48000, 1),
    ("a/three.mp3", 5.0, 44100, 2),
    ("b/four.ogg", 3.6, 22050, 2),
    ("b/c/five.WAV", 7.1, 16000, 1),
    ("b/c/six.flac", 2.3, 32000, 2),
    ("b/c/short.wav", 0.3, 44100, 1),  # shorter than one segment: no rows
]
files = []
for k, (rel, sec, rate, ch) in enumerate(names):
    p = os.path.join(lib, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    make(p, sec, rate, ch, seed=k + 1)
    files.append(p)
good = files[:-1]  # those with rows

# 1. Ordered output equals the single-file runs exactly, at -j 1 and -j 2,
#    in CSV, JSON and JSON Lines, offline and streaming.
single = {}
for p in files:
    r = run("-q", p)
    single[p] = out(r).splitlines()[1:]
    check(r.returncode == 0, f"single run of {os.path.basename(p)} exits 0 ({err(r)})")
for model in ([], ["--streaming"]):
    tag = " ".join(model) or "offline"
    r1 = run("-q", "-j", "1", *model, *files)
    r2 = run("-q", "-j", "2", *model, *files)
    check(r1.returncode == 0 and r2.returncode == 0 and out(r1) == out(r2),
          f"{tag}: -j 2 output equals -j 1 byte for byte ({err(r2)})")
    if model:
        continue
    rows = csv_rows(out(r2))
    check(rows[0] == ["file", "time_s", "arousal", "valence"], "several files: a file column")
    per = {p: [",".join(row[1:]) for row in rows[1:] if row[0] == p] for p in files}
    check(all(per[p] == single[p] for p in files),
          "each file's rows in the -j 2 output are exactly its single-file run's rows")
    check([row[0] for row in rows[1:]] == sum([[p] * len(single[p]) for p in files], []),
          "files come in input order")
rj = run("-q", "-j", "2", "-f", "json", *files)
doc = json.loads(out(rj))
rl = run("-q", "-j", "2", "-f", "jsonl", *files)
lines = jsonl(out(rl))
check(doc["files"] == lines, "every JSON Lines line equals the JSON document's file object")
check([o["file"] for o in lines] == files, "JSON Lines in input order")
check(all([f"{f['time_s']:.1f},{f['arousal']:.6f},{f['valence']:.6f}" for f in o["frames"]]
          == single[o["file"]] for o in lines), "JSON frames equal the single-file CSV rows")
check(all(o["size"] == os.path.getsize(o["file"]) and o["mtime"].endswith("Z") for o in lines),
      "each object carries the file's size and modification time")
ru = run("-q", "-j", "2", "--unordered", "-f", "jsonl", *files)
check(ru.returncode == 0 and sorted(out(ru).splitlines()) == sorted(out(rl).splitlines()),
      "--unordered: the same lines, in any order")

# 2. Summaries agree with the per-segment rows they summarise.
rs = run("-q", "-j", "2", "--summary", "-f", "jsonl", *files)
summ = {o["file"]: o for o in jsonl(out(rs))}
moods = {1: "happy", 2: "tense", 3: "sad", 4: "calm"}
for o in lines:
    s = summ[o["file"]]
    name = os.path.basename(o["file"])
    a = np.array([f["arousal"] for f in o["frames"]])
    v = np.array([f["valence"] for f in o["frames"]])
    check(s["duration_s"] == o["duration_s"] and s["segments"] == len(a),
          f"{name}: summary duration and segment count ({s['segments']})")
    if not len(a):
        check(all(s[k] is None for k in ("arousal_mean", "valence_sd", "quadrant", "mood",
                                         "share_q1")),
              f"{name}: shorter than a segment: statistics are null")
        continue
    check(max(abs(s["arousal_mean"] - a.mean()), abs(s["arousal_sd"] - a.std()),
              abs(s["valence_mean"] - v.mean()), abs(s["valence_sd"] - v.std())) < 2e-6,
          f"{name}: mean and sd equal those of the rows")
    q = np.where(a >= 0, np.where(v >= 0, 1, 2), np.where(v >= 0, 4, 3))
    # A printed 0.000000 may be a tiny value of either sign: those may differ.
    unsure = int(np.sum((np.abs(a) < 1e-6) | (np.abs(v) < 1e-6)))
    shares = [np.mean(q == k) for k in (1, 2, 3, 4)]
    diff = max(abs(s[f"share_q{k}"] - shares[k - 1]) for k in (1, 2, 3, 4))
    check(diff <= unsure / len(a) + 1e-6 and abs(sum(shares) - 1) < 1e-9,
          f"{name}: quadrant shares equal the rows' ({[round(x, 3) for x in shares]})")
    best = max(range(4), key=lambda k: (s[f"share_q{k + 1}"], -k)) + 1
    check(s["quadrant"] == best and s["mood"] == moods[best],
          f"{name}: dominant quadrant {s['quadrant']} ({s['mood']}) has the largest share")
check(len({s["quadrant"] for s in summ.values() if s["quadrant"]}) >= 1, "quadrants reported")
dur = {p: sec for p, (_, sec, *_r) in zip(files, names)}
check(all(abs(summ[p]["duration_s"] - dur[p]) < (0.06 if p.endswith(".mp3") else 1e-3)
          for p in files), "duration_s is the audio's length")
rc = run("-q", "--summary", *files)
rows = csv_rows(out(rc))
head = rows[0]
check(head == ["file", "duration_s", "segments", "arousal_mean", "arousal_sd", "valence_mean",
               "valence_sd", "quadrant", "mood", "share_q1", "share_q2", "share_q3",
               "share_q4"], f"CSV summary header ({head})")
same = True
for row in rows[1:]:
    s = summ[row[0]]
    for k, cell in zip(head[1:], row[1:]):
        want = s[k]
        same &= (cell == "" if want is None else
                 (cell == want if isinstance(want, str) else float(cell) == want))
check(len(rows) == 1 + len(files) and same, "CSV summary rows equal the JSON Lines summaries")

# 3. A corrupt file among good ones: reported (file + reason), counted, the
#    rest complete; exit status 1.
junk = os.path.join(WORK, "junk.flac")
with open(junk, "wb") as f:
    f.write(b"fLaC" + bytes(range(256)) * 40)  # a FLAC signature, then garbage
notaudio = os.path.join(WORK, "notes.wav")
with open(notaudio, "w") as f:
    f.write("not audio\n" * 100)
mixed = [good[0], junk, good[1], notaudio, good[2]]
for fmt in ("csv", "jsonl"):
    r = run("-j", "2", "-f", fmt, *mixed)
    e = err(r)
    okrows = (csv_rows(out(r))[1:] if fmt == "csv" else jsonl(out(r)))
    if fmt == "csv":
        complete = all([",".join(x[1:]) for x in okrows if x[0] == p] == single[p]
                       for p in mixed if p in single)
        seen = {x[0] for x in okrows}
    else:
        complete = all([f"{f['time_s']:.1f},{f['arousal']:.6f},{f['valence']:.6f}"
                        for f in o["frames"]] == single[o["file"]] for o in okrows)
        seen = {o["file"] for o in okrows}
    check(r.returncode == 1 and f"{junk}:" in e and f"{notaudio}:" in e
          and "2 of 5 files failed" in e, f"{fmt}: two corrupt files named and counted ({e})")
    check(complete and seen == {good[0], good[1], good[2]},
          f"{fmt}: the three good files are complete")
outp = os.path.join(WORK, "out", "mixed.csv")
os.makedirs(os.path.dirname(outp), exist_ok=True)
r = run("-q", "--summary", "-o", outp, *mixed)
with open(outp) as f:
    got = [row[0] for row in csv_rows(f.read())[1:]]
check(r.returncode == 1 and got == [good[0], good[1], good[2]]
      and os.listdir(os.path.dirname(outp)) == ["mixed.csv"],
      "-o with failures: the good files' summaries, no temp file")

# 4. --files-from - with odd names (spaces, quotes, UTF-8, commas, a leading
#    dash, backslash, trailing space); also -0 (NUL separated).
odd = os.path.join(WORK, "odd")
os.makedirs(odd)
odd_names = ["with space.wav", "it's \"quoted\".flac", "ünïcødé 音楽 — ok.ogg",
             "comma,semi;colon.wav", "-leading-dash.wav", "back\\slash.mp3", "trailing .wav"]
odd_files = []
for k, n in enumerate(odd_names):
    p = os.path.join(odd, n)
    make(p, 2.5, 44100, 2, seed=20 + k)
    odd_files.append(p)
listing = "".join(p + "\n" for p in odd_files).encode()
rf = run("-q", "-j", "2", "--summary", "-f", "jsonl", "--files-from", "-", input=listing)
r = rf
got = jsonl(out(r))
check(r.returncode == 0 and [o["file"] for o in got] == odd_files,
      f"--files-from -: every odd name exactly, in order ({err(r)})")
ref = [json.loads(out(run("-q", "--summary", "-f", "jsonl", p)).splitlines()[0]) for p in
       odd_files if not os.path.basename(p).startswith("-")]
check([o for o in got if not os.path.basename(o["file"]).startswith("-")] == ref,
      "their summaries equal those of runs on each file alone")
r = run("-q", "--summary", "--files-from", "-", input=listing)
check([row[0] for row in csv_rows(out(r))[1:]] == odd_files, "odd names survive CSV quoting")
r0 = run("-q", "-0", "--summary", "-f", "jsonl", "--files-from", "-",
         input="".join(p + "\0" for p in odd_files).encode())
check(r0.returncode == 0 and out(r0) == out(rf), "-0: NUL-separated list, same output")
lst = os.path.join(WORK, "list.txt")
with open(lst, "wb") as f:
    f.write(listing + b"\n\n")
r = run("-q", "--summary", "-f", "jsonl", "--files-from", lst)
check(r.returncode == 0 and out(r) == out(r0), "--files-from FILE, blank lines ignored")

# 5. Directory walks: audio by extension or content, hidden entries and
#    non-audio skipped, symbolic link loops terminate, each file once.
walk = os.path.join(WORK, "walk")
os.makedirs(os.path.join(walk, "x", "y"))
os.makedirs(os.path.join(walk, ".hidden"))
shutil.copy(good[0], os.path.join(walk, "x", "a.wav"))
shutil.copy(good[1], os.path.join(walk, "x", "y", "no-extension"))  # FLAC by content
shutil.copy(good[2], os.path.join(walk, "x", "y", "b.MP3"))
shutil.copy(good[0], os.path.join(walk, ".hidden", "c.wav"))
with open(os.path.join(walk, "x", "cover.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0" + b"\0" * 100)
with open(os.path.join(walk, "x", "song.m4a"), "wb") as f:
    f.write(b"\0\0\0\x20ftypM4A " + b"\0" * 100)
os.symlink("..", os.path.join(walk, "x", "y", "up"))          # loop to the parent
os.symlink(".", os.path.join(walk, "x", "self"))              # loop to itself
os.symlink(os.path.join(walk, "x"), os.path.join(walk, "x", "y", "abs"))  # absolute loop
os.symlink("missing.wav", os.path.join(walk, "x", "dangling.wav"))
t0 = time.monotonic()
r = run("-r", "--list", walk, timeout=60)
listed = out(r).splitlines()
want = [os.path.join(walk, "x", "a.wav"), os.path.join(walk, "x", "y", "b.MP3"),
        os.path.join(walk, "x", "y", "no-extension")]
check(r.returncode == 0 and listed == want,
      f"-r walk through three symbolic link loops ends in {time.monotonic() - t0:.2f} s "
      f"and lists each audio file once, in name order ({listed})")
e = err(r)
check("dangling.wav: broken symbolic link" in e and "symbolic link loop" in e
      and "1 file skipped in formats libsndfile cannot read (.m4a)" in e,
      f"walk notes: broken link, loop, unsupported format ({e})")
r = run("-q", "-r", "--summary", "-f", "jsonl", walk)
check(r.returncode == 0 and [o["file"] for o in jsonl(out(r))] == want, "-r analyses them")
r = run("-q", os.path.join(walk, "x"))
check(r.returncode == 1 and "is a directory" in err(r), "a directory without -r is an error")
r = run("-q", "-r", "--list", os.path.join(walk, ".hidden"))
check(out(r).splitlines() == [os.path.join(walk, ".hidden", "c.wav")],
      "a hidden directory named on the command line is walked")

# 6. --resume after SIGKILL in the middle of a run: whole lines only, and a
#    second run completes with every file exactly once.
big = os.path.join(WORK, "big")
os.makedirs(big)
nbig = 48
for k in range(nbig):
    write_wav(os.path.join(big, f"t{k:02d}.wav"), music(8.0, 22050, 1, seed=40 + k), 22050)
full = run("-q", "-j", "2", "-r", "--summary", "-f", "jsonl", big)
want_lines = sorted(out(full).splitlines())
check(full.returncode == 0 and len(want_lines) == nbig, "reference run of the big folder")


def run_until_lines(args, nlines, path, sig):
    """Start valar, send sig once path holds nlines lines; (lines then, rc)."""
    p = subprocess.Popen([VALAR, "analyze", *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    seen = 0
    t_end = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < t_end:
        if os.path.exists(path):
            with open(path, "rb") as f:
                seen = f.read().count(b"\n")
        if seen >= nlines:
            p.send_signal(sig)
            break
        time.sleep(0.002)
    _, e = p.communicate(timeout=120)
    return seen, p.returncode, e.decode(errors="replace")


res = os.path.join(WORK, "resume.jsonl")
at, rc, _ = run_until_lines(["-q", "-j", "2", "-r", "--summary", "--resume", res, big], 3, res,
                            signal.SIGKILL)
with open(res, "rb") as f:
    data = f.read()
whole = data.split(b"\n")[:-1]
check(rc == -signal.SIGKILL and 3 <= at < nbig and len(whole) < nbig,
      f"SIGKILL after {at} lines: killed with {len(whole)} of {nbig} files written")
check(all(json.loads(x) for x in whole), "every complete line is a whole JSON object")
if not data.endswith(b"\n"):
    print(f"note: the kill left a torn last line ({len(data) - data.rfind(10) - 1} bytes)")
r = run("-j", "2", "-r", "--summary", "--resume", res, big)
with open(res) as f:
    after = f.read()
check(r.returncode == 0 and f"files already done, {nbig - len(whole)} to go" in err(r),
      f"--resume skips what is done ({err(r)})")
check(after.endswith("\n") and sorted(after.splitlines()) == want_lines,
      "after --resume: every file exactly once, lines equal to an uninterrupted run")
r = run("-q", "-r", "--summary", "--resume", res, big)
with open(res) as f:
    check(r.returncode == 0 and f.read() == after, "--resume of a complete file adds nothing")

# A torn last line (as a kill in mid-write would leave) is dropped, then the
# file is done again (a blank line is fine); a file modified since is
# analysed again.
with open(res, "w") as f:
    f.write("".join(line + "\n" for line in want_lines[:10]) + "\n" + want_lines[10][:37])
r = run("-j", "1", "-r", "--summary", "--resume", res, big)
with open(res) as f:
    after = f.read()
check(r.returncode == 0 and "dropped an incomplete last line (37 bytes)" in err(r)
      and sorted(x for x in after.splitlines() if x) == want_lines,
      f"a torn last line is dropped and its file done again ({err(r).splitlines()[-1]})")
touched = os.path.join(big, "t05.wav")
os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))
r = run("-q", "-r", "--summary", "--resume", res, big)
with open(res) as f:
    lines2 = jsonl(f.read())
check(len(lines2) == nbig + 1 and lines2[-1]["file"] == touched,
      "a file whose modification time changed is analysed again")
# SIGINT: the files in flight are finished, lines stay whole, exit by the signal.
res2 = os.path.join(WORK, "resume-int.jsonl")
at, rc, e = run_until_lines(["-j", "2", "-r", "--resume", res2, big], 2, res2, signal.SIGINT)
with open(res2) as f:
    part = f.read()
check(rc == -signal.SIGINT and part.endswith("\n") and "finishing the files in flight" in e
      and "--resume" in e and len(part.splitlines()) < nbig,
      f"SIGINT: stops after the files in flight, whole lines ({len(part.splitlines())})")
r = run("-q", "-j", "2", "-r", "--resume", res2, big)
with open(res2) as f:
    per_seg = jsonl(f.read())
check(r.returncode == 0 and sorted(o["file"] for o in per_seg) == sorted(
    os.path.join(big, n) for n in os.listdir(big)), "per-segment --resume completes once each")
r = run("-q", "-r", "--summary", "--resume", res2, big)
check(r.returncode == 1 and "per-segment lines" in err(r) and "--summary" in err(r),
      f"--summary onto a per-segment file is refused ({err(r)})")
bad = os.path.join(WORK, "bad.jsonl")
with open(bad, "w") as f:
    f.write('{"file": "x", "segments": 1}\nnot json\n')
r = run("-q", "--summary", "--resume", bad, big)
check(r.returncode == 1 and f"{bad}: line 2" in err(r), f"a foreign line is refused ({err(r)})")
# SIGTERM with an atomic -o, once its temporary file has data: no output and
# no temporary file left.
tdir = os.path.join(WORK, "term")
os.makedirs(tdir)
p = subprocess.Popen([VALAR, "analyze", "-q", "-j", "1", "-o", os.path.join(tdir, "o.csv"), "-r",
                      big], stderr=subprocess.DEVNULL)
t_end = time.monotonic() + 120
while p.poll() is None and time.monotonic() < t_end:
    if any(os.path.getsize(os.path.join(tdir, n)) > 0 for n in os.listdir(tdir)):
        p.send_signal(signal.SIGTERM)
        break
    time.sleep(0.002)
p.wait(timeout=120)
check(p.returncode == -signal.SIGTERM and os.listdir(tdir) == [],
      f"SIGTERM with -o: no output, no temporary file ({p.returncode}, {os.listdir(tdir)})")

# 7. Progress bar: on a terminal only.
m, s = pty.openpty()
p = subprocess.Popen([VALAR, "analyze", "-j", "2", "--summary", "-r", big], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=s)
os.close(s)
tty = b""
while True:
    try:
        d = os.read(m, 4096)
    except OSError:
        break
    if not d:
        break
    tty += d
p.wait(timeout=120)
os.close(m)
tty = tty.decode(errors="replace")
check(p.returncode == 0 and f"/{nbig} files" in tty and "files/s" in tty and "\r" in tty
      and f"valar: {nbig} files," in tty and "real time" in tty,
      "on a terminal: a progress bar, then the totals")
r = run("-j", "2", "--summary", "-r", big)
check("files/s" not in err(r) and "\r" not in err(r), "stderr not a terminal: no bar")

# 8. Usage errors name the flag.
for args, needle in [(["-j", "0", files[0]], "-j: '0'"), (["--resume", res, "-o", "x", big],
                     "--resume"), (["-f", "xml", files[0]], "unknown format"),
                     (["--files-from", "-", "-"], "'-'")]:
    r = run(*args)
    check(r.returncode == 2 and needle in err(r), f"usage error {args[:2]}: {err(r)[:80]}")
r = run("--files-from", os.path.join(WORK, "no-such-list"))
check(r.returncode == 1 and "no-such-list" in err(r), "a missing --files-from list: exit 1")
r = run("-r", os.path.join(walk, "x", "y", "up", "y", "up", "no-such"))
check(r.returncode == 1, "a missing path under -r is a failed file")

# 9. The GNU parallel recipe of docs/analyze.md, locally (-S : is this machine; other
#    hosts would be listed the same way): split the list, merge the lines.
par = shutil.which("parallel")
check(par is not None, "GNU parallel is installed (tools/install-deps.sh)")
if par:
    env = dict(os.environ, HOME=WORK)  # parallel keeps its state in ~/.parallel
    merged = os.path.join(WORK, "merged.jsonl")
    want_lines = sorted(out(run("-q", "-r", "--summary", "-f", "jsonl", big)).splitlines())

    def recipe(listing, redirect):
        """valar's list, split by parallel over jobs that read --files-from -."""
        cmd = (f"'{VALAR}' analyze -q -r --summary --list {listing} '{big}' | parallel "
               f"--will-cite -S : --pipe -N 10 --line-buffer '{VALAR}' analyze -q -j 1 "
               f"--summary -f jsonl --files-from - {redirect} '{merged}'")
        r = subprocess.run(cmd, shell=True, env=env, capture_output=True, timeout=300)
        with open(merged) as f:
            return r, f.read().splitlines()

    r, got = recipe("", ">")
    check(r.returncode == 0 and sorted(got) == want_lines,
          f"parallel --pipe: the merged lines equal one valar run's ({err(r)[:200]})")
    with open(merged, "w") as f:  # as if a run had been cut short
        f.write("".join(x + "\n" for x in got[::3]))
    r, got = recipe(f"--resume '{merged}'", ">>")
    check(r.returncode == 0 and sorted(got) == want_lines,
          "parallel, resumed with --list --resume: every file exactly once")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
