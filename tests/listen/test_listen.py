"""End-to-end tests of `valar listen` against a real JACK server.

Usage: test_listen.py CHECK VALAR JPLAY JCTL ALLOC_SO WORK_DIR

Every check (except cli) starts its own `jackd --no-realtime -d dummy` on a
private server name (JACK_DEFAULT_SERVER for the clients, JACK_NO_START_SERVER
so nothing autostarts a server), and stops everything it started, clients
first, even when a check fails. Every JACK client it starts has a name no
other test uses at the same time (cn(): the check and our pid): while a
client opens, libjack binds a socket named after the client alone
(/dev/shm/jack_<client>_<uid>_0), so two "jplay"s opening at once on two
private servers took each other's socket, and both tests failed. jack_lsp,
jack_connect and jack_bufsize have fixed names: tests/common/jctl.c does
their jobs under a name of its own. The server runs in sync mode (-S): it waits
for every client each cycle, so on a loaded machine audio runs slower than
real time instead of a client missing a cycle.

Determinism: jplay (tests/listen/jplay.c) outputs silence until all its
outputs are connected, then plays the file from sample 0; valar listen --wait
starts its stream at the first non-zero sample, and every generated file has
a non-zero first sample. So valar hears exactly the file's samples, from
sample 0, in whatever period size, and its rows must be *identical* (same
text) to `valar analyze --streaming` on the file: the JACK path mixes
channels with the same float operations as the file reader and the feature
extractor is block-size independent. The files end 200 ms after their last
complete segment, so the resampler's end-of-file flush (analyze) and the
silence after the file (listen) touch no compared segment.

Checks:
  cli         --help, usage errors (exit 2), bad model / no server / no device (exit 1)
  equal-64, equal-256, equal-1024
              stereo file through JACK at that buffer size == analyze --streaming
  rate-8000, rate-192000
              the same with the server (and the file) at that sample rate
  bufsize     buffer size changed twice (jctl bufsize) while playing: still equal
  osc-midi    oscdump (UDP) gets /valar/arousal, /valar/valence, /valar/frame for
              every 500 ms of audio (frame times 0, 0.5, ...); jack_midi_dump gets
              CC 20/21 whose values are round((x+1)/2*127) of the OSC values;
              a mono file on in_1 alone == analyze
  options     --name, OSC over TCP, --osc-prefix, --osc-range 01, --midi-channel,
              --cc-*, --midi-14bit, --stdout=json; MIDI recorded by jplay, never
              before the audio it describes was played
  alloc       (plain build) LD_PRELOAD alloc_count: zero allocations and frees inside
              the JACK process callback (OSC, MIDI and stdout all on), and inside the
              PortAudio callback
  shutdown    jackd killed (SIGKILL, then SIGTERM): valar exits with status 3 and says so
  reconnect   --reconnect: waits for a server that is not there yet, survives its
              death, reconnects when it returns; both streams == analyze
  portaudio   --backend portaudio through PortAudio's JACK host API == analyze;
              --list-devices; auto falls back to PortAudio without a server
  bench       (not a test) callback cost per period, worker cost per hop, drops
"""
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.environ["VALAR_SRC"], "tests", "common"))
import testutil  # noqa: E402

CHECK, VALAR, JPLAY, JCTL, ALLOC_SO, WORK = sys.argv[1:7]
WORK = os.path.join(WORK, CHECK)
RATE = 48000
SEG = RATE // 2
failures = []
procs = []    # everything we started, in order
servers = []  # the jackd among them


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def info(what):
    print("     " + what, flush=True)


# --- processes ---------------------------------------------------------------

def cn(base):
    """A JACK client name unique on this machine while this test runs."""
    return f"{base}.{CHECK}.{os.getpid()}"


def base_env(server):
    env = dict(os.environ)
    env["JACK_DEFAULT_SERVER"] = server
    env["JACK_NO_START_SERVER"] = "1"
    return env


