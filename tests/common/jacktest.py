"""Helpers for tests that run real processes around a private JACK server.

Procs: every process a test starts, with its stdout/stderr in files of the
work dir, stopped in reverse order at the end (clients before servers).
Every JACK client gets a name unique on the machine (cn): libjack binds a
socket named after the client alone while it opens, so same-named clients
of two parallel tests collide (see tests/common/jctl.c, which stands in for
jack_lsp with a unique name).
Jack: `jackd --no-realtime -S -d dummy` on a private server name
(JACK_DEFAULT_SERVER for the clients, JACK_NO_START_SERVER so nothing
autostarts one). OscReceiver: a real OSC/UDP receiver on a port the kernel
picks (bound before anyone sends, so no port race).

The pattern is the one of tests/listen/test_listen.py.
"""
import os
import signal
import socket
import struct
import subprocess
import threading
import time


def cn(base):
    """A JACK client name unique on this machine while this process runs."""
    return f"{base}.{os.getpid()}"


def wait_until(pred, timeout, step=0.05):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(step)
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


class Procs:
    def __init__(self, work):
        self.work = work
        self.procs = []
        self.servers = []

    def spawn(self, args, tag, env, stdin=subprocess.DEVNULL, **kw):
        out = open(os.path.join(self.work, tag + ".out"), "w")
        err = open(os.path.join(self.work, tag + ".err"), "w")
        p = subprocess.Popen(args, stdout=out, stderr=err, stdin=stdin, env=env, **kw)
        p.tag = tag
        self.procs.append(p)
        return p

    def text(self, p, which="out"):
        try:
            with open(os.path.join(self.work, f"{p.tag}.{which}")) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        # Clients first (SIGINT: they deactivate and close), then the servers:
        # a server stopping while a client deactivates can hang.
        for p in reversed(self.procs):
            if not getattr(p, "is_server", False):
                if p.poll() is None:
                    try:
                        os.kill(p.pid, signal.SIGCONT)
                    except OSError:
                        pass
                finish(p)
        for j in self.servers:
            j.stop()


class Jack:
    """A private jackd with the dummy driver, in sync mode (-S): on a loaded
    machine audio runs slower than real time instead of clients missing
    cycles."""

    def __init__(self, procs, jctl, tag, rate=48000, period=256):
        self.procs, self.jctl = procs, jctl
        self.name = f"vw-{tag}-{os.getpid()}"
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        self.rate, self.period = rate, period
        self.proc = None
        procs.servers.append(self)
        self.start()

    def start(self):
        t0 = time.monotonic()
        while True:
            self.proc = self.procs.spawn(
                ["jackd", "-S", "--no-realtime", "-p", "64", "-t", "2000", "-n", self.name,
                 "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
                f"jackd-{len(self.procs.procs)}", self.env)
            self.proc.is_server = True
            ok = wait_until(lambda: self.proc.poll() is not None
                            or "system:capture_1" in self.ports(), 30)
            if ok and self.proc.poll() is None:
                return
            err = self.procs.text(self.proc, "err")
            # JACK allows 8 servers per machine; other tests may hold the rest.
            if "Too many servers" in err and time.monotonic() - t0 < 120:
                time.sleep(1)
                continue
            raise RuntimeError(f"jackd {self.name} did not start: {err}")

    def ports(self):
        r = subprocess.run([self.jctl, "lsp"], env=self.env, capture_output=True, text=True,
                           timeout=20)
        return r.stdout.split("\n") if r.returncode == 0 else []

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # in case a test stopped it
        finish(self.proc, signal.SIGTERM, timeout=10)
        self.proc = None
        # Sockets and semaphores a server leaves behind carry its name.
        for f in os.listdir("/dev/shm"):
            if f"_{self.name}_" in f:
                try:
                    os.unlink(os.path.join("/dev/shm", f))
                except OSError:
                    pass


def jplay(procs, jack, jplay_bin, wav, name, tag="jplay", *args):
    """tests/listen/jplay as client name: plays wav once all its outputs
    are connected."""
    p = procs.spawn([jplay_bin, "-n", name, *args, wav], tag, jack.env)
    if not wait_until(lambda: p.poll() is not None or "ready" in procs.text(p), 30):
        raise RuntimeError("jplay did not start: " + procs.text(p, "err"))
    if p.poll() is not None:
        raise RuntimeError("jplay exited: " + procs.text(p, "err"))
    return p


class OscReceiver:
    """OSC over UDP on 127.0.0.1 and a port of the kernel's choosing:
    messages as (address, [values]), in arrival order."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"osc.udp://127.0.0.1:{self.port}"
        self.messages = []
        self.errors = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _string(data, i):
        end = data.index(b"\0", i)
        s = data[i:end].decode()
        return s, (end + 4) & ~3

    def parse(self, data):
        addr, i = self._string(data, 0)
        tags, i = self._string(data, i)
        if not tags.startswith(","):
            raise ValueError(f"no type tags in {data!r}")
        vals = []
        for t in tags[1:]:
            if t == "f":
                vals.append(struct.unpack(">f", data[i:i + 4])[0])
                i += 4
            elif t == "i":
                vals.append(struct.unpack(">i", data[i:i + 4])[0])
                i += 4
            else:
                raise ValueError(f"type {t} not expected in {data!r}")
        return addr, vals

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                self.messages.append(self.parse(data))
            except (ValueError, UnicodeDecodeError, struct.error) as e:
                self.errors.append(str(e))

    def frames(self, prefix="/valar"):
        return [v for a, v in self.messages if a == prefix + "/frame"]

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()
