"""Doc tests: the commands that README.md and docs/*.md show are run, so the
documentation cannot rot.

    test_docs.py run PAGE      run PAGE's runnable blocks (PAGE: README.md,
                               docs/listen.md, ...) and check their output
    test_docs.py links PAGE... every relative link and #anchor of the pages
                               resolves; every page with runnable blocks is
                               one of PAGE... (those meson runs); no block
                               has an unknown marker

Environment: VALAR_SRC (source tree), VALAR_BUILD (the build under test).

Markers (the info string of a fenced block):

    ```sh runnable [jack] [timeout=S]
    ```text output

A `sh runnable` block runs with bash (`set -e -o pipefail`) in a scratch copy
of the source tree whose `build` is the build under test (for a page whose
blocks run `meson setup build` themselves, the quick start, a fresh build in
the copy), with `build/src` and `build/src/train` first on PATH (so `valar`
and `valar-train` are the ones under test), HOME a scratch directory holding
a small music library (~/Music), and the blocks of a page run in order in
the same copy. Each block runs in a private mount and network namespace
(run_block.sh): its own /dev/shm and loopback, so fixed JACK names and ports
do not meet those of tests running in parallel; `jack` starts a dummy JACK
server first. A block must exit 0; background jobs it leaves are stopped
with SIGTERM and must exit 0 too.

A `text output` block right after a runnable block is what that block
prints (stdout and stderr): `...` alone on a line stands for any lines,
`...` inside a line for any text, numbers agree within 2e-6.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from testutil import check, failures  # noqa: E402

SRC = os.environ.get("VALAR_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("VALAR_BUILD", os.path.join(SRC, "build"))
HERE = os.path.dirname(os.path.abspath(__file__))
NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


def blocks(path):
    """Fenced blocks of a Markdown file: dicts with info words, text lines
    (the fence's indentation removed) and the line number of the fence."""
    out, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = re.match(r"^( *)(```+)(.*)$", line)
            if cur is None and m:
                cur = {"indent": len(m.group(1)), "fence": m.group(2), "words": m.group(3).split(),
                       "lines": [], "line": n}
            elif cur is not None and m and m.group(2) == cur["fence"] and not m.group(3).strip():
                out.append(cur)
                cur = None
            elif cur is not None:
                ind = cur["indent"]
                cur["lines"].append(line[ind:] if line[:ind].strip() == "" else line)
    if cur is not None:
        raise ValueError(f"{path}:{cur['line']}: code block never closed")
    return out


def runnable(b):
    return len(b["words"]) >= 2 and b["words"][0] == "sh" and b["words"][1] == "runnable"


def is_output(b):
    return b["words"][:2] == ["text", "output"]


def options(b):
    opts = {"jack": False, "timeout": 300}
    for w in b["words"][2:]:
        if w == "jack":
            opts["jack"] = True
        elif w.startswith("timeout="):
            opts["timeout"] = int(w.split("=", 1)[1])
        else:
            raise ValueError(f"unknown marker word {w!r}")
    return opts


# ---- expected output -------------------------------------------------------

def line_pattern(exp):
    """A regex for one expected line and the numbers it expects."""
    parts, nums = [], []
    for i, piece in enumerate(exp.split("...")):
        if i:
            parts.append(".*?")
        pos = 0
        for m in re.finditer(NUM, piece):
            parts.append(re.escape(piece[pos:m.start()]))
            parts.append(f"({NUM})")
            nums.append(float(m.group()))
            pos = m.end()
        parts.append(re.escape(piece[pos:]))
    return re.compile("".join(parts)), nums


def line_matches(exp, act):
    pat, nums = line_pattern(exp.rstrip())
    m = pat.fullmatch(act.rstrip())
    if not m:
        return False
    return all(abs(float(g) - e) <= 2e-6 + 1e-9 * abs(e) for g, e in zip(m.groups(), nums))


def output_matches(expected, actual):
    """expected lines (with '...' lines) against actual lines, both anchored."""
    memo = {}

    def go(i, j):
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(expected):
            r = j == len(actual)
        elif expected[i].strip() == "...":
            r = any(go(i + 1, k) for k in range(j, len(actual) + 1))
        else:
            r = j < len(actual) and line_matches(expected[i], actual[j]) and go(i + 1, j + 1)
        memo[(i, j)] = r
        return r

    sys.setrecursionlimit(100000)
    return go(0, 0)


# ---- running a page --------------------------------------------------------

def unshare_cmd():
    """How to enter a private mount + network namespace here, or None."""
    for cmd in (["unshare", "-mn"], ["unshare", "-rmn"]):
        if cmd == ["unshare", "-mn"] and os.geteuid() != 0:
            continue
        r = subprocess.run(cmd + ["sh", "-c", "mount -t tmpfs t /dev/shm && ip link set lo up"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return cmd
    return None


def copy_source(dst):
    """The source tree as a reader's checkout: no build dirs, logs or VCS."""
    def ignore(d, names):
        if os.path.abspath(d) != os.path.abspath(SRC):
            return []
        return [n for n in names if n.startswith((".", "build")) or n.endswith(".log")]
    shutil.copytree(SRC, dst, symlinks=True, ignore=ignore)


def make_home(home, src):
    """A HOME with a small library: ~/Music/<artist>/<song> in three formats."""
    music = os.path.join(home, "Music")
    demo = os.path.join(src, "examples", "demo.ogg")
    for rel, fmt in (("Demo Band/01 Chord and drone.ogg", None),
                     ("Demo Band/02 Again.flac", "flac"),
                     ("Other/Live take.wav", "wav")):
        path = os.path.join(music, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if fmt is None:
            shutil.copy(demo, path)
        else:
            subprocess.run(["sox", demo, path], check=True)


def page_env(work, src, home):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VALAR_", "JACK_", "LV2_", "MESON"))}
    build = os.path.join(src, "build")
    env["PATH"] = f"{build}/src:{build}/src/train:" + env.get("PATH", "/usr/bin:/bin")
    env["HOME"] = home
    env["LC_ALL"] = "C.UTF-8"
    env["TMPDIR"] = os.path.join(work, "tmp")
    os.makedirs(env["TMPDIR"], exist_ok=True)
    return env


def run_page(page):
    path = os.path.join(SRC, page)
    bl = blocks(path)
    todo = []
    for k, b in enumerate(bl):
        if runnable(b):
            nxt = bl[k + 1] if k + 1 < len(bl) and is_output(bl[k + 1]) else None
            todo.append((b, nxt))
    if not check(todo, f"{page} has runnable blocks"):
        return
    ns = unshare_cmd()
    if ns is None:
        print("SKIP: no private namespaces here (unshare -mn as root, or -rmn with user "
              "namespaces): the blocks use fixed JACK names and ports", flush=True)
        sys.exit(77)

    name = re.sub(r"[^A-Za-z0-9]+", "-", page)
    work = os.path.join(BUILD, "tests", "docs", "work", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    src = os.path.join(work, "valar")
    copy_source(src)
    fresh = any(re.search(r"\bmeson setup build\b", "\n".join(b["lines"])) for b, _ in todo)
    if not fresh:
        os.symlink(BUILD, os.path.join(src, "build"))
    home = os.path.join(work, "home")
    make_home(home, src)
    env = page_env(work, src, home)

    for n, (b, out) in enumerate(todo, 1):
        opts = options(b)
        what = f"{page}:{b['line']}"
        script = os.path.join(work, f"block{n}.sh")
        with open(script, "w") as f:
            f.write("\n".join(b["lines"]) + "\n")
        log = os.path.join(work, f"block{n}.log")
        print(f"---- {what} ({' '.join(b['words'])})\n" + "\n".join(b["lines"]), flush=True)
        with open(log, "w") as lf:
            p = subprocess.Popen(ns + ["bash", os.path.join(HERE, "run_block.sh"), script,
                                       "1" if opts["jack"] else "0"],
                                 cwd=src, env=env, stdin=subprocess.DEVNULL, stdout=lf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(opts["timeout"])
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
                rc = "timeout"
        with open(log, encoding="utf-8", errors="replace") as lf:
            text = lf.read()
        lines = text.replace("\r", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not check(rc == 0, f"{what} exits 0 (got {rc})"):
            print("\n".join(lines[-40:]))
            continue
        if out is not None:
            if not check(output_matches(out["lines"], lines),
                         f"{what}: the output is the one shown at line {out['line']}"):
                print("expected:\n  " + "\n  ".join(out["lines"]))
                print("got:\n  " + "\n  ".join(lines[-60:]))


# ---- links -----------------------------------------------------------------

def slugs(path):
    """GitHub's heading anchors of a Markdown file."""
    seen, out = {}, set()
    in_code = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^ *```", line):
                in_code = not in_code
            m = re.match(r"^#{1,6} +(.*?) *#*$", line)
            if m and not in_code:
                s = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
                k = seen.get(s, 0)
                seen[s] = k + 1
                out.add(s if k == 0 else f"{s}-{k}")
            for a in re.findall(r'<a (?:name|id)="([^"]+)"', line):
                out.add(a)
    return out


def prose(path):
    """The lines of a Markdown file outside fenced blocks, with numbers."""
    in_code = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if re.match(r"^ *```", line):
                in_code = not in_code
                continue
            if not in_code:
                yield n, line


def check_links(pages):
    all_pages = ["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir(os.path.join(SRC, "docs")) if f.endswith(".md"))
    all_pages += [p for p in ("models/README.md",) if os.path.exists(os.path.join(SRC, p))]
    bad = []
    for page in all_pages:
        path = os.path.join(SRC, page)
        for n, line in prose(path):
            line = re.sub(r"`[^`]*`", "", line)
            for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
                if not os.path.exists(dest):
                    bad.append(f"{page}:{n}: {target}: no such file")
                elif anchor and dest.endswith(".md") and anchor not in slugs(dest):
                    bad.append(f"{page}:{n}: {target}: no heading #{anchor} in {os.path.relpath(dest, SRC)}")
        try:
            page_blocks = blocks(path)
        except ValueError as e:
            bad.append(str(e))
            page_blocks = []
        for b in page_blocks:
            w = b["words"]
            if "runnable" in w or "output" in w:
                try:
                    if runnable(b):
                        options(b)
                    elif not is_output(b):
                        raise ValueError(f"marker words in the wrong order: {w}")
                except ValueError as e:
                    bad.append(f"{page}:{b['line']}: {e}")
        has_runnable = any(runnable(b) for b in page_blocks)
        check(not has_runnable or page in pages,
              f"{page}: its runnable blocks are run by a meson test" if has_runnable
              else f"{page}: no runnable blocks")
    for b in bad:
        print("  " + b)
    check(not bad, f"every link, anchor and marker of {len(all_pages)} pages is valid")

    # docs/testing.md describes every test of the build, by name.
    r = subprocess.run(["meson", "introspect", BUILD, "--tests"], capture_output=True, text=True)
    if check(r.returncode == 0, "meson introspect --tests runs"):
        import json
        with open(os.path.join(SRC, "docs", "testing.md"), encoding="utf-8") as f:
            testing = f.read()
        names = sorted({t["name"] for t in json.loads(r.stdout)})
        missing = [n for n in names if f"`{n}`" not in testing and not re.search(
            rf"`{re.escape(n.rsplit('-', 1)[0])}-\d+`|`{re.escape(n)}`", testing)]
        check(not missing, f"docs/testing.md names each of the {len(names)} tests of this build "
              f"(missing: {missing})")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        run_page(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "links":
        check_links(sys.argv[2:])
    else:
        print(__doc__)
        sys.exit(2)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