def spawn(args, tag, env, **kw):
    out = open(os.path.join(WORK, tag + ".out"), "w")
    err = open(os.path.join(WORK, tag + ".err"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, **kw)
    p.tag = tag
    procs.append(p)
    return p


def text(p, which="out"):
    try:
        with open(os.path.join(WORK, f"{p.tag}.{which}")) as f:
            return f.read()
    except OSError:
        return ""


def wait_until(pred, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def finish(p, sig=signal.SIGINT, timeout=15):
    """Stop p (if still running) with sig, then SIGKILL; returns its status."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    return p.returncode


def cleanup():
    # Clients first (SIGINT: they deactivate and close), then the servers:
    # a server stopping while a client deactivates can hang.
    for p in reversed(procs):
        if not getattr(p, "is_server", False):
            finish(p)
    for j in servers:
        j.stop()


class Jack:
    """A private jackd with the dummy driver."""

    def __init__(self, tag, period, name=None, start=True):
        self.name = name or f"vl-{tag}-{os.getpid()}"
        self.env = base_env(self.name)
        self.period = period
        self.proc = None
        servers.append(self)
        if start:
            self.start()

    def start(self):
        t0 = time.monotonic()
        while True:
            self.proc = spawn(["jackd", "-S", "--no-realtime", "-p", "32", "-t", "2000",
                               "-n", self.name, "-d", "dummy", "-r", str(RATE), "-p",
                               str(self.period)], f"jackd-{len(procs)}", self.env)
            self.proc.is_server = True
            ok = wait_until(lambda: self.proc.poll() is not None
                            or "system:capture_1" in self.ports(), 30)
            if ok and self.proc.poll() is None:
                return
            err = text(self.proc, "err")
            # JACK allows 8 servers per machine; other tests may hold the rest.
            if "Too many servers" in err and time.monotonic() - t0 < 120:
                time.sleep(1)
                continue
            raise RuntimeError(f"jackd {self.name} did not start: {err}")

    def ports(self):
        r = subprocess.run([JCTL, "lsp"], env=self.env, capture_output=True, text=True, timeout=20)
        return r.stdout.split("\n") if r.returncode == 0 else []

    def stop(self, sig=signal.SIGTERM):
        if not self.proc:
            return
        rc = finish(self.proc, sig, timeout=10)
        self.proc = None
        if rc is not None and rc < 0 and -rc != signal.SIGTERM:
            self.reclaim()
        self.remove_leftovers()

    def remove_leftovers(self):
        # Sockets and client semaphores a server stopped under its clients
        # leaves in /dev/shm; all carry the server name.
        for f in os.listdir("/dev/shm"):
            if f"_{self.name}_" in f:
                try:
                    os.unlink(os.path.join("/dev/shm", f))
                except OSError:
                    pass

    def reclaim(self):
        """A killed jackd leaves its name in JACK's shared server registry,
        which has only 8 slots for the whole machine. A new server of the
        same name takes the dead one's slot; stopping it cleanly frees it."""
        p = subprocess.Popen(["jackd", "--no-realtime", "-p", "32", "-n", self.name, "-d", "dummy",
                              "-r", str(RATE), "-p", str(self.period)], env=self.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: p.poll() is not None or "system:capture_1" in self.ports(), 20)
        finish(p, signal.SIGTERM, timeout=10)


def listen(jack, tag, *args, env=None):
    name = [] if "--name" in args else ["--name", cn("valar")]
    p = spawn([VALAR, "listen", *name, *args], tag, env or jack.env)
    return p


def wait_ready(p, timeout=60):
    """Until valar listen has its client up (or died)."""
    return wait_until(lambda: p.poll() is not None or "JACK client" in text(p, "err")
                      or "PortAudio input" in text(p, "err"), timeout) and p.poll() is None


def jplay(jack, wav, tag="jplay", *args):
    name = [] if "-n" in args else ["-n", cn("jplay")]
    p = spawn([JPLAY, *name, *args, wav], tag, jack.env)
    if not wait_until(lambda: p.poll() is not None or "ready" in text(p), 30):
        raise RuntimeError("jplay did not start: " + text(p, "err"))
    return p


def free_port(kind=socket.SOCK_DGRAM):
    """A port that was free a moment ago: someone else may take it before
    we use it (oscdump checks and retries)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dead_port():
    """A TCP port nobody listens on, for as long as the returned socket is
    open: bound but not listening, so connections are refused and no other
    process can take the port meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def socket_inodes(pid):
    """Inodes of the sockets process pid has open."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def holds_port(pid, port, tcp):
    """Does process pid have a socket bound to local port `port` (TCP
    listening, or UDP), on any address? Read from /proc/net, so that a port
    someone else took between free_port() and the bind does not count."""
    mine = socket_inodes(pid)
    for table in (["tcp", "tcp6"] if tcp else ["udp", "udp6"]):
        try:
            lines = open(f"/proc/net/{table}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if (int(f[1].rsplit(":", 1)[1], 16) == port and f[9] in mine
                    and (not tcp or f[3] == "0A")):  # 0A: LISTEN
                return True
    return False


def oscdump(tcp=False):
    """oscdump on a free port: (process, port). A port can be taken by
    another process between choosing it and oscdump's bind (tests run in
    parallel); oscdump then exits at once, and we try another port. A
    receiver that never starts is an error, not an empty result."""
    err = ""
    for attempt in range(10):
        port = free_port(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        url = f"osc.tcp://:{port}" if tcp else str(port)
        p = spawn(["oscdump", "-L", url], f"oscdump-{port}", dict(os.environ))
        wait_until(lambda: p.poll() is not None or holds_port(p.pid, port, tcp), 15)
        if p.poll() is None and holds_port(p.pid, port, tcp):
            return p, port
        finish(p)
        err = text(p, "err").strip()
        info(f"oscdump could not bind port {port} ({err}); trying another")
    raise RuntimeError(f"oscdump did not start in 10 attempts: {err}")


def osc_messages(out):
    """oscdump lines '<time> /path types v...' -> [(path, [floats])]."""
    msgs = []
    for line in out.splitlines():
        parts = line.split()
        for i, t in enumerate(parts):
            if t.startswith("/"):
                msgs.append((t, [float(v) for v in parts[i + 2:]]))
                break
    return msgs


# --- audio and reference results ---------------------------------------------

def write_wav(path, x):
    testutil.write_wav(path, x, RATE)


def music(seconds, channels, seed):
    """A chord with a loudness swell and noise; channels differ. The first
    sample is set non-zero: that is where valar listen --wait starts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * RATE))) / RATE
    env = 0.5 + 0.5 * np.sin(2 * math.pi * 0.4 * t)
    tone = sum(np.sin(2 * math.pi * f * t) for f in (196.0, 246.9, 293.7)) / 3
    chans = []
    for c in range(channels):
        x = 0.5 * env * tone * (1 - 0.3 * c) + 0.06 * env * rng.standard_normal(t.size)
        x[0] = 0.25
        chans.append(x)
    return np.stack(chans, axis=1)


