#!/usr/bin/env python3
"""valar-train merge: several models as one network whose output is their
average (the shipped offline model is such an ensemble).

Members are the placeholder models, copies of them with perturbed weights,
and a smaller copy cut out of them here (fewer filters, dense and GRU units
and maxout pieces), so that members of unequal sizes are covered. Checks:

* `valar analyze` with the merged model gives, per segment, the mean of
  the members' own outputs (offline and streaming; the print precision is
  1e-6, segments where a member's output is clipped at +-1 are not compared
  but must be few);
* the merged file's shape (sums of C, D, H; product of K) and metadata
  (description, one `members` entry per member, no `metrics`);
* refusals, each with exit 1, a message naming the file, and no output
  file: an offline with a streaming model, different input statistics, a
  missing file; usage errors (one model, no --out) exit 2.

usage: test_merge.py VALAR_TRAIN VALAR WORKDIR
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np

SRC = os.environ.get("VALAR_SRC", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
from safetensors import read_safetensors, write_safetensors  # noqa: E402
from testutil import check, failures  # noqa: E402


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=240)


def perturbed(src, dst, seed):
    """src with every trained weight changed (statistics kept)."""
    t, meta = read_safetensors(src)
    rng = np.random.default_rng(seed)
    out = {}
    for name, a in t.items():
        keep = name.startswith("input.") or name in ("bn.mean", "bn.var")
        out[name] = a if keep else (a * rng.uniform(0.5, 1.5, a.shape) +
                                    rng.normal(0, 0.1, a.shape)).astype(np.float32)
    write_safetensors(dst, out, meta)


def cut(src, dst, C, D, H, K):
    """The first C filters, D dense units, H GRU units and K maxout pieces of
    src: a smaller valid model (the layout of docs/weights.md)."""
    t, meta = read_safetensors(src)
    M = t["input.mean"].shape[0]
    out = {}
    for name, a in t.items():
        part = name.split(".", 1)[1] if name.split(".")[0] in ("arousal", "valence") else name
        if name.startswith("input."):
            b = a
        elif name.startswith(("conv.", "bn.")):
            b = a[:C]
        elif part == "dense.weight":
            b = a.reshape(a.shape[0], -1, M)[:D, :C].reshape(D, C * M)
        elif part == "dense.bias":
            b = a[:D]
        elif part.endswith("weight_ih"):
            b = a.reshape(3, -1, a.shape[1])[:, :H, :D].reshape(3 * H, D)
        elif part.endswith("weight_hh"):
            h0 = a.shape[1]
            b = a.reshape(3, h0, h0)[:, :H, :H].reshape(3 * H, H)
        elif part.endswith("bias") and "gru" in part:
            b = a.reshape(3, -1)[:, :H].reshape(3 * H)
        elif part == "maxout.weight":
            P, K0, G = a.shape
            dirs = 2 if meta["kind"] == "offline" else 1
            b = a.reshape(P, K0, dirs, G // dirs)[:, :K, :, :H].reshape(P, K, dirs * H)
        elif part == "maxout.bias":
            b = a[:, :K]
        else:
            raise ValueError(name)
        out[name] = np.ascontiguousarray(b, dtype=np.float32)
    write_safetensors(dst, out, meta)


def analyze(valar, model, audio, streaming):
    r = run([valar, "analyze", "-q", "-m", model] + (["--streaming"] if streaming else []) +
            [audio])
    if r.returncode:
        raise RuntimeError(f"valar analyze -m {model}: {r.stderr}")
    rows = list(csv.reader(io.StringIO(r.stdout)))[1:]
    return np.array([[float(x) for x in row[1:3]] for row in rows])


def check_average(train, valar, work, kind, audio):
    base = os.path.join(SRC, "models", f"placeholder-{kind}.safetensors")
    members = [base, os.path.join(work, f"{kind}-b.safetensors"),
               os.path.join(work, f"{kind}-small.safetensors")]
    perturbed(base, members[1], 7)
    cut(members[1], members[2], C=5, D=6, H=7, K=3)
    merged = os.path.join(work, f"{kind}-merged.safetensors")
    r = run([train, "merge", "--quiet", "--out", merged] + members)
    if not check(r.returncode == 0, f"{kind}: merge of 3 members exits 0 ({r.stderr.strip()})"):
        return
    t, meta = read_safetensors(merged)
    dirs = 2 if kind == "offline" else 1
    check(t["conv.weight"].shape == (8 + 8 + 5, 3, 3) and
          t["valence.dense.weight"].shape[0] == 8 + 8 + 6 and
          t["arousal.gru.weight_hh"].shape == (3 * 23, 23) and
          t["arousal.maxout.weight"].shape == (1, 4 * 4 * 3, dirs * 23),
          f"{kind}: merged shape C 21, D 22, H 23, K 48")
    mem = json.loads(meta.get("members", "[]"))
    check(len(mem) == 3 and "metrics" not in meta and "average of 3" in meta["description"],
          f"{kind}: metadata: 3 members, description, no metrics")
    outs = [analyze(valar, m, audio, kind == "streaming") for m in members]
    got = analyze(valar, merged, audio, kind == "streaming")
    clipped = np.any([np.abs(o) >= 0.999999 for o in outs], axis=0)
    want = np.mean(outs, axis=0)
    ok = ~clipped
    err = np.max(np.abs(got - want)[ok]) if ok.any() else 1.0
    check(ok.sum() >= 0.8 * ok.size and err <= 2e-6,
          f"{kind}: merged output = the members' mean on {ok.sum()} of {ok.size} values "
          f"(max difference {err:.2g})")
    check(np.max(np.abs(outs[0] - outs[1])) > 0.01,
          f"{kind}: the members differ (so the average is a real test)")


def check_refusals(train, work):
    off = os.path.join(SRC, "models", "placeholder-offline.safetensors")
    st = os.path.join(SRC, "models", "placeholder-streaming.safetensors")
    out = os.path.join(work, "refused.safetensors")
    other = os.path.join(work, "other-stats.safetensors")
    t, meta = read_safetensors(off)
    t["input.mean"] = t["input.mean"] + 0.5
    write_safetensors(other, t, meta)
    cases = [
        ("offline with streaming", [off, st], 1, [st, "kind"]),
        ("different input statistics", [off, other], 1, [other, "input statistics"]),
        ("a missing file", [off, os.path.join(work, "nope.safetensors")], 1, ["nope.safetensors"]),
        ("one model", [off], 2, ["2 to 8 models"]),
    ]
    for what, models, code, words in cases:
        r = run([train, "merge", "--out", out] + models)
        check(r.returncode == code and all(w in r.stderr for w in words) and
              not os.path.exists(out) and "Sanitizer" not in r.stderr,
              f"refused: {what}: exit {r.returncode}, '{r.stderr.strip()}', no output")
    r = run([train, "merge", off, off])
    check(r.returncode == 2 and "--out" in r.stderr, "refused: no --out (exit 2)")
    r = run([train, "merge", "--out", os.path.join(work, "no", "dir.safetensors"), off, off])
    check(r.returncode == 1 and "no/dir.safetensors" in r.stderr,
          f"refused: --out in a missing folder: '{r.stderr.strip()}'")


def main():
    train, valar, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    audio = os.path.join(SRC, "examples", "demo.ogg")
    for kind in ("offline", "streaming"):
        check_average(train, valar, work, kind, audio)
    check_refusals(train, work)
    print(f"{len(failures)} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
