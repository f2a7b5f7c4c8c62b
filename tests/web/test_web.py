"""Tests of the web view (`valar listen --http`) and `valar analyze --plot`.

Usage: test_web.py CHECK VALAR JPLAY JCTL HTTPFEED ALLOC_SO WORK_DIR   ('-' = not needed)

Servers and ports: every HTTP server here binds port 0 and the test reads
the port it got from the program's output; the OSC receiver is a socket the
test binds to port 0 itself. No port is guessed, so parallel tests cannot
race for one. JACK checks start a private `jackd -d dummy` (see
tests/common/jacktest.py), give every JACK client a unique name (valar
--name, jplay -n, jctl) and stop everything they started.

Checks:
  http     httpfeed (the web view alone, results published on command):
           the page is the compiled-in view.html with a CSP; /now before and
           after results, live turning false after 2 s; /history and its 400s;
           the event stream (info event, one event per result with the exact
           digits, ?since= and Last-Event-ID resume); 20 viewers each get every
           result; the viewer limit gives 503; a viewer that never reads falls
           behind and the results it skipped are counted exactly (ids jump,
           sum of gaps == dropped); malformed, oversized, '..', other methods,
           bodies: 4xx, server unharmed; an idle half-sent request is closed
           after the timeout; stopping with stuck viewers connected is prompt
  cli      --http usage errors exit 2; a port in use exits 1 naming it; the
           warning for a non-loopback address; --help
  browser  jackd + jplay + valar listen --http --reconnect, headless Chromium:
           no console errors; the values the page holds == OSC == analyze
           --streaming; the drawn point sits at the last result, curves hold
           every result; screenshot not blank with the point in white; the
           JACK server stops: the page says stalled within 2 s + a tick, /now
           live false, point grey; hours of results keep the page's arrays and
           JS heap bounded; the server returns: live again, a new stream from
           time 0; /?overlay=1: transparent background (computed styles and
           the pixels of a screenshot), no chrome
  robust   valar listen --http with 20 event-stream viewers, one that never
           reads, a half-sent request, 50 more viewers (over the limit: 503),
           bad requests and /history?seconds=3600 in loops during playback:
           every OSC frame and stdout row arrives and equals analyze
           --streaming; every viewer got every result; /now answers within
           2 s throughout; SIGINT exits 0 with stuck viewers connected; no
           sanitizer report
  alloc    (plain build) LD_PRELOAD alloc_count with --http and viewers
           connected: zero allocations and frees in the JACK process callback
  plot     analyze --plot: the SVG parses as XML, one <circle class="pt"> per
           result with the CSV's values at the right place, one panel per
           file, file names escaped, model and placeholder warning shown; an
           unwritable place fails before analysing and a failed run leaves an
           existing plot alone; Chromium renders it (screenshot not blank)
  figures  (not a test) docs/img/live.png from examples/demo.ogg played through
           JACK (tools/make-figures.sh)
"""
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
import xml.etree.ElementTree as ET

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from jacktest import Jack, OscReceiver, Procs, cn, finish, jplay, wait_until  # noqa: E402
from safetensors import read_safetensors  # noqa: E402