def make_file(name, seconds, channels, seed):
    path = os.path.join(WORK, name)
    write_wav(path, music(seconds, channels, seed))
    return path


def analyze(path):
    r = subprocess.run([VALAR, "analyze", "-q", "--streaming", path], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("valar analyze failed: " + r.stderr)
    return r.stdout.strip().split("\n")[1:]


def csv_rows(out):
    lines = out.strip().split("\n")
    return lines[1:] if lines and lines[0] == "time_s,arousal,valence" else None


def fields(row):
    return [float(v) for v in row.split(",")]


def cc_ok(value, x, top):
    """value == round-half-up((x+1)/2*top); x came through 6-decimal text, so
    a value one step off is accepted only right at a rounding boundary."""
    exact = (x + 1) / 2 * top
    want = math.floor(exact + 0.5)
    if value == want:
        return True
    slack = 0.5e-6 * top / 2 + 1e-9
    return abs(exact - math.floor(exact) - 0.5) <= slack and abs(value - exact) < 0.5 + slack


def midi_lines(out):
    """'midi <frame> b0 b1 b2' lines of jplay -> [(frame, [bytes])]."""
    ev = []
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "midi":
            ev.append((int(p[1]), [int(b, 16) for b in p[2:]]))
    return ev


def jplay_frame(out, word):
    m = re.search(rf"^{word} (\d+)$", out, re.M)
    return int(m.group(1)) if m else None


# --- checks ------------------------------------------------------------------

def run_equal(period, stdout_fmt="csv", extra=()):
    """Stereo file through JACK at `period` == valar analyze --streaming."""
    jack = Jack(f"eq{period}", period)
    wav = make_file(f"stereo-{period}.wav", 3.7, 2, seed=period)
    ref = analyze(wav)
    v = listen(jack, "listen", "--wait", f"--stdout={stdout_fmt}", "--count", str(len(ref)),
               "--connect", cn("jplay"), "--no-osc", "--stats", *extra)
    check(wait_ready(v), f"valar listen is up at {period} frames ({text(v, 'err').strip()[-300:]})")
    pl = jplay(jack, wav)
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    err = text(v, "err")
    check(rc == 0, f"exits 0 after --count {len(ref)} results (rc {rc})")
    if stdout_fmt == "json":
        got = [json.loads(line) for line in text(v).strip().split("\n") if line]
        rows = [f"{g['time_s']:.1f},{g['arousal']:.6f},{g['valence']:.6f}" for g in got]
    else:
        rows = csv_rows(text(v))
    check(rows == ref, f"{RATE} Hz, {period} frames/period: {len(ref)} rows identical to valar "
                       "analyze --streaming" + ("" if rows == ref else f"\n got {rows}\n want {ref}"))
    check("0 samples dropped" in err, "no samples dropped")
    for line in err.splitlines():
        if "stats:" in line or "stopped" in line:
            info(line)
    finish(pl)
    return jack, v


def check_closed_stdout(jack):
    """`valar listen --stdout | head -3`: a closed pipe ends it quietly, exit 0."""
    wav = os.path.join(WORK, "stereo-256.wav")
    pl = jplay(jack, wav, "jplay-pipe", "-l", "10")
    v = subprocess.Popen([VALAR, "listen", "--name", cn("valar-pipe"), "--stdout", "--connect",
                          cn("jplay"), "--no-osc"],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "pipe.err"), "w"),
                         env=jack.env, text=True)
    procs.append(v)
    v.tag = "pipe"
    lines = [v.stdout.readline() for _ in range(3)]
    v.stdout.close()
    try:
        rc = v.wait(60)
    except subprocess.TimeoutExpired:
        rc = None
    check(lines[0].startswith("time_s") and lines[2].count(",") == 2,
          f"--stdout into a pipe: header and rows ({lines[1].strip()})")
    check(rc == 0 and "stopped (done)" in text(v, "err"),
          f"the reader closes the pipe: valar listen stops cleanly, exit 0 (rc {rc})")
    finish(pl)


