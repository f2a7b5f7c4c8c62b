"""docs/figures.md comes from the benchmarks (test docs-figures, plain build).

* The page is exactly what tools/bench-figures.py renders from the outputs
  recorded in it, and each output still has the checksum the script gave
  it: no figure was typed or edited by hand.
* Every benchmark of the build has a section, and every section a benchmark.
* The quick benchmarks run again here (the command meson would run) and
  must print the same rows: every line of the recorded output that has
  figures, with its words and layout, is printed again (lines that depend
  on the CPU's instruction sets or the load may be missing, but most must
  be there), and the figures are of the same size: the median ratio of
  fresh to recorded figures within 4x. That catches a stale page or one
  made from another build type, not the noise of a loaded machine.

usage: test_figures.py   (env: VALAR_SRC, VALAR_BUILD)
"""
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys

SRC = os.environ["VALAR_SRC"]
BUILD = os.environ["VALAR_BUILD"]
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
from testutil import check, failures  # noqa: E402

spec = importlib.util.spec_from_file_location("bench_figures",
                                              os.path.join(SRC, "tools", "bench-figures.py"))
bf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bf)

QUICK = ("analyzer-push", "melspec", "crnn")
NUM = re.compile(r"-?\d+(?:\.\d+)?")


def skeleton(line):
    return NUM.sub("#", re.sub(r"\s+", " ", line.strip()))


def rows(text):
    """{skeleton: [[figures of the 1st such line], [2nd], ...]} of the lines
    with figures, the load-average lines left out (they are the load)."""
    out = {}
    for line in text.splitlines():
        if "load average" in line or not NUM.search(line):
            continue
        out.setdefault(skeleton(line), []).append([float(x) for x in NUM.findall(line)])
    return out


def main():
    page_path = os.path.join(SRC, "docs", "figures.md")
    page = open(page_path, encoding="utf-8").read()
    recorded = bf.parse(page)
    outputs = {k: v[:2] for k, v in recorded.items()}
    check(outputs and bf.render(outputs) == page,
          "docs/figures.md is what tools/bench-figures.py renders from its recorded outputs "
          "(nothing added or edited around them)")
    for k, (run, out, seal) in sorted(recorded.items()):
        check(seal == bf.seal(run, out), f"{k}: the recorded output is sealed as written "
              "(not edited by hand)")

    benches = json.loads(subprocess.run(["meson", "introspect", BUILD, "--benchmarks"],
                                        capture_output=True, text=True, check=True).stdout)
    names = {b["name"] for b in benches}
    table = {n for n, _, _ in bf.BENCHMARKS}
    check(names == table, f"tools/bench-figures.py describes every benchmark of the build "
          f"(missing: {sorted(names - table)}, gone: {sorted(table - names)})")
    check(set(outputs) == table, f"docs/figures.md has a section for each "
          f"(missing: {sorted(table - set(outputs))}, extra: {sorted(set(outputs) - table)})")

    for b in benches:
        if b["name"] not in QUICK or b["name"] not in outputs:
            continue
        env = dict(os.environ, **b["env"])
        r = subprocess.run(b["cmd"], env=env, cwd=b.get("workdir") or None, capture_output=True,
                           text=True, timeout=600)
        if not check(r.returncode == 0, f"{b['name']}: runs"):
            print(r.stdout[-2000:], r.stderr[-2000:])
            continue
        old, new = rows(outputs[b["name"]][1]), rows(r.stdout + r.stderr)
        found = [k for k in old if k in new]
        n_old = sum(len(v) for v in old.values())
        n_found = sum(min(len(old[k]), len(new[k])) for k in found)
        check(n_old and n_found >= 0.5 * n_old,
              f"{b['name']}: {n_found} of the page's {n_old} lines with figures are printed again")
        ratios = []
        for k in found:
            for a, c in zip(old[k], new[k]):
                ratios += [math.log(y / x) for x, y in zip(a, c) if x > 0 and y > 0]
        med = math.exp(statistics.median(ratios)) if ratios else float("nan")
        check(ratios and 0.25 <= med <= 4,
              f"{b['name']}: fresh figures / the page's: median ratio {med:.2f} "
              f"over {len(ratios)} figures (within 4x)")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