CHECK, VALAR, JPLAY, JCTL, HTTPFEED, ALLOC_SO, WORK = sys.argv[1:8]
PLAYER = cn("jplay")  # our JACK clients' names
WORK = os.path.join(WORK, CHECK)
SRC = os.environ.get("VALAR_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
RATE = 48000
failures = []
procs = Procs(WORK)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def info(what):
    print("     " + what, flush=True)


# --- audio and references -----------------------------------------------------

def write_wav(path, x, rate=RATE):
    x = np.atleast_2d(x.T).T
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def make_file(name, seconds, channels, seed):
    """A chord with a swell, noise and a change of character half way; the
    first sample is non-zero (valar listen --wait starts there). Ends 200 ms
    after its last complete segment."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * RATE))) / RATE
    env = 0.5 + 0.5 * np.sin(2 * math.pi * 0.4 * t)
    tone = sum(np.sin(2 * math.pi * f * t) for f in (196.0, 246.9, 293.7)) / 3
    loud = np.sign(np.sin(2 * math.pi * 110 * t)) * 0.6
    half = t >= seconds / 2
    chans = []
    for c in range(channels):
        x = 0.5 * env * tone * (1 - 0.3 * c) + 0.06 * env * rng.standard_normal(t.size)
        x[half] = loud[half] + 0.2 * rng.standard_normal(half.sum())
        x[0] = 0.25
        chans.append(x)
    path = os.path.join(WORK, name)
    write_wav(path, np.stack(chans, axis=1))
    return path


def default_model(kind):
    """The weight file valar uses by default (src/modelpath.c, with
    $VALAR_MODEL_DIR set, as the tests run): the trained valar-KIND when it
    exists, else the placeholder; and whether it is a placeholder."""
    d = os.environ["VALAR_MODEL_DIR"]
    for name in (f"valar-{kind}.safetensors", f"placeholder-{kind}.safetensors"):
        if os.path.exists(os.path.join(d, name)):
            return name, read_safetensors(os.path.join(d, name))[1].get("placeholder") == "true"
    raise RuntimeError(f"no {kind} model in {d}")


def analyze(path, *args):
    r = subprocess.run([VALAR, "analyze", "-q", *args, path], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError("valar analyze failed: " + r.stderr)
    return r.stdout.strip().split("\n")[1:]


def row_of(d):
    """A result (dict from JSON) as a CSV row of valar analyze."""
    return f"{d['time_s']:.1f},{d['arousal']:.6f},{d['valence']:.6f}"


def sanitizer_clean(err):
    return not any(w in err for w in ("AddressSanitizer", "LeakSanitizer", "runtime error:"))


# --- HTTP clients ------------------------------------------------------------

def get(port, path, method="GET", headers=None, timeout=20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def get_json(port, path):
    status, _, body = get(port, path)
    return status, json.loads(body) if status == 200 else body


def raw(port, data, timeout=15):
    """Send raw bytes, read until the server closes (or timeout). Returns
    (status or None, response bytes). A server that answers and closes
    while the request is still being sent can reset the connection: what
    arrived before the reset is kept."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        while True:
            try:
                b = s.recv(65536)
            except OSError:
                break
            if not b:
                break
            got += b
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return (int(m.group(1)) if m else None), got


class Viewer(threading.Thread):
    """An event-stream client (HTTP/1.1, chunked): collects (event, id, data)."""

    def __init__(self, port, path="/events", headers=None):
        super().__init__(daemon=True)
        self.port, self.path, self.headers = port, path, headers or {}
        self.status = None
        self.events = []
        self.lines = []
        self.error = None
        self.ended = False
        self.conn = self.sock = None
        self.start()

    def run(self):
        try:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("GET", self.path, headers=self.headers)
            self.sock = self.conn.sock  # the response takes it over
            r = self.conn.getresponse()
            self.status = r.status
            if r.status != 200:
                r.read()
                return
            ev = {}
            while True:
                line = r.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                self.lines.append(line)
                if line == "":
                    if "data" in ev:
                        self.events.append((ev.get("event", "message"), ev.get("id"), ev["data"]))
                    ev = {}
                elif not line.startswith(":"):
                    k, _, v = line.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
        except Exception as e:  # noqa: BLE001 (reported by the checks)
            self.error = e
        finally:
            self.ended = True

    def results(self):
        return [json.loads(d) for e, _, d in self.events if e == "message"]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.join(10)


def stuck_viewer(port, path="/events"):
    """Asks for the event stream with a tiny receive buffer and never reads."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    s.settimeout(0.2)
    return s


def answered(s):
    """Whether the server's answer has reached s (looked at, left unread)."""
    try:
        return s.recv(9, socket.MSG_PEEK).startswith(b"HTTP/1.")
    except socket.timeout:
        return False


def sse_ids(data):
    """Event ids in raw HTTP/1.0 event-stream bytes."""
    return [int(m) for m in re.findall(rb"^id: (\d+)$", data, re.M)]


# Not HTTP at all (no request line): libmicrohttpd closes the connection
# without a reply (binary garbage after its 10 s timeout).
NOT_HTTP = [
    (b"GARBAGE\r\n\r\n", "a request line without URL and version"),
    (b"GET\r\n\r\n", "a method alone"),
    (b"\x00\x01\x02\xff binary\r\n\r\n", "binary garbage"),
]
# HTTP requests that must get a 4xx.
BAD_REQUESTS = [
    (b"GET /\r\n\r\n", "HTTP/0.9"),
    (b"GET /now HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", "100 kB header"),
    (b"GET /" + b"a" * 30000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "30 kB URL"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(3000)) + b"\r\n",
     "3000 header lines"),
    (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "'..' path"),
    (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "encoded '..' path"),
    (b"GET /events/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "'..' after a real path"),
    (b"GET //etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "an absolute file path"),
    (b"GET /view.html HTTP/1.1\r\nHost: x\r\n\r\n", "the page's source name"),
    (b"GET /src/live/view.html HTTP/1.1\r\nHost: x\r\n\r\n", "a source file path"),
    (b"GET /history?seconds=-1 HTTP/1.1\r\nHost: x\r\n\r\n", "seconds=-1"),
    (b"GET /history?seconds=abc HTTP/1.1\r\nHost: x\r\n\r\n", "seconds=abc"),
    (b"GET /history?seconds=99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n", "huge seconds"),
    (b"GET /events?since=x HTTP/1.1\r\nHost: x\r\n\r\n", "since=x"),
    (b"POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000, "POST"),
    (b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "PUT"),
    (b"DELETE /events HTTP/1.1\r\nHost: x\r\n\r\n", "DELETE"),
    (b"GET /now HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nxx", "GET with a body"),
    (b"GET /now HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     "GET with a chunked body"),
]


def bad_requests(port):
    """Every BAD_REQUEST must get a 4xx and every NOT_HTTP a closed
    connection; returns the failures."""
    bad = []
    for data, what in BAD_REQUESTS:
        status, body = raw(port, data)
        if status is None or not 400 <= status < 500 or b"root:" in body:
            bad.append(f"{what}: {status}")
    for data, what in NOT_HTTP:
        status, body = raw(port, data)
        if body:
            bad.append(f"{what}: {body[:40]}")
    return bad


# --- browser -----------------------------------------------------------------

def browser(width=1200, height=800):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RuntimeError("python3-selenium is missing (tools/install-deps.sh installs it)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError("chromium and chromium-driver are needed (tools/install-deps.sh)")
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="chromium-", dir=WORK)
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run", "--disable-extensions", "--disable-default-apps",
              "--enable-precise-memory-info", "--js-flags=--expose-gc",
              f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver, log_output=os.path.join(WORK, "chromedriver.log")),
                         options=o)
    d.set_page_load_timeout(60)
    d.set_script_timeout(120)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return d


def console_errors(d):
    return [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]


def image(path):
    from PIL import Image
    return Image.open(path)


def not_blank(path):
    """Distinct colours and contrast: a real picture, not an empty page."""
    img = image(path).convert("RGB")
    colours = img.getcolors(1 << 24)
    lo, hi = zip(*img.getextrema())
    return len(colours) > 50 and min(hi[i] - lo[i] for i in range(3)) > 100, len(colours)


STATE_JS = """
  const r = document.getElementById('plane').getBoundingClientRect();
  return {state: valar.state, text: document.getElementById('statustext').textContent,
    results: valar.results, drawn: valar.drawn, curvePoints: valar.curvePoints,
    model: valar.model, placeholder: valar.placeholder,
    banner: !document.getElementById('placeholder').hidden,
    arousal: document.getElementById('arousal').textContent,
    point: valar.drawn && [r.left + valar.drawn.px, r.top + valar.drawn.py]};"""


def page_state(d):
    return d.execute_script(STATE_JS)


def drawn_state(d):
    """The page's state once the latest result has been drawn (results
    keep coming: a snapshot between a result and its frame would not
    match)."""
    return d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const state = () => {""" + STATE_JS + """};
        (function settle() {
          const res = valar.results;
          if (res.length && valar.drawn && valar.drawn.seq === res[res.length - 1].seq
              && valar.curvePoints === res.length)
            done(state());
          else
            requestAnimationFrame(settle);
        })();""")


def screenshot_of(d, path):
    """A screenshot with the page state it shows (taken again should a new
    result come in between)."""
    for _ in range(10):
        st = drawn_state(d)
        d.save_screenshot(path)
        if drawn_state(d)["drawn"]["seq"] == st["drawn"]["seq"]:
            return st
    raise RuntimeError("results kept arriving during every screenshot")


# --- valar listen --------------------------------------------------------------

def listen(jack, tag, *args, env=None):
    """valar listen --http 0 --connect PLAYER ...; returns (process, port)
    once both the JACK client and the web view are up."""
    p = procs.spawn([VALAR, "listen", "--name", cn("valar"), "--http", "0", "--connect", PLAYER,
                     *args], tag, env or jack.env)
    ok = wait_until(lambda: p.poll() is not None or
                    ("JACK client" in procs.text(p, "err") and "web view at" in procs.text(p, "err")),
                    60)
    err = procs.text(p, "err")
    if not ok or p.poll() is not None:
        raise RuntimeError(f"valar listen did not start (rc {p.poll()}): {err}")
    port = int(re.search(r"web view at http://127\.0\.0\.1:(\d+)/", err).group(1))
    return p, port


# --- checks --------------------------------------------------------------------

def check_http():
    feed = subprocess.Popen([HTTPFEED, "127.0.0.1:0", "64", "24"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "feed.err"), "w"),
                            text=True)
    feed.tag = "feed"
    procs.procs.append(feed)
    first = feed.stdout.readline()
    m = re.match(r"url http://127\.0\.0\.1:(\d+)/", first)
    if not check(m is not None, f"httpfeed serves on a port of its choosing ({first.strip()})"):
        return
    port = int(m.group(1))

    def cmd(c):
        feed.stdin.write(c + "\n")
        feed.stdin.flush()
        return feed.stdout.readline().strip()

    def stats():
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", cmd("s"))}

    def expect(k):  # the data of result number k (0-based), digits as --stdout
        f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]  # noqa: E731
        return (f'{{"seq":{k + 1},"time_s":{0.5 * k:.1f},"arousal":{f32(math.sin(0.1 * k)):.6f},'
                f'"valence":{f32(math.cos(0.07 * k)):.6f}}}')

    # An idle connection with half a request: closed after the timeout.
    loris = socket.create_connection(("127.0.0.1", port), timeout=30)
    loris.sendall(b"GET / HTTP/1.1\r\n")
    loris_t0 = time.monotonic()

    status, hdr, body = get(port, "/")
    page = open(os.path.join(SRC, "src", "live", "view.html"), "rb").read()
    check(status == 200 and hdr.get("content-type", "").startswith("text/html") and body == page,
          f"GET / serves the compiled-in view.html ({len(body)} bytes)")
    csp = hdr.get("content-security-policy", "")
    check("default-src 'none'" in csp and "connect-src 'self'" in csp,
          f"with a Content-Security-Policy that allows this server only ({csp})")
    check(b"http://" not in page.replace(b"http://www.w3.org", b"") and b"https://" not in page,
          "the page refers to no other server")
    status, hdr, body = get(port, "/", "HEAD")
    check(status == 200 and body == b"" and int(hdr.get("content-length", -1)) == len(page),
          "HEAD / : headers only")
    status, j = get_json(port, "/now")
    check(status == 200 and j["seq"] == 0 and j["live"] is False and j["arousal"] is None
          and j["time_s"] is None, f"/now before any result: seq 0, nulls, not live ({j})")
    check(j["model"] == "test-model.safetensors" and j["placeholder"] is True
          and j["description"] == 'a "test" model\\with\tescapes <&>',
          "/now names the model, its description (escaped right) and placeholder")

    a = Viewer(port)
    check(wait_until(lambda: a.events, 10) and a.events[0][0] == "info" and a.status == 200,
          f"/events: 200 and an info event first ({a.events[:1]})")
    if a.events:
        inf = json.loads(a.events[0][2])
        check(inf["model"] == "test-model.safetensors" and inf["placeholder"] is True
              and inf["run"] == j["run"], "the info event: model, placeholder, run id")
    check("retry: 1000" in a.lines, "the stream asks for reconnection after 1 s")
    cmd("p 5")
    check(wait_until(lambda: len(a.results()) == 5, 10), "5 results published: 5 events")
    msgs = [(i, d) for e, i, d in a.events if e == "message"]
    check(msgs == [(str(k + 1), expect(k)) for k in range(5)],
          "each event: id = seq, data = the result with --stdout's digits")
    status, j = get_json(port, "/now")
    check(status == 200 and j["seq"] == 5 and j["live"] is True and 0 <= j["age_s"] < 2
          and {k: j[k] for k in ("seq", "time_s", "arousal", "valence")} == json.loads(expect(4)),
          f"/now: the 5th result, live ({j})")
    status, j = get_json(port, "/history?seconds=60")
    check(status == 200 and j["seconds"] == 60 and
          j["results"] == [json.loads(expect(k)) for k in range(5)],
          "/history?seconds=60: the 5 results in order")
    for q in ["1", "3600"]:
        status, _ = get_json(port, "/history?seconds=" + q)
        check(status == 200, f"/history?seconds={q}: 200")
    status, j = get_json(port, "/history")
    check(status == 200 and j["seconds"] == 60 and len(j["results"]) == 5, "/history: 60 s by default")
    for q in ["0", "3601", "-1", "abc", "1.5", "", "1e3", "99999999999999999999999"]:
        status, _, body = get(port, "/history?seconds=" + q)
        check(status == 400 and b"seconds" in body, f"/history?seconds={q!r}: 400 saying why")

    # Resuming: ?since=SEQ, and Last-Event-ID (which EventSource sends) first.
    b = Viewer(port, "/events?since=2")
    c = Viewer(port, "/events?since=1", {"Last-Event-ID": "4"})
    d = Viewer(port, "/events?since=99")
    wait_until(lambda: len(b.results()) >= 3 and len(c.results()) >= 1 and d.events, 10)
    check([r["seq"] for r in b.results()] == [3, 4, 5], "?since=2: results 3, 4, 5 at once")
    check([r["seq"] for r in c.results()] == [5], "Last-Event-ID: 4 wins over ?since=1: result 5")
    status, _, _ = get(port, "/events?since=x")
    check(status == 400, "?since=x: 400")
    time.sleep(2.2)
    status, j = get_json(port, "/now")
    check(status == 200 and j["live"] is False and j["age_s"] > 2, "/now: not live 2 s after the last result")
    cmd("p 1")
    check(wait_until(lambda: [r["seq"] for r in d.results()] == [6], 10),
          "a ?since= beyond the last result (an earlier run): from the next one")

    many = [Viewer(port) for _ in range(20)]
    check(wait_until(lambda: all(v.events for v in many), 20), "20 more viewers connected")
    cmd("p 50")
    ok = wait_until(lambda: all(len(v.results()) == 50 for v in many) and len(a.results()) == 56, 20)
    check(ok and all([r["seq"] for r in v.results()] == list(range(7, 57)) for v in many), "each of 21 viewers got all 50 results, in order, no gaps "
          f"({sorted(set(len(v.results()) for v in many))}, {len(a.results())})")
    st = stats()
    check(st["now"] == 24 and st["peak"] == 24, f"24 viewers at once ({st})")
    extra = Viewer(port)
    extra.join(10)
    status, hdr, _ = get(port, "/events")
    check(extra.status == 503 and status == 503 and "retry-after" in hdr,
          "the 25th viewer (limit 24): 503 with Retry-After")
    check(stats()["refused"] == 2, "refused viewers counted")
    for v in many + [a, b, c, d]:
        v.close()
    check(wait_until(lambda: stats()["now"] == 0, 10), "closed viewers are let go (within a heartbeat)")

    # A viewer that never reads: the server never waits for it; once it is
    # more than the window (64) behind, it skips ahead and the skipped
    # results are counted, exactly.
    dropped0 = stats()["dropped"]
    s = stuck_viewer(port)
    check(wait_until(lambda: stats()["now"] == 1, 10), "a viewer that never reads is connected")
    # It takes one result first, so that what it misses later is a gap in
    # its ids (on a loaded machine the server may not write to it at all
    # while the burst is published, and then it only starts late).
    cmd("p 1")
    published = 57
    got = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not re.search(rb"^id: 57$", got, re.M):
        try:
            got += s.recv(1 << 16)
        except socket.timeout:
            pass
    check(sse_ids(got) == [57], f"the slow viewer got the result before the burst ({sse_ids(got)})")
    t0 = time.monotonic()
    for _ in range(20):
        cmd("p 1000")
        published += 1000
    took = time.monotonic() - t0
    check(took < 10, f"20000 results published in {took:.2f} s with it connected")
    other = Viewer(port)
    wait_until(lambda: other.events, 10)
    cmd("p 3")
    published += 3
    check(wait_until(lambda: len(other.results()) == 3, 10),
          "a second viewer meanwhile gets its results at once")
    s.settimeout(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not re.search(rb"^id: %d$" % published, got, re.M):
        try:
            got += s.recv(1 << 16)
        except socket.timeout:
            pass
    ids = sse_ids(got)
    gaps = sum(b - a - 1 for a, b in zip(ids, ids[1:]))
    skipped = stats()["dropped"] - dropped0
    check(ids and ids[-1] == published and all(b > a for a, b in zip(ids, ids[1:])),
          f"the slow viewer's ids rise to the last result ({len(ids)} events of {published - 56})")
    check(gaps > 0 and skipped == gaps and ids[:1] == [57],
          f"it skipped {skipped} results (the server's count) == the gaps in its ids")
    s.close()
    other.close()

    bad = bad_requests(port)
    check(not bad, f"{len(BAD_REQUESTS)} malformed/oversized/'..'/wrong-method requests: all 4xx; "
                   f"{len(NOT_HTTP)} that are not HTTP: closed " + "; ".join(bad))
    status, _, _ = get(port, "/now")
    check(status == 200 and feed.poll() is None, "and the server still answers")
    for data, want in [(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505)]:
        status, _ = raw(port, data)
        check(status == want, f"an unknown HTTP version: {status}")

    loris.settimeout(max(1, 20 - (time.monotonic() - loris_t0)))
    try:
        closed = loris.recv(100) == b""
    except (socket.timeout, ConnectionResetError):
        closed = False
    check(closed, f"a half-sent request is closed after the timeout "
                  f"({time.monotonic() - loris_t0:.1f} s)")

    # Stop with a stuck viewer (data queued) and a live one connected.
    s = stuck_viewer(port)
    live = Viewer(port)
    wait_until(lambda: live.events and stats()["now"] == 2, 10)
    for _ in range(10):  # fills the stuck one's buffers
        cmd("p 1000")
        published += 1000
    wait_until(lambda: live.results() and live.results()[-1]["seq"] == published, 20)
    cmd("p 50")  # just before the stop
    published += 50
    t0 = time.monotonic()
    feed.stdin.write("q\n")
    feed.stdin.flush()
    try:
        rc = feed.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    live.join(10)
    s.close()
    err = open(os.path.join(WORK, "feed.err")).read()
    check(rc == 0 and took < 5, f"stops in {took:.2f} s with a stuck viewer connected (rc {rc})")
    seqs = [r["seq"] for r in live.results()]
    check(live.ended and seqs[-51:] == list(range(published - 50, published + 1)),
          f"a connected viewer gets every result published before the stop ({seqs[-1:]})")
    check(sanitizer_clean(err), "no sanitizer report" + ("" if sanitizer_clean(err) else ": " + err[-2000:]))


def check_cli():
    ghost = f"vw-none-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=ghost, JACK_NO_START_SERVER="1")

    def run(*args):
        return subprocess.run([VALAR, "listen", "--name", cn("valar"), "--backend", "jack",
                               "--no-osc", *args],
                              capture_output=True, text=True, timeout=60, env=env)

    r = subprocess.run([VALAR, "listen", "--help"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and all(w in r.stdout for w in ["--http", "/?overlay=1", "/now",
                                                            "/history?seconds=N", "PORT 0"]),
          "--help explains --http, the overlay and the JSON")
    for spec in ["abc", "65536", "-1", "::1:8080", ":8080", "", "8080x", "[::1]8080", "[::1:80"]:
        r = run("--http", spec)
        check(r.returncode == 2 and "--http" in r.stderr and "[ADDR:]PORT" in r.stderr,
              f"--http {spec!r}: usage error, exit 2 ({r.stderr.strip().splitlines()[0] if r.stderr else ''})")
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    r = run("--http", str(port))
    check(r.returncode == 1 and f"--http {port}: cannot listen: Address already in use" in r.stderr,
          f"a port in use: exit 1 naming it ({r.stderr.strip().splitlines()[-1] if r.stderr else ''})")
    held.close()
    r = run("--http", "0.0.0.0:0")
    check("warning: the web view listens on 0.0.0.0:" in r.stderr and "anyone" in r.stderr,
          "0.0.0.0: a warning that others can watch")
    check(r.returncode == 1 and "no JACK server running" in r.stderr,
          "(and then the missing JACK server ends it: exit 1)")
    r = run("--http", "localhost:0")
    check("web view at http://127.0.0.1:" in r.stderr and "warning" not in r.stderr,
          "localhost: the loopback address, no warning")
    r = run("--http", "0", "--quiet")
    check("web view" not in r.stderr, "--quiet: no note about the web view")


def check_browser():
    jack = Jack(procs, JCTL, "browser")
    wav = make_file("browser.wav", 6.2, 2, seed=1)
    ref = analyze(wav, "--streaming")
    n = len(ref)
    osc = OscReceiver()
    v, port = listen(jack, "listen", "--reconnect", "--wait", "--no-midi",
                     "--osc-url", osc.url)
    url = f"http://127.0.0.1:{port}/"
    d = browser()
    try:
        d.get(url)
        check(wait_until(lambda: d.execute_script("return valar.state") == "waiting", 20),
              "the page loads and connects: waiting for the first result")
        st = page_state(d)
        name, ph = default_model("streaming")
        check(st["model"] == name and st["placeholder"] == ph and st["banner"] == ph,
              f"it names the model ({st['model']}) and shows the placeholder warning "
              f"exactly when the model is one ({ph})")
        pl = jplay(procs, jack, JPLAY, wav, PLAYER)
        check(wait_until(lambda: len(page_state(d)["results"]) >= n, 90),
              f"the page received the {n} results of the file")
        wait_until(lambda: len(osc.frames()) >= n, 10)
        st = drawn_state(d)
        frames = osc.frames()
        got = st["results"]
        check([r["seq"] for r in got] == list(range(1, len(got) + 1)), "the page holds results 1, 2, ...")
        check([row_of(r) for r in got[:n]] == ref,
              "the values the page holds == valar analyze --streaming (same digits)")
        common = min(len(got), len(frames))
        check(common >= n and all(
            f[0] == r["time_s"] and abs(f[1] - r["arousal"]) < 2e-6 and abs(f[2] - r["valence"]) < 2e-6
            for f, r in zip(frames, got)), f"and == the OSC /valar/frame messages ({common} compared)")
        check(st["state"] == "live" and st["text"] == "live", "status: live")
        last = st["results"][-1]
        dr = st["drawn"]
        check(dr and dr["seq"] == last["seq"] and abs(dr["valence"] - last["valence"]) < 1e-6
              and abs(dr["arousal"] - last["arousal"]) < 1e-6,
              f"the point is drawn at the last result ({dr})")
        check(st["curvePoints"] == len(st["results"]), f"the curves hold all {len(st['results'])} results")
        check(st["arousal"] == ("+" if last["arousal"] >= 0 else "−") + f"{abs(last['arousal']):.2f}",
              f"the readout shows it ({st['arousal']})")
        shot = os.path.join(WORK, "live.png")
        pos = screenshot_of(d, shot)["point"]
        blank_ok, colours = not_blank(shot)
        check(blank_ok, f"screenshot {shot}: not blank ({colours} colours)")
        px = image(shot).convert("RGB").getpixel((round(pos[0]), round(pos[1])))
        check(min(px) >= 230, f"the point is there in the picture, white: {px}")
        errs = console_errors(d)
        check(not errs, "no console errors: " + "; ".join(errs))

        # The JACK server goes away: no more results; valar waits for it.
        finish(pl)
        jack.stop()
        t_stop = time.monotonic()
        check(wait_until(lambda: page_state(d)["state"] == "stalled", 10),
              f"the server stopped: the page says stalled "
              f"({time.monotonic() - t_stop:.1f} s later; '{page_state(d)['text']}')")
        status, j = get_json(port, "/now")
        check(status == 200 and j["live"] is False and j["age_s"] > 2, f"/now: not live ({j['age_s']} s)")
        time.sleep(0.5)
        shot = os.path.join(WORK, "stalled.png")
        pos = screenshot_of(d, shot)["point"]
        px = image(shot).convert("RGB").getpixel((round(pos[0]), round(pos[1])))
        check(max(px) < 180 and max(px) - min(px) < 10, f"stalled: the point turns grey {px}")

        # Hours of results: the page keeps 5 minutes and a bounded heap.
        mem = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const t0 = valar.results[valar.results.length - 1].time_s + 1;
            let k = 0;
            gc();
            const before = performance.memory.usedJSHeapSize;
            let maxLen = 0;
            function step() {
              for (let i = 0; i < 100; i++, k++)
                valar.ingest({seq: 1e6 + k, time_s: t0 + 0.5 * k,
                              arousal: Math.sin(k / 50), valence: Math.cos(k / 70)});
              maxLen = Math.max(maxLen, valar.results.length);
              if (k < 20000) requestAnimationFrame(step);
              else requestAnimationFrame(() => { gc();
                done([maxLen, valar.curvePoints, performance.memory.usedJSHeapSize - before]); });
            }
            step();""")
        check(mem[0] <= 660 and mem[1] <= 601,
              f"20000 results (2.8 h): at most {mem[0]} kept, {mem[1]} drawn (5 min = 600)")
        check(mem[2] < 2e6, f"JS heap grew by {mem[2] / 1e3:.0f} kB")

        # Reloaded: the history, still stalled.
        d.get(url)
        check(wait_until(lambda: page_state(d)["state"] == "stalled", 10),
              "reloaded: the past results, and stalled (" + page_state(d)["text"] + ")")
        last = page_state(d)["results"][-1]["seq"]
        check(last >= n, f"(the history: results up to {last})")
        # The server comes back: valar reconnects, a new stream from time 0.
        jack.start()
        pl = jplay(procs, jack, JPLAY, wav, PLAYER, "jplay2")
        check(wait_until(lambda: page_state(d)["state"] == "live" and
                         page_state(d)["results"][-1]["seq"] >= last + 3, 60),
              "the server is back: live again")
        st = page_state(d)
        check(st["results"][0]["seq"] == last + 1 and st["results"][0]["time_s"] == 0.0
              and row_of(st["results"][0]) == ref[0],
              "a new stream, from time 0 (the old one cleared), the same first result")
        errs = console_errors(d)
        check(not errs, "no console errors: " + "; ".join(errs))

        # Overlay: transparent, no chrome.
        d.execute_cdp_cmd("Emulation.setDefaultBackgroundColorOverride",
                          {"color": {"r": 0, "g": 0, "b": 0, "a": 0}})
        d.get(url + "?overlay=1")
        wait_until(lambda: len(d.execute_script("return valar.results")) >= 2, 30)
        bg = d.execute_script("return [getComputedStyle(document.documentElement).backgroundColor,"
                              " getComputedStyle(document.body).backgroundColor,"
                              " getComputedStyle(document.querySelector('header')).display,"
                              " getComputedStyle(document.querySelector('footer')).display,"
                              " getComputedStyle(document.getElementById('readout')).display]")
        check(bg[:2] == ["rgba(0, 0, 0, 0)"] * 2, f"overlay: transparent html and body ({bg[:2]})")
        check(bg[2:] == ["none"] * 3, "overlay: no header, footer or readout")
        shot = os.path.join(WORK, "overlay.png")
        d.save_screenshot(shot)
        img = image(shot).convert("RGBA")
        alpha = np.asarray(img)[:, :, 3]
        clear = float((alpha == 0).mean())
        check(alpha[0, -1] == 0 and alpha[-1, -1] == 0 and clear > 0.3,
              f"overlay screenshot: {100 * clear:.0f} % fully transparent pixels, corners too")
        check((alpha > 0).mean() > 0.05, "and the plane and curves are drawn")
        errs = console_errors(d)
        check(not errs, "no console errors: " + "; ".join(errs))
    finally:
        d.quit()
    rc = finish(v)
    err = procs.text(v, "err")
    check(rc == 0 and "waiting for it to come back" in err and "reconnected" in err,
          f"valar listen waited for the server, reconnected, exits 0 (rc {rc})")
    check(sanitizer_clean(err), "no sanitizer report")
    osc.close()


def check_robust():
    jack = Jack(procs, JCTL, "robust")
    wav = make_file("robust.wav", 8.2, 2, seed=2)
    ref = analyze(wav, "--streaming")
    n = len(ref)
    osc = OscReceiver()
    v, port = listen(jack, "listen", "--wait", "--stdout", "--osc-url",
                     osc.url)
    viewers = [Viewer(port) for _ in range(20)]
    check(wait_until(lambda: all(x.events for x in viewers), 30), "20 viewers connected")
    stuck = stuck_viewer(port)
    check(wait_until(lambda: answered(stuck), 10),
          "a viewer that never reads is admitted (its answer waits unread)")
    loris = socket.create_connection(("127.0.0.1", port))
    loris.sendall(b"GET /now HTTP/1.1\r\nHost: x\r\n")
    # 50 more: the limit is 64 event streams (20 + the stuck one + 43).
    more = [Viewer(port) for _ in range(50)]
    wait_until(lambda: all(x.status is not None or x.ended for x in more), 30)
    oks = sum(x.status == 200 for x in more)
    check(oks == 43 and sum(x.status == 503 for x in more) == 7,
          f"50 more viewers: {oks} admitted, the rest 503 (at most 64 at once)")

    stop = threading.Event()
    bad, slow = [], []

    def barrage():
        while not stop.is_set():
            bad.extend(bad_requests(port))

    times = []

    def poll_now():
        while not stop.is_set():
            t0 = time.monotonic()
            status, _, _ = get(port, "/now")
            dt = time.monotonic() - t0
            times.append(dt)
            if status != 200 or dt > 2:
                slow.append((status, round(dt, 2)))
            time.sleep(0.1)

    def history():
        while not stop.is_set():
            status, _, body = get(port, "/history?seconds=3600")
            if status != 200 or not body.endswith(b"]}\n"):
                bad.append(f"/history: {status}")

    threads = [threading.Thread(target=f, daemon=True) for f in (barrage, poll_now, history, history)]
    for t in threads:
        t.start()
    pl = jplay(procs, jack, JPLAY, wav, PLAYER)
    done = wait_until(lambda: "done" in procs.text(pl) and len(osc.frames()) >= n + 2, 120)
    stop.set()
    for t in threads:
        t.join(60)
    check(done, f"the file was played and analysed ({len(osc.frames())} OSC frames)")
    check(not bad, "bad requests during playback: all 4xx " + "; ".join(bad[:5]))
    check(not slow, f"/now answered within 2 s throughout {slow[:5]} (median "
                    f"{1e3 * sorted(times)[len(times) // 2]:.1f} ms, max {1e3 * max(times):.1f} ms "
                    f"of {len(times)})")
    for x in more:
        x.close()
    rc = finish(v)
    err = procs.text(v, "err")
    loris.close()
    stuck.close()
    for x in viewers:
        x.join(10)
    rows = (procs.text(v).strip().split("\n"))[1:]
    frames = osc.frames()
    total = len(rows)
    check(rc == 0, f"SIGINT with stuck viewers connected: exit 0 (rc {rc})")
    check(rows[:n] == ref, f"stdout: the {n} rows of the file == analyze --streaming")
    check(len(frames) == total and all(
        f"{f[0]:.1f}" == r.split(",")[0] and abs(f[1] - float(r.split(",")[1])) < 2e-6
        and abs(f[2] - float(r.split(",")[2])) < 2e-6 for f, r in zip(frames, rows)),
        f"OSC: every one of the {total} results, equal to stdout")
    ok = all([row_of(r) for r in x.results()] == rows and x.ended for x in viewers)
    check(ok, f"each of the 20 viewers got all {total} results, == stdout, and its stream ended "
              f"({sorted(set(len(x.results()) for x in viewers))})")
    check("0 samples dropped" in err and "not sent" not in err, "no samples or results dropped")
    m = re.search(r"web view: (\d+) viewers \((\d+) at most at once\), (\d+) results skipped "
                  r"for slow viewers, (\d+) viewers refused", err)
    check(m is not None and int(m.group(2)) == 64 and int(m.group(4)) == 7,
          "summary: " + (m.group(0) if m else err[-500:]))
    check(sanitizer_clean(err), "no sanitizer report" + ("" if sanitizer_clean(err) else err[-3000:]))
    osc.close()


def check_alloc():
    out = os.path.join(WORK, "alloc.txt")
    jack = Jack(procs, JCTL, "alloc", period=64)
    wav = make_file("alloc.wav", 4.2, 2, seed=3)
    ref = analyze(wav, "--streaming")
    osc = OscReceiver()
    env = dict(jack.env, LD_PRELOAD=ALLOC_SO, ALLOC_COUNT_OUT=out)
    v, port = listen(jack, "listen", "--wait", "--stdout", "--count", str(len(ref)), "--osc-url",
                     osc.url, env=env)
    viewers = [Viewer(port) for _ in range(4)]
    wait_until(lambda: all(x.events for x in viewers), 20)
    stop = threading.Event()

    def fetch():
        while not stop.is_set():
            for path in ("/", "/now", "/history?seconds=60", "/nothing"):
                get(port, path)
            time.sleep(0.05)

    t = threading.Thread(target=fetch, daemon=True)
    t.start()
    pl = jplay(procs, jack, JPLAY, wav, PLAYER)
    try:
        rc = v.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    stop.set()
    t.join(30)
    rows = procs.text(v).strip().split("\n")[1:]
    check(rc == 0 and rows == ref, f"runs normally with viewers: rows == analyze (rc {rc})")
    for x in viewers:
        x.join(10)
    check(all([row_of(r) for r in x.results()] == ref for x in viewers),
          "the 4 viewers got every result")
    counts = open(out).read() if os.path.exists(out) else ""
    m = re.search(r"sections=(\d+) allocations=(\d+) frees=(\d+)", counts)
    if check(m is not None, f"alloc_count wrote its report ({counts.strip()})"):
        s, a, f = map(int, m.groups())
        check(s > 1000, f"{s} JACK process callbacks counted")
        check(a == 0 and f == 0, f"JACK callback with --http on: {a} allocations, {f} frees")
    finish(pl)
    osc.close()


def check_plot():
    a = make_file("mono.wav", 4.2, 1, seed=4)
    b = make_file('two & "three" <b>.wav', 3.1, 2, seed=5)
    short = os.path.join(WORK, "short.wav")
    write_wav(short, np.full(RATE // 4, 0.1))
    svg = os.path.join(WORK, "plot.svg")
    files = [a, b, short]
    r = subprocess.run([VALAR, "analyze", "-q", "--plot", svg, *files], capture_output=True,
                       text=True, timeout=120)
    check(r.returncode == 0 and r.stdout.startswith("file,time_s"),
          f"analyze --plot with 3 files: exit 0, CSV still on stdout (rc {r.returncode} {r.stderr})")
    ns = {"s": "http://www.w3.org/2000/svg"}
    try:
        root = ET.parse(svg).getroot()
    except ET.ParseError as e:
        check(False, f"the SVG parses as XML: {e}")
        return
    check(root.tag == "{http://www.w3.org/2000/svg}svg", "an XML document with an <svg> root")
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    name, ph = default_model("offline")
    check(any(name in t for t in texts) and
          any("placeholder" in t.replace(name, "") for t in texts) == ph,
          f"names the model ({name}), with a placeholder warning exactly when it is one ({ph})")
    ph_model = os.path.join(os.environ["VALAR_MODEL_DIR"], "placeholder-offline.safetensors")
    svg2 = os.path.join(WORK, "plot-placeholder.svg")
    r = subprocess.run([VALAR, "analyze", "-q", "-m", ph_model, "--plot", svg2, a],
                       capture_output=True, text=True, timeout=120)
    t2 = ["".join(t.itertext()) for t in ET.parse(svg2).getroot().iter(
        "{http://www.w3.org/2000/svg}text")] if r.returncode == 0 else []
    check(any("placeholder-offline.safetensors" in t and "placeholder" in t[30:] for t in t2),
          "with the placeholder model: names it and warns")
    panels = root.findall("s:g[@class='file']", ns)
    check(len(panels) == 3, f"one panel per file ({len(panels)})")
    for i, (path, g) in enumerate(zip(files, panels)):
        ref = analyze(path)
        pts = g.findall(".//s:circle[@class='pt']", ns)
        gtexts = ["".join(t.itertext()) for t in g.iter("{http://www.w3.org/2000/svg}text")]
        check(path in gtexts, f"panel {i} is titled with the file name {os.path.basename(path)!r}")
        check(len(pts) == len(ref), f"panel {i}: {len(pts)} points for {len(ref)} results")
        vals = [f"{p.get('data-t')},{p.get('data-a')},{p.get('data-v')}" for p in pts]
        check(vals == ref, f"panel {i}: each point holds its result's values (== the CSV)")
        ok = all(abs(float(p.get("cx")) - (668 + (float(p.get("data-v")) + 1) / 2 * 300)) < 0.01
                 for p in pts)
        ys = [float(p.get("cy")) for p in pts]
        ok &= all(abs((ys[k] - ys[0]) + (float(pts[k].get("data-a")) - float(pts[0].get("data-a")))
                      * 150) < 0.02 for k in range(len(pts)))
        check(ok, f"panel {i}: valence along x, arousal up the y axis")
        lines = {p.get("class"): p for p in g.findall(".//s:polyline", ns) if p.get("class")}
        check(all(len(lines[k].get("points").split()) == len(ref) for k in ("arousal", "valence"))
              if ref else "shorter than 500 ms: no result" in gtexts,
              f"panel {i}: arousal and valence curves with one vertex per result")
    # --streaming, and a single file.
    s1 = os.path.join(WORK, "one.svg")
    r = subprocess.run([VALAR, "analyze", "-q", "-s", "--plot", s1, a], capture_output=True,
                       text=True, timeout=120)
    pts = ET.parse(s1).getroot().findall(".//s:circle[@class='pt']", ns)
    check(r.returncode == 0 and [f"{p.get('data-t')},{p.get('data-a')},{p.get('data-v')}"
                                 for p in pts] == analyze(a, "--streaming"),
          "--streaming --plot: the streaming model's results")
    # Atomic: unwritable place fails first; a failed run keeps the old file.
    r = subprocess.run([VALAR, "analyze", "--plot", os.path.join(WORK, "no", "such", "dir.svg"), a],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "--plot" in r.stderr and "not a writable directory" in r.stderr
          and r.stdout == "", f"--plot into a missing folder: exit 1 before analysing ({r.stderr.strip()})")
    before = open(s1, "rb").read()
    junk = os.path.join(WORK, "junk.wav")
    open(junk, "wb").write(b"RIFF....WAVEjunk")
    r = subprocess.run([VALAR, "analyze", "--plot", s1, junk], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 1 and open(s1, "rb").read() == before
          and not [f for f in os.listdir(WORK) if f.startswith("one.svg.")],
          "nothing analysed: the existing plot is left untouched, no temporary file")
    # Like -o: a file that fails among others is left out (and named), exit 1.
    r = subprocess.run([VALAR, "analyze", "-q", "--plot", s1, junk, a], capture_output=True,
                       text=True, timeout=60)
    panels = ET.parse(s1).getroot().findall("s:g[@class='file']", ns)
    check(r.returncode == 1 and junk in r.stderr and len(panels) == 1
          and len(panels[0].findall(".//s:circle[@class='pt']", ns)) == len(analyze(a)),
          "a file that fails among others: left out of the plot, named, exit 1")
    check(sanitizer_clean(r.stderr), "(the kept results are freed once: no double free)")
    r = subprocess.run([VALAR, "analyze", "-q", "--deam", WORK, "--plot", s1, junk, a],
                       capture_output=True, text=True, timeout=60)
    rows = open(os.path.join(WORK, "arousal.csv")).read().splitlines()
    check(r.returncode == 1 and sanitizer_clean(r.stderr) and len(rows) == 2,
          "--deam and --plot together, a failed file first: both written, no double free")
    # It renders.
    d = browser(1000, 1310)
    try:
        d.get("file://" + svg)
        size = d.execute_script("const r = document.documentElement.getBoundingClientRect();"
                                "return [r.width, r.height]")
        shot = os.path.join(WORK, "plot.png")
        d.save_screenshot(shot)
        ok, colours = not_blank(shot)
        check(ok and size == [1000, 78 + 3 * 410], f"Chromium renders it {size}: screenshot {shot} "
                                                   f"not blank ({colours} colours)")
        rgb = image(shot).convert("RGB")
        hits = {c: 0 for c in [(0xe8, 0x59, 0x0c), (0x1c, 0x7e, 0xd6)]}
        for px in rgb.getdata():
            if px in hits:
                hits[px] += 1
        check(all(h > 50 for h in hits.values()), f"the arousal and valence curves are drawn {hits}")
        errs = console_errors(d)
        check(not errs, "no console errors: " + "; ".join(errs))
    finally:
        d.quit()


def figures():
    """docs/img/live.png: examples/demo.ogg (44.1 kHz) played three times
    through JACK into valar listen --http, the page after a minute."""
    global RATE
    demo = os.path.join(SRC, "examples", "demo.ogg")
    out = os.path.join(SRC, "docs", "img", "live.png")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    jack = Jack(procs, JCTL, "figures", rate=44100)
    v, port = listen(jack, "listen", "--wait", "--no-osc", "--no-midi")
    d = browser(1200, 760)
    try:
        d.get(f"http://127.0.0.1:{port}/")
        pl = jplay(procs, jack, JPLAY, demo, PLAYER, "jplay", "-l", "3")
        wait_until(lambda: "done" in procs.text(pl), 120, step=0.5)
        time.sleep(1.2)
        d.save_screenshot(out)
        print(f"wrote {out}: {page_state(d)['text']}, "
              f"{len(page_state(d)['results'])} results; errors {console_errors(d)}")
    finally:
        d.quit()
    finish(v)
    return 0


def main():
    os.makedirs(WORK, exist_ok=True)
    for f in os.listdir(WORK):
        p = os.path.join(WORK, f)
        shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    status = 0
    try:
        {"http": check_http, "cli": check_cli, "browser": check_browser, "robust": check_robust,
         "alloc": check_alloc, "plot": check_plot}.get(CHECK, lambda: None)()
        if CHECK == "figures":
            status = figures()
        elif CHECK not in ("http", "cli", "browser", "robust", "alloc", "plot"):
            print("unknown check " + CHECK)
            return 2
    except Exception as e:  # a broken setup is a failure, with the reason
        import traceback
        traceback.print_exc()
        check(False, f"{type(e).__name__}: {e}")
    finally:
        procs.cleanup()
    if failures:
        print(f"{len(failures)} failed; logs in {WORK}")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