def check_cli():
    ghost = f"vl-none-{os.getpid()}"
    env = base_env(ghost)

    def run(*args, timeout=60):
        return subprocess.run([VALAR, "listen", *args], capture_output=True, text=True,
                              timeout=timeout, env=env)

    r = run("--help")
    check(r.returncode == 0, "--help exits 0")
    for word in ["--connect", "--reconnect", "--osc-url", "--osc-host", "--osc-port", "--osc-tcp",
                 "--osc-prefix", "--osc-range", "--midi-channel", "--cc-arousal", "--midi-14bit",
                 "--list-devices", "--device", "--stdout", "--name", "--model", "--wait",
                 "/frame", "in_1", "midi_out", "SIGTERM", "Exit status"]:
        check(word in r.stdout, f"--help explains {word}")
    for args, why in [(["--osc-range", "2"], "bad --osc-range"),
                      (["--midi-channel", "17"], "MIDI channel 17"),
                      (["--midi-14bit", "--cc-arousal", "40"], "14-bit CC 40"),
                      (["--cc-valence", "20"], "same CC for both"),
                      (["--count", "0"], "--count 0"),
                      (["--bogus"], "unknown option"),
                      (["--backend", "alsa"], "unknown backend"),
                      (["--osc-url", "osc.udp://h:1", "--osc-port", "5"], "URL and port"),
                      (["--backend", "portaudio", "--connect", "x"], "--connect with PortAudio"),
                      (["--backend", "jack", "--device", "0"], "--device with JACK"),
                      (["--stdout=xml"], "unknown --stdout format"),
                      (["--osc-url", "http://x:1"], "non-OSC URL"),
                      (["--osc-prefix", "noslash"], "prefix without /"),
                      (["--stdout", "json"], "--stdout json without '='"),
                      (["-o", "out.csv"], "-o FILE (a port, not a file)")]:
        r = run(*args)
        check(r.returncode == 2 and r.stderr.strip(),
              f"usage error ({why}) exits 2 with a message: {r.stderr.strip().splitlines()[0] if r.stderr.strip() else ''}")

    missing = os.path.join(WORK, "missing.safetensors")
    r = run("--model", missing)
    check(r.returncode == 1 and missing in r.stderr, f"missing model: exit 1 naming it ({r.stderr.strip()})")
    junk = os.path.join(WORK, "junk.safetensors")
    with open(junk, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    r = run("--model", junk)
    check(r.returncode == 1 and junk in r.stderr, f"malformed model: exit 1 naming it ({r.stderr.strip()})")
    offline = os.path.join(os.environ.get("VALAR_MODEL_DIR", ""), "placeholder-offline.safetensors")
    r = run("--model", offline)
    check(r.returncode == 1 and "streaming" in r.stderr,
          f"offline model refused: exit 1 ({r.stderr.strip()})")

    r = run("--backend", "jack")
    check(r.returncode == 1 and "no JACK server running" in r.stderr and ghost in r.stderr,
          f"no server: exit 1 naming it ({r.stderr.strip().splitlines()[-1] if r.stderr else ''})")
    check("Cannot connect" not in r.stderr, "no libjack chatter without --verbose")
    r = run("--backend", "portaudio", "--device", "no-such-device-xyz")
    check(r.returncode == 1 and "no input device matching 'no-such-device-xyz'" in r.stderr,
          f"unknown PortAudio device: exit 1 ({r.stderr.strip().splitlines()[-1] if r.stderr else ''})")

    # --reconnect without a server waits for one, and a signal still ends it.
    p = spawn([VALAR, "listen", "--reconnect", "--no-osc"], "waiting", env)
    ok = wait_until(lambda: "waiting for a JACK server" in text(p, "err") or p.poll() is not None, 60)
    check(ok and p.poll() is None, "--reconnect without a server: waits, saying so")
    rc = finish(p, signal.SIGTERM)
    check(rc == 0, f"SIGTERM while waiting: clean exit 0 (rc {rc})")


def check_osc_midi():
    jack = Jack("oscmidi", 256)
    wav = make_file("mono.wav", 4.2, 1, seed=7)
    ref = analyze(wav)
    osc, port = oscdump()
    mon = spawn(["stdbuf", "-oL", "jack_midi_dump", cn("midi-monitor")], "midi_dump", jack.env)
    check(wait_until(lambda: cn("midi-monitor") + ":input" in jack.ports(), 30),
          "jack_midi_dump is up")
    v = listen(jack, "listen", "--wait", "--stdout", "--count", str(len(ref)), "--connect",
               cn("jplay") + ":out_1", "--midi-connect", cn("midi-monitor"), "--osc-url",
               f"osc.udp://127.0.0.1:{port}")
    check(wait_ready(v), "valar listen is up")
    pl = jplay(jack, wav)
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, f"exits 0 after {len(ref)} results (rc {rc})")
    rows = csv_rows(text(v))
    check(rows == ref, "mono file on in_1 alone: rows identical to valar analyze --streaming")
    n = len(ref)
    want = [fields(r) for r in ref]

    wait_until(lambda: len(osc_messages(text(osc))) >= 3 * n, 10)
    msgs = osc_messages(text(osc))
    check(len(msgs) == 3 * n, f"oscdump got {len(msgs)} messages = 3 per result ({3 * n})")
    paths = [m[0] for m in msgs]
    check(paths == ["/valar/arousal", "/valar/valence", "/valar/frame"] * n,
          "each result: /valar/arousal, /valar/valence, /valar/frame")
    frames = [m[1] for m in msgs if m[0] == "/valar/frame"]
    check([f[0] for f in frames] == [0.5 * k for k in range(n)],
          f"one /valar/frame per 500 ms of audio, none missing: times {[f[0] for f in frames]}")
    check(all(len(f) == 3 for f in frames), "/valar/frame carries 3 floats")
    ok = all(abs(f[1] - w[1]) < 1e-6 and abs(f[2] - w[2]) < 1e-6 for f, w in zip(frames, want))
    a = [m[1][0] for m in msgs if m[0] == "/valar/arousal"]
    va = [m[1][0] for m in msgs if m[0] == "/valar/valence"]
    ok &= all(abs(x - w[1]) < 1e-6 for x, w in zip(a, want))
    ok &= all(abs(x - w[2]) < 1e-6 for x, w in zip(va, want))
    check(ok and len(a) == n, "OSC values equal the stdout/analyze values (-1..1)")

    # jack_midi_dump: "   0: b0 14 5c control change ..."
    wait_until(lambda: len(re.findall(r"^\s*\d+: b0 ", text(mon), re.M)) >= 2 * n, 10)
    finish(mon)
    cc = [[int(b, 16) for b in m.groups()]
          for m in re.finditer(r"^\s*\d+: ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})", text(mon), re.M)]
    check(len(cc) == 2 * n, f"jack_midi_dump got {len(cc)} events = 2 per result ({2 * n})")
    check(all(c[0] == 0xB0 for c in cc) and [c[1] for c in cc] == [20, 21] * n,
          "control changes on channel 1: CC 20 (arousal), CC 21 (valence), in order")
    good = len(cc) == 2 * n and all(
        cc_ok(cc[2 * k][2], a[k], 127) and cc_ok(cc[2 * k + 1][2], va[k], 127) for k in range(n))
    check(good, "CC values = round((x + 1) / 2 * 127) of the OSC values: "
                + " ".join(f"{cc[2 * k][2]}/{cc[2 * k + 1][2]}" for k in range(min(n, len(cc) // 2))))
    finish(pl)


def check_options():
    jack = Jack("opts", 128)
    wav = make_file("stereo-opts.wav", 3.7, 2, seed=11)
    ref = [fields(r) for r in analyze(wav)]
    n = len(ref)
    osc, port = oscdump(tcp=True)
    pl = jplay(jack, wav, "jplay", "-m")
    v = listen(jack, "listen", "--name", cn("mer"), "--wait", "--stdout=json", "--count", str(n),
               "--connect", cn("jplay"), "--midi-connect", cn("jplay"), "--osc-tcp",
               "--osc-port", str(port), "--osc-prefix", "/mood", "--osc-range", "01", "--midi-channel", "5",
               "--cc-arousal", "3", "--cc-valence", "9", "--midi-14bit")
    check(wait_ready(v), "valar listen --name mer is up")
    ports = jack.ports()
    check(all(cn("mer") + p in ports for p in [":in_1", ":in_2", ":midi_out"]),
          f"client '{cn('mer')}' has in_1, in_2, midi_out")
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, f"exits 0 (rc {rc})")
    got = [json.loads(line) for line in text(v).strip().split("\n") if line.startswith("{")]
    check(len(got) == n and all(
        g["time_s"] == r[0] and abs(g["arousal"] - r[1]) < 1e-9 and abs(g["valence"] - r[2]) < 1e-9
        for g, r in zip(got, ref)), f"--stdout=json: {len(got)} objects equal to analyze --streaming")

    wait_until(lambda: len(osc_messages(text(osc))) >= 3 * n, 10)
    msgs = osc_messages(text(osc))
    check([m[0] for m in msgs] == ["/mood/arousal", "/mood/valence", "/mood/frame"] * n,
          f"OSC over TCP with prefix /mood: {len(msgs)} messages")
    frames = [m[1] for m in msgs if m[0] == "/mood/frame"]
    ok = len(frames) == n and all(
        f[0] == r[0] and abs(f[1] - (r[1] + 1) / 2) < 2e-6 and abs(f[2] - (r[2] + 1) / 2) < 2e-6
        for f, r in zip(frames, ref))
    ok &= all(0 <= m[1][0] <= 1 for m in msgs if m[0] != "/mood/frame")
    check(ok, "--osc-range 01: values are (x + 1) / 2, in 0..1")

    wait_until(lambda: len(midi_lines(text(pl))) >= 4 * n, 10)
    finish(pl)
    ev = midi_lines(text(pl))
    check(len(ev) == 4 * n, f"jplay recorded {len(ev)} MIDI events = 4 per result ({4 * n})")
    check(all(e[1][0] == 0xB4 for e in ev), "all on channel 5 (status 0xB4)")
    check([e[1][1] for e in ev] == [3, 35, 9, 41] * n,
          "14-bit pairs: CC 3 MSB, CC 35 LSB (arousal), CC 9 MSB, CC 41 LSB (valence)")
    if len(ev) == 4 * n:
        vals = [(ev[4 * k][1][2] << 7 | ev[4 * k + 1][1][2], ev[4 * k + 2][1][2] << 7 | ev[4 * k + 3][1][2])
                for k in range(n)]
        check(all(cc_ok(va, r[1], 16383) and cc_ok(vv, r[2], 16383) for (va, vv), r in zip(vals, ref)),
              "14-bit values = round((x + 1) / 2 * 16383): " + " ".join(f"{a}/{b}" for a, b in vals))
        start = jplay_frame(text(pl), "start")
        times = [ev[4 * k][0] for k in range(n)]
        late = [t - (start + (k + 1) * SEG) for k, t in enumerate(times)]
        check(start is not None and all(d >= 0 for d in late),
              "each result's MIDI comes after the last sample of its 500 ms was played")
        check(all(ev[4 * k + i][0] == times[k] for k in range(n) for i in range(4)),
              "the 4 events of a result share one frame time")
        info("MIDI latency after the segment's end (ms): " + " ".join(f"{d / 48:.1f}" for d in late))

    # An OSC receiver that is not there (TCP, nobody listening): said once,
    # counted in the summary line, and the analysis carries on.
    dead_sock, dead = dead_port()
    pl = jplay(jack, wav, "jplay-dead", "-n", cn("jdead"))
    v = listen(jack, "listen-dead", "--name", cn("dead"), "--wait", "--count", "2", "--no-midi",
               "--connect", cn("jdead"), "--osc-tcp", "--osc-port", str(dead))
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    finish(pl)
    err = text(v, "err")
    check(rc == 0 and err.count("cannot send to") == 1 and "2 results not sent over OSC" in err,
          f"dead OSC receiver: one warning, counted in the summary (rc {rc})")
    dead_sock.close()


def check_alloc():
    out = os.path.join(WORK, "alloc.txt")
    jack = Jack("alloc", 64)
    wav = make_file("stereo-alloc.wav", 3.7, 2, seed=3)
    ref = analyze(wav)
    osc, port = oscdump()
    env = dict(jack.env, LD_PRELOAD=ALLOC_SO, ALLOC_COUNT_OUT=out)
    pl = jplay(jack, wav, "jplay", "-m")
    v = listen(jack, "listen", "--wait", "--stdout", "--count", str(len(ref)), "--connect",
               cn("jplay"), "--midi-connect", cn("jplay"), "--osc-url",
               f"osc.udp://127.0.0.1:{port}", env=env)
    check(wait_ready(v), "valar listen is up with the allocation counter preloaded")
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0 and csv_rows(text(v)) == ref, f"runs normally: rows == analyze (rc {rc})")
    check(wait_until(lambda: len(midi_lines(text(pl))) >= 2 * len(ref), 10), "MIDI was sent")
    check(len(osc_messages(text(osc))) >= 3 * len(ref), "OSC was sent")
    counts = open(out).read() if os.path.exists(out) else ""
    m = re.search(r"sections=(\d+) allocations=(\d+) frees=(\d+)", counts)
    check(m is not None, f"alloc_count wrote its report ({counts.strip()})")
    if m:
        s, a, f = map(int, m.groups())
        # 3.7 s at 64 frames per period: over 2700 callbacks.
        check(s > 1000, f"{s} JACK process callbacks counted")
        check(a == 0 and f == 0, f"JACK callback: {a} allocations, {f} frees")
    finish(pl)

    # The PortAudio callback (through PortAudio's JACK host API).
    if not portaudio_jack_device(jack):
        info("PortAudio has no JACK host API here: PortAudio part skipped")
        return
    os.unlink(out)
    pl = jplay(jack, wav, "jplay2")
    before = set(jack.ports())
    v = listen(jack, "listen-pa", "--backend", "portaudio", "--device", "system", "--wait",
               "--stdout", "--count", str(len(ref)), "--no-osc", env=env)
    check(wait_ready(v), "PortAudio backend is up with the counter")
    connect_portaudio(jack, before, cn("jplay"))
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0 and csv_rows(text(v)) == ref, f"PortAudio: rows == analyze (rc {rc})")
    counts = open(out).read() if os.path.exists(out) else ""
    m = re.search(r"sections=(\d+) allocations=(\d+) frees=(\d+)", counts)
    if check(m is not None, f"alloc_count report ({counts.strip()})"):
        s, a, f = map(int, m.groups())
        check(s > 100 and a == 0 and f == 0,
              f"PortAudio callback: {s} callbacks, {a} allocations, {f} frees")
    finish(pl)


def portaudio_jack_device(jack):
    r = subprocess.run([VALAR, "listen", "--list-devices"], capture_output=True, text=True,
                       timeout=60, env=jack.env)
    return r.returncode == 0 and re.search(r"system\s+\[JACK", r.stdout) is not None


def connect_portaudio(jack, before, player):
    """PortAudio's JACK client has its own port names: connect the player's
    outputs to the new input ports, in order."""
    wait_until(lambda: len([p for p in jack.ports() if p and p not in before]) >= 2, 30)
    new = sorted(p for p in jack.ports() if p and p not in before)
    for i, p in enumerate(new[:2]):
        subprocess.run([JCTL, "connect", f"{player}:out_{i + 1}", p], env=jack.env, timeout=20)
    return new


def check_portaudio():
    jack = Jack("pa", 256)
    r = subprocess.run([VALAR, "listen", "--list-devices"], capture_output=True, text=True,
                       timeout=60, env=jack.env)
    check(r.returncode == 0 and "default input" in r.stdout, "--list-devices lists input devices")
    info(r.stdout.strip())
    if not portaudio_jack_device(jack):
        print("SKIP PortAudio has no JACK host API here")
        return 77
    wav = make_file("stereo-pa.wav", 3.7, 2, seed=5)
    ref = analyze(wav)
    pl = jplay(jack, wav)
    before = set(jack.ports())
    v = listen(jack, "listen", "--backend", "portaudio", "--device", "system", "--wait",
               "--stdout", "--count", str(len(ref)), "--no-osc")
    check(wait_ready(v), "--backend portaudio --device system is up: "
                         + text(v, "err").strip().splitlines()[-1])
    new = connect_portaudio(jack, before, cn("jplay"))
    check(len(new) >= 2, f"PortAudio's JACK ports appeared: {new}")
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, f"exits 0 (rc {rc})")
    check(csv_rows(text(v)) == ref, "PortAudio backend: rows identical to valar analyze --streaming")
    finish(pl)

    # auto: no JACK server -> PortAudio.
    env = base_env(f"vl-none-{os.getpid()}")
    p = spawn([VALAR, "listen", "--no-osc", "--count", "1"], "auto", env)
    wait_until(lambda: p.poll() is not None or "PortAudio" in text(p, "err"), 60)
    finish(p)
    check("no JACK server running; using PortAudio" in text(p, "err"),
          "--backend auto without a JACK server falls back to PortAudio")


