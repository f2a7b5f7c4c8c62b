"""The shipped placeholder models are what tools/make-placeholder writes.

usage: test_placeholder.py MAKE_PLACEHOLDER SRCDIR WORKDIR

Regenerates both models from examples/demo.ogg and compares them with
models/placeholder-*.safetensors: same metadata, same tensor names and
shapes, random tensors bit-identical (fixed seed), and the input
normalisation (computed from the audio through FFTW, whose float results may
differ in the last bits between machines) within 1e-4.
"""
import os
import shutil
import subprocess
import sys

import numpy as np

gen, src, work = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "tests", "common"))
from safetensors import read_safetensors  # noqa: E402

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what)
    fails += 0 if ok else 1


r = subprocess.run([gen, work, os.path.join(src, "examples", "demo.ogg")],
                   capture_output=True, text=True, timeout=120)
check(r.returncode == 0, f"make-placeholder exits 0 ({r.stderr.strip()})")
for kind in ("offline", "streaming"):
    name = f"placeholder-{kind}.safetensors"
    new_t, new_m = read_safetensors(os.path.join(work, name))
    old_t, old_m = read_safetensors(os.path.join(src, "models", name))
    check(new_m == old_m, f"{kind}: metadata equal")
    check(new_m.get("placeholder") == "true" and new_m.get("kind") == kind,
          f"{kind}: says placeholder = true, kind = {kind}")
    check(sorted(new_t) == sorted(old_t), f"{kind}: same tensors")
    for t in sorted(set(new_t) & set(old_t)):
        a, b = new_t[t], old_t[t]
        if a.shape != b.shape:
            check(False, f"{kind}: {t} shape {a.shape} vs {b.shape}")
        elif t.startswith("input."):
            d = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1)))
            check(d < 1e-4, f"{kind}: {t} within 1e-4 (rel {d:.2e})")
        else:
            check(np.array_equal(a, b), f"{kind}: {t} bit-identical")

# Without audio: mean 0, std 1, still a loadable model (crnn_create ran).
r = subprocess.run([gen, work], capture_output=True, text=True, timeout=120)
t, m = read_safetensors(os.path.join(work, "placeholder-streaming.safetensors"))
check(r.returncode == 0 and np.all(t["input.std"] == 1) and np.all(t["input.mean"] == 0),
      "without audio: identity normalisation")
r = subprocess.run([gen, work, os.path.join(work, "nope.wav")], capture_output=True, text=True)
check(r.returncode == 1 and "nope.wav" in r.stderr, f"missing audio named ({r.stderr.strip()})")
sys.exit(1 if fails else 0)
