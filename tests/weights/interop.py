#!/usr/bin/python3
"""Our C reader/writer against tests/common/safetensors.py (which follows the
reference layout): a Python-written file loads in C, and C writes back the
very same bytes.  usage: interop.py RESAVE_EXE WORKDIR"""

import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from safetensors import read_safetensors, write_safetensors  # noqa: E402

exe, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
rng = np.random.default_rng(7)
tensors = {
    "scalar": np.float32(-2.5),
    "vec": rng.standard_normal(17).astype(np.float32),
    "mat": rng.standard_normal((4, 6)).astype(np.float32) * 1e30,
    "zero": np.zeros((3, 0)),
    "conv.weight": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
    "w4": rng.standard_normal((2, 3, 4, 5)).astype(np.float32) * 1e-38,
    "big": rng.standard_normal(5000).astype(np.float32),
}
tensors["vec"][:3] = [0.0, -0.0, np.float32(1e-45)]
metadata = {"kind": "offline", "note": 'tab\there, "quoted", \u00fcml\u00e4ut \u266b', "n_mels": "40"}

src = os.path.join(work, "python.safetensors")
dst = os.path.join(work, "c.safetensors")
write_safetensors(src, tensors, metadata)
subprocess.run([exe, src, dst], check=True)

failures = 0
a, b = open(src, "rb").read(), open(dst, "rb").read()
if a != b:
    print(f"FAIL: C rewrote {len(a)} bytes as {len(b)} different bytes")
    print(a[:400])
    print(b[:400])
    failures += 1
t, m = read_safetensors(dst)
if m != metadata:
    print(f"FAIL: metadata {m} != {metadata}")
    failures += 1
for name, x in tensors.items():
    x = np.asarray(x, dtype=np.float32)
    y = t.get(name)
    if y is None or y.shape != x.shape or y.tobytes() != x.tobytes():
        print(f"FAIL: tensor {name} differs")
        failures += 1
print(f"{len(tensors)} tensors, {len(a)} bytes, {failures} failures")
sys.exit(1 if failures else 0)