def check_bufsize():
    jack = Jack("bufsize", 256)
    wav = make_file("stereo-bs.wav", 6.2, 2, seed=9)
    ref = analyze(wav)
    v = listen(jack, "listen", "--wait", "--stdout", "--count", str(len(ref)), "--connect", cn("jplay"),
               "--no-osc")
    check(wait_ready(v), "valar listen is up at 256 frames")
    pl = jplay(jack, wav)
    wait_until(lambda: "start" in text(pl), 30)
    rcs = []
    for size in (1024, 64):
        time.sleep(1.2)
        rcs.append(subprocess.run([JCTL, "bufsize", str(size)], env=jack.env, capture_output=True,
                                  timeout=30).returncode)
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    err = text(v, "err")
    check(rcs == [0, 0], "buffer size set to 1024, then 64")
    check("buffer size now 1024 frames" in err and "buffer size now 64 frames" in err,
          "valar listen follows both buffer-size changes")
    check(rc == 0 and csv_rows(text(v)) == ref,
          f"rows across the changes identical to valar analyze --streaming (rc {rc})")
    finish(pl)


def check_shutdown():
    wav = make_file("stereo-sd.wav", 3.7, 2, seed=13)
    for sig, how in [(signal.SIGKILL, "killed (SIGKILL)"), (signal.SIGTERM, "stopped (SIGTERM)")]:
        jack = Jack(f"sd{int(sig)}", 256)
        pl = jplay(jack, wav, f"jplay-{int(sig)}", "-l", "30")
        v = listen(jack, f"listen-{int(sig)}", "--stdout", "--connect", cn("jplay"), "--no-osc")
        check(wait_ready(v), "valar listen is up")
        ok = wait_until(lambda: len(text(v).splitlines()) >= 3 or v.poll() is not None, 60)
        check(ok and v.poll() is None, "results are flowing")
        jack.proc.send_signal(sig)
        try:
            rc = v.wait(60)
        except subprocess.TimeoutExpired:
            rc = None
        err = text(v, "err")
        check(rc == 3, f"server {how}: valar listen exits with status 3 (rc {rc})")
        check("the JACK server shut down" in err and "stopped (JACK server gone)" in err,
              "and says so: " + " | ".join(l for l in err.splitlines() if "shut down" in l))
        check("AddressSanitizer" not in err and "LeakSanitizer" not in err, "no sanitizer report")
        finish(pl)
        jack.stop()  # reaps it; a killed server's registry slot is reclaimed


