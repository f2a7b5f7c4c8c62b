"""The man pages are well-formed and in step with --help (test docs-man).

* valar(1) and valar-train(1), as the build writes them (version filled
  in), render with `groff -ww` without a warning, through `man -l`, and
  `lexgrog` finds their NAME line (what mandb and whatis read).
* Every option that `valar analyze --help` lists is in the ANALYZE OPTIONS
  section of valar(1) and nothing else is; likewise `valar listen --help`
  and LISTEN OPTIONS, and `valar-train --help` and the OPTIONS of
  valar-train(1); a short option goes with the same long one on both
  sides. The flag table of docs/training.md lists exactly the options of
  `valar-train --help`.

An option definition in --help is an indented line that starts with '-':
its first field (up to two spaces) holds the option names, as in
`  -m, --model FILE` or `  --l1 X, --l2 X`; in a man page it is the tag
line of a .TP paragraph.

usage: test_man.py VALAR VALAR_TRAIN MANDIR   (env: VALAR_SRC)
"""
import os
import re
import subprocess
import sys

VALAR, TRAIN, MANDIR = sys.argv[1:4]
SRC = os.environ["VALAR_SRC"]
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
from testutil import check, failures  # noqa: E402

OPT = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)")


def definitions(lines):
    """[set of option names] per option-definition line."""
    out = []
    for line in lines:
        m = re.match(r"^\s+(-\S.*?)(?:\s{2,}|$)", line)
        if m:
            names = set(OPT.findall(m.group(1)))
            if names:
                out.append(names)
    return out


def summary(defs):
    """(all names, {short: long}) of definition lines."""
    names = set().union(*defs) if defs else set()
    pairs = {}
    for d in defs:
        shorts = [n for n in d if not n.startswith("--")]
        longs = [n for n in d if n.startswith("--")]
        if len(shorts) == 1 and len(longs) == 1:
            pairs[shorts[0]] = longs[0]
    return names, pairs


def help_text(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"{' '.join(os.path.basename(c) for c in cmd)} exits 0")
    return (r.stdout + r.stderr).splitlines()


def render(page):
    env = dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "-l", "--warnings", page], capture_output=True, text=True, env=env,
                       timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(),
          f"man -l {os.path.basename(page)} renders without warnings {r.stderr.strip()[:300]}")
    g = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True, text=True,
                       timeout=60)
    check(g.returncode == 0 and not g.stderr.strip(),
          f"groff -ww finds nothing to warn about in {os.path.basename(page)} {g.stderr.strip()[:300]}")
    lg = subprocess.run(["lexgrog", page], capture_output=True, text=True, timeout=60)
    check(lg.returncode == 0 and " - " in lg.stdout,
          f"lexgrog reads the NAME line of {os.path.basename(page)}: {lg.stdout.strip()}")
    check("@VERSION@" not in open(page, encoding="utf-8").read(),
          f"{os.path.basename(page)} has the version filled in")


def roff_tags(path):
    """{.SH section: [option names of each .TP tag]} of a man page."""
    out, cur, tp = {}, None, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".SH"):
                cur = line[3:].strip().strip('"')
                out[cur] = []
            elif line.startswith(".TP"):
                tp = True
            elif tp and cur:
                tp = False
                tag = re.sub(r"^\.(B|I|BR|BI|IB|IR|RB|RI)\s", "", line)
                tag = re.sub(r"\\f[BIRP]", "", tag).replace("\\-", "-").replace("\\&", "")
                names = set(OPT.findall(tag.replace('"', " ")))
                if names:
                    out[cur].append(names)
    return out


def compare(what, help_lines, man_defs):
    h_names, h_pairs = summary(definitions(help_lines))
    m_names, m_pairs = summary(man_defs)
    check(h_names, f"{what}: --help lists options ({len(h_names)})")
    check(h_names == m_names, f"{what}: the man page has exactly the options of --help "
          f"(only in --help: {sorted(h_names - m_names)}; only in the man page: "
          f"{sorted(m_names - h_names)})")
    check(h_pairs == m_pairs, f"{what}: short options go with the same long ones "
          f"({ {k: (h_pairs.get(k), m_pairs.get(k)) for k in set(h_pairs) | set(m_pairs) if h_pairs.get(k) != m_pairs.get(k)} })")


def main():
    for page in ("valar.1", "valar-train.1"):
        render(os.path.join(MANDIR, page))
    valar_man = roff_tags(os.path.join(MANDIR, "valar.1"))
    train_man = roff_tags(os.path.join(MANDIR, "valar-train.1"))
    check("ANALYZE OPTIONS" in valar_man and "LISTEN OPTIONS" in valar_man,
          "valar(1) has ANALYZE OPTIONS and LISTEN OPTIONS")
    check("OPTIONS" in train_man, "valar-train(1) has OPTIONS")
    compare("valar analyze", help_text(VALAR, "analyze", "--help"),
            valar_man.get("ANALYZE OPTIONS", []))
    compare("valar listen", help_text(VALAR, "listen", "--help"),
            valar_man.get("LISTEN OPTIONS", []))
    train_help = help_text(TRAIN, "--help")
    compare("valar-train", train_help, train_man.get("OPTIONS", []))

    # docs/training.md: the rows of its flag table.
    table = set()
    with open(os.path.join(SRC, "docs", "training.md"), encoding="utf-8") as f:
        text = f.read()
    part = text[text.index("## Commands and flags"):]
    part = part[:part.index("\n## ", 1)]
    for line in part.splitlines():
        if line.startswith("| `-"):
            table |= set(re.findall(r"`(--[\w-]+)", line))
    h_names = summary(definitions(train_help))[0]
    check(table == h_names, "docs/training.md's flag table lists exactly the options of "
          f"valar-train --help (missing: {sorted(h_names - table)}, extra: {sorted(table - h_names)})")

    # meson install puts them where man finds them: <prefix>/share/man/man1.
    dest = os.path.join(os.environ["VALAR_BUILD"], "tests", "docs", "man-destdir")
    subprocess.run(["rm", "-rf", dest])
    r = subprocess.run(["meson", "install", "-C", os.environ["VALAR_BUILD"], "--no-rebuild",
                        "--quiet", "--tags", "man", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"meson install --tags man runs {r.stderr.strip()[-300:]}")
    found = {}
    for d, _, files in os.walk(dest):
        for f in files:
            found[f] = os.path.join(d, f)
    for page in ("valar.1", "valar-train.1"):
        path = found.get(page, "")
        check(path.endswith(os.path.join("share", "man", "man1", page)),
              f"meson install puts {page} in share/man/man1 ({path})")
        if path:
            man_root = path[:-len(os.path.join("man1", page)) - 1]
            env = dict(os.environ, MANPATH=man_root, MANWIDTH="80")
            name = page[:-2]
            r = subprocess.run(["man", name], capture_output=True, text=True, env=env, timeout=60)
            check(r.returncode == 0 and "SYNOPSIS" in r.stdout,
                  f"`man {name}` finds it there (MANPATH={man_root})")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