def check_reconnect():
    jack = Jack("rc", 256, start=False)
    wav = make_file("stereo-rc.wav", 3.7, 2, seed=17)
    ref = analyze(wav)
    n = len(ref)
    v = listen(jack, "listen", "--reconnect", "--wait", "--stdout", "--connect", cn("jplay"), "--no-osc")
    ok = wait_until(lambda: "waiting for a JACK server" in text(v, "err") or v.poll() is not None, 60)
    check(ok and v.poll() is None, "no server yet: --reconnect waits")

    def sessions():
        rows = csv_rows(text(v)) or []
        out = []
        for r in rows:
            if r.startswith("0.0,"):
                out.append([])
            if out:
                out[-1].append(r)
        return out

    for round_ in (1, 2):
        jack.start()
        said = "reconnected" if round_ == 2 else "JACK client"
        ok = wait_until(lambda: text(v, "err").count(said) >= 1 or v.poll() is not None, 60)
        check(ok and v.poll() is None, f"server {round_} started: valar connects ({said})")
        pl = jplay(jack, wav, f"jplay{round_}")
        wait_until(lambda: len(sessions()) >= round_ and len(sessions()[round_ - 1]) >= n
                   or v.poll() is not None, 90)
        s = sessions()
        check(len(s) >= round_ and s[round_ - 1][:n] == ref,
              f"stream {round_}: {n} rows identical to valar analyze --streaming")
        if round_ == 1:
            jack.proc.send_signal(signal.SIGKILL)
            jack.proc.wait(30)
            ok = wait_until(lambda: "waiting for it to come back" in text(v, "err")
                            or v.poll() is not None, 60)
            finish(pl)
            jack.stop()  # reaps it (the restart below takes over its registry slot)
            time.sleep(1.0)
            check(ok and v.poll() is None, "server killed: valar stays, waiting for it to come back")
        finish(pl)
    rc = finish(v, signal.SIGINT, timeout=30)
    check(rc == 0, f"SIGINT: clean exit 0 (rc {rc})")
    check("stopped (Interrupt)" in text(v, "err"), "with a summary line")


def bench():
    print("valar listen cost, measured by --stats in a real JACK run (jackd -d dummy, 48 kHz)")
    wav = make_file("bench.wav", 3.7, 2, seed=21)
    for period in (64, 256, 1024):
        jack = Jack(f"bench{period}", period)
        pl = jplay(jack, wav, f"jplay{period}", "-l", "3")
        v = listen(jack, f"listen{period}", "--stats", "--count", "20", "--connect", cn("jplay"),
                   "--osc-url", f"osc.udp://127.0.0.1:{free_port()}", "--stdout")
        wait_ready(v)
        try:
            v.wait(120)
        except subprocess.TimeoutExpired:
            pass
        finish(pl)
        for line in text(v, "err").splitlines():
            if "stats:" in line or "stopped" in line:
                print(f"  period {period:4d}: " + line.replace("valar listen: ", ""))
        jack.stop()
    return 0


def main():
    global RATE, SEG
    os.makedirs(WORK, exist_ok=True)
    for f in os.listdir(WORK):
        os.unlink(os.path.join(WORK, f))
    status = None
    try:
        if CHECK == "cli":
            check_cli()
        elif CHECK.startswith("equal-"):
            jack, _ = run_equal(int(CHECK[6:]), "json" if CHECK == "equal-1024" else "csv")
            if CHECK == "equal-256":
                check_closed_stdout(jack)
        elif CHECK.startswith("rate-"):
            RATE = int(CHECK[5:])
            SEG = RATE // 2
            run_equal(64 if RATE < 48000 else 1024)
        elif CHECK == "osc-midi":
            check_osc_midi()
        elif CHECK == "options":
            check_options()
        elif CHECK == "alloc":
            check_alloc()
        elif CHECK == "bufsize":
            check_bufsize()
        elif CHECK == "shutdown":
            check_shutdown()
        elif CHECK == "reconnect":
            check_reconnect()
        elif CHECK == "portaudio":
            status = check_portaudio()
        elif CHECK == "bench":
            status = bench()
        else:
            print("unknown check " + CHECK)
            return 2
    except Exception as e:  # a broken setup is a failure, with the reason
        check(False, f"{type(e).__name__}: {e}")
    finally:
        cleanup()
    if failures:
        print(f"{len(failures)} failed; logs in {WORK}")
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
