#!/usr/bin/python3
"""Independent NumPy reference for valar's CRNN (src/crnn.h).

Writes random weight files (offline/streaming x separate/joint branches,
several sizes, non-trivial batch-norm statistics and bn_eps) and random
input sequences, runs crnn_run (argv[1]) on them, recomputes every output in
float64 from the header's definition, and asserts
    max |crnn_run_sequence - numpy| <= 1e-5 and, on streaming models,
    max |crnn_reset + crnn_step per frame - numpy| <= 1e-5 and the steps
    equal the sequence run bit for bit.
It does so for every kernel set (src/crnn_kern.h) this CPU runs, as listed
by `crnn_run --kernels`, and checks that the sets that fuse multiply-adds
(avx2, avx512) give bit-identical outputs.
So that the comparison can fail, it also asserts that most outputs are not
clipped at +-1, and that plausible mistakes (wrong time padding, eps ignored,
PyTorch-style GRU, swapped gates, dense index order, ...) would move the
outputs far beyond the tolerance on this data.

usage: ref_crnn.py CRNN_RUN [WORKDIR]"""

import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from safetensors import write_safetensors  # noqa: E402

TOL = 1e-5
T_VALUES = [1, 2, 3, 17, 100]

# kind, branches, M, C, D, H, K, bn_eps, maxout scale (large: more clipping)
CASES = [
    ("offline", "separate", 64, 8, 16, 12, 4, "0.001", 0.8),
    ("streaming", "separate", 64, 8, 16, 12, 3, "1e-3", 0.8),
    ("offline", "joint", 64, 8, 8, 8, 2, "0.001", 0.8),
    ("streaming", "joint", 64, 8, 8, 8, 4, "0.001", 0.8),
    ("offline", "joint", 5, 3, 4, 3, 1, "0.05", 0.8),
    ("streaming", "joint", 5, 3, 4, 3, 2, "0.05", 0.8),
    ("offline", "separate", 2, 2, 3, 2, 3, "0.01", 1.0),
    ("streaming", "separate", 2, 2, 3, 5, 1, "0.01", 1.0),
    ("offline", "separate", 16, 4, 6, 4, 2, "0.001", 1.8),
    ("streaming", "joint", 16, 4, 6, 4, 3, "0.001", 1.8),
    # wider than one 16-float panel everywhere, sizes off every SIMD width
    ("streaming", "separate", 37, 5, 19, 21, 3, "0.001", 0.8),
    ("offline", "separate", 33, 6, 33, 17, 5, "0.001", 0.8),
]

MELSPEC_META = {
    "sample_rate": "22050",
    "n_fft": "1024",
    "hop_length": "441",
    "fmin": "0",
    "fmax": "11025",
    "segment_ms": "500",
    "log_floor": "1e-10",
}


def branch_names(branches):
    return ["joint"] if branches == "joint" else ["arousal", "valence"]


def make_model(rng, kind, branches, M, C, D, H, K, eps, mscale):
    f = np.float32
    P = 2 if branches == "joint" else 1
    G = 2 * H if kind == "offline" else H
    t = {
        "input.mean": rng.uniform(-8, -2, M),
        "input.std": rng.uniform(0.5, 3.0, M),
        "conv.weight": rng.normal(0, 0.33, (C, 3, 3)),
        "conv.bias": rng.normal(0, 0.3, C),
        "bn.gamma": rng.uniform(0.5, 1.5, C) * rng.choice([-1.0, 1.0], C, p=[0.2, 0.8]),
        "bn.beta": rng.normal(0, 0.3, C),
        "bn.mean": rng.normal(0, 0.3, C),
        # small variances make bn_eps matter
        "bn.var": rng.uniform(0.05, 2.0, C),
    }

    def gru(prefix):
        t[prefix + ".weight_ih"] = rng.normal(0, 1.2 / np.sqrt(D), (3 * H, D))
        t[prefix + ".weight_hh"] = rng.normal(0, 1.5 / np.sqrt(H), (3 * H, H))
        t[prefix + ".bias"] = rng.normal(0, 0.3, 3 * H)

    for b in branch_names(branches):
        t[b + ".dense.weight"] = rng.normal(0, 1.5 / np.sqrt(C * M), (D, C * M))
        t[b + ".dense.bias"] = rng.normal(0, 0.3, D)
        gru(b + ".gru")
        if kind == "offline":
            gru(b + ".gru_bw")
        t[b + ".maxout.weight"] = rng.normal(0, mscale / np.sqrt(G), (P, K, G))
        t[b + ".maxout.bias"] = rng.normal(0, 0.2, (P, K))
    t = {k: np.asarray(v, dtype=f) for k, v in t.items()}
    meta = dict(MELSPEC_META)
    meta.update(
        {
            "format": "valar-crnn",
            "version": "1",
            "kind": kind,
            "branches": branches,
            "bn_eps": eps,
            "n_mels": str(M),
        }
    )
    return t, meta


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def run_gru(wih, whh, b, X, bug):
    H = whh.shape[1]
    h = np.zeros(H)
    out = np.empty((X.shape[0], H))
    zi, ri = (slice(H, 2 * H), slice(0, H)) if bug == "gates_rzn" else (slice(0, H), slice(H, 2 * H))
    ni = slice(2 * H, 3 * H)
    for t in range(X.shape[0]):
        gx = wih @ X[t] + b
        z = sigmoid(gx[zi] + whh[zi] @ h)
        r = sigmoid(gx[ri] + whh[ri] @ h)
        if bug == "gru_reset_after":  # PyTorch/cuDNN form
            n = np.tanh(gx[ni] + r * (whh[ni] @ h))
        else:
            n = np.tanh(gx[ni] + whh[ni] @ (r * h))
        h = (1 - z) * h + z * n if bug == "update_flipped" else z * h + (1 - z) * n
        out[t] = h
    return out


def reference(t, meta, x, bug=None):
    """Outputs [T, 2] in float64 for raw input x [T, M]; bug selects one
    deliberate mistake (for the sensitivity check)."""
    p = {k: v.astype(np.float64) for k, v in t.items()}
    kind = meta["kind"]
    eps = 1e-5 if bug == "eps_ignored" else float(meta["bn_eps"])
    x = x.astype(np.float64)
    T, M = x.shape
    C = p["conv.weight"].shape[0]
    mean, std = p["input.mean"], p["input.std"]
    xn = (x - mean) / std
    o = 1 if kind == "offline" else 2
    if bug == "time_offset":
        o = 3 - o
    w = p["conv.weight"]
    if bug == "conv_flipped":  # true convolution instead of correlation
        w = w[:, ::-1, ::-1]
    # padded[k] = xn[k - o] over time, [m - 1] over mel, zeros outside
    if bug == "pad_raw":  # normalisation folded into the conv, padding with raw zeros
        padded = np.tile(-mean / std, (T + 2, 1))
        padded = np.pad(padded, ((0, 0), (1, 1)))
    else:
        padded = np.zeros((T + 2, M + 2))
    padded[o : o + T, 1 : M + 1] = xn
    y = np.zeros((T, C, M)) + p["conv.bias"][None, :, None]
    for i in range(3):
        for j in range(3):
            y += w[None, :, i, j, None] * padded[None, i : i + T, j : j + M].transpose(1, 0, 2)
    scale = p["bn.gamma"] / np.sqrt(p["bn.var"] + eps)
    y = (y - p["bn.mean"][None, :, None]) * scale[None, :, None] + p["bn.beta"][None, :, None]
    y = np.maximum(y, 0.0)
    feat = y.transpose(0, 2, 1).reshape(T, M * C) if bug == "dense_mc" else y.reshape(T, C * M)
    out = np.zeros((T, 2))
    branches = branch_names(meta["branches"])
    for bi, b in enumerate(branches):
        d = feat @ p[b + ".dense.weight"].T + p[b + ".dense.bias"]
        g = run_gru(p[b + ".gru.weight_ih"], p[b + ".gru.weight_hh"], p[b + ".gru.bias"], d, bug)
        if kind == "offline":
            hb = run_gru(
                p[b + ".gru_bw.weight_ih"], p[b + ".gru_bw.weight_hh"], p[b + ".gru_bw.bias"], d[::-1], bug
            )
            if bug != "bw_not_reversed":
                hb = hb[::-1]
            g = np.concatenate([g, hb], axis=1)
        s = np.einsum("pkg,tg->tpk", p[b + ".maxout.weight"], g) + p[b + ".maxout.bias"][None]
        v = s.max(axis=2)
        if bug != "no_clip":
            v = np.clip(v, -1.0, 1.0)
        if len(branches) == 1:
            out[:, :] = v
        else:
            out[:, bi] = v[:, 0]
    return out


BUGS = [
    "time_offset",
    "conv_flipped",
    "pad_raw",
    "eps_ignored",
    "dense_mc",
    "gru_reset_after",
    "gates_rzn",
    "update_flipped",
    "bw_not_reversed",
    "no_clip",
]


def write_inputs(path, xs, M):
    with open(path, "wb") as f:
        f.write(np.array([len(xs), M] + [x.shape[0] for x in xs], dtype="<i4").tobytes())
        for x in xs:
            f.write(np.asarray(x, dtype="<f4").tobytes())


def run_case(exe, kernels, model, inp, outp, name, kind, M):
    """crnn_run with one kernel set: its outputs, or None (and a message)."""
    env = dict(os.environ, VALAR_CRNN_KERNELS=kernels)
    r = subprocess.run([exe, model, inp, outp], capture_output=True, text=True, timeout=300, env=env)
    if r.returncode != 0:
        print(f"FAIL {name} [{kernels}]: crnn_run exited {r.returncode}: {r.stderr.strip()}")
        return None
    info = dict(kv.split("=") for kv in r.stdout.split())
    want_kind = "0" if kind == "offline" else "1"
    if info.get("kind") != want_kind or info.get("n_mels") != str(M):
        print(f"FAIL {name} [{kernels}]: crnn_run reports {r.stdout.strip()}")
        return None
    got = np.fromfile(outp, dtype="<f4").astype(np.float64)
    per = 2 if kind == "streaming" else 1
    if got.size != per * 2 * sum(T_VALUES):
        print(f"FAIL {name} [{kernels}]: {got.size} output values, want {per * 2 * sum(T_VALUES)}")
        return None
    return got


def main():
    exe = sys.argv[1]
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="valar-crnn-")
    os.makedirs(work, exist_ok=True)
    r = subprocess.run([exe, "--kernels"], capture_output=True, text=True, timeout=60)
    kernel_sets = r.stdout.split()
    if r.returncode != 0 or "generic" not in kernel_sets:
        print(f"FAIL: crnn_run --kernels gave {r.stdout.strip()!r} (exit {r.returncode})")
        return 1
    print(f"kernel sets: {' '.join(kernel_sets)}")
    rng = np.random.default_rng(20170905)
    failed = 0
    worst = 0.0
    n_out = n_unclipped = 0
    bug_diff = {b: 0.0 for b in BUGS}
    for ci, (kind, branches, M, C, D, H, K, eps, mscale) in enumerate(CASES):
        name = f"{kind}-{branches}-M{M}-C{C}-D{D}-H{H}-K{K}"
        t, meta = make_model(rng, kind, branches, M, C, D, H, K, eps, mscale)
        model = os.path.join(work, f"case{ci}.safetensors")
        write_safetensors(model, t, meta)
        mean, std = t["input.mean"].astype(np.float64), t["input.std"].astype(np.float64)
        xs = [(mean + 1.2 * std * rng.standard_normal((T, M))).astype(np.float32) for T in T_VALUES]
        inp, outp = os.path.join(work, f"case{ci}.in"), os.path.join(work, f"case{ci}.out")
        write_inputs(inp, xs, M)
        refs = [reference(t, meta, x) for x in xs]
        for x, ref in zip(xs, refs):
            for b in BUGS:
                bug_diff[b] = max(bug_diff[b], float(np.max(np.abs(reference(t, meta, x, b) - ref))))
        fused = {}
        for ks in kernel_sets:
            got = run_case(exe, ks, model, inp, outp, name, kind, M)
            if got is None:
                failed += 1
                continue
            if ks in ("avx2", "avx512"):
                fused[ks] = got
            pos = 0
            case_err = {"seq": 0.0, "step": 0.0, "step-seq": 0.0}
            case_unclipped = case_n = 0
            for x, ref in zip(xs, refs):
                T = x.shape[0]
                seq = got[pos : pos + 2 * T].reshape(T, 2)
                pos += 2 * T
                e = float(np.max(np.abs(seq - ref))) if np.all(np.isfinite(seq)) else np.inf
                case_err["seq"] = max(case_err["seq"], e)
                if kind == "streaming":
                    step = got[pos : pos + 2 * T].reshape(T, 2)
                    pos += 2 * T
                    e = float(np.max(np.abs(step - ref))) if np.all(np.isfinite(step)) else np.inf
                    case_err["step"] = max(case_err["step"], e)
                    if not np.array_equal(step, seq):
                        case_err["step-seq"] = max(case_err["step-seq"], float(np.max(np.abs(step - seq))))
                        case_err["step-seq"] = max(case_err["step-seq"], 1e-30)
                case_unclipped += int(np.sum(np.abs(ref) < 0.999))
                case_n += ref.size
                if T == T_VALUES[-1] and ci == 0 and ks == kernel_sets[0]:
                    print(f"  e.g. {name} T={T} frames 0..3 numpy {ref[:4].ravel().round(4).tolist()}")
                    print(f"                    C     {seq[:4].ravel().round(4).tolist()}")
            frac = case_unclipped / case_n
            n_out += case_n
            n_unclipped += case_unclipped
            ok = case_err["seq"] <= TOL and case_err["step"] <= TOL and case_err["step-seq"] == 0 and frac >= 0.3
            step_txt = ""
            if kind == "streaming":
                same = "bit for bit" if case_err["step-seq"] == 0 else f"differ by {case_err['step-seq']:.2e}"
                step_txt = f", step {case_err['step']:.2e} (step vs sequence: {same})"
            print(
                f"{'ok  ' if ok else 'FAIL'} {name} [{ks}] eps={eps}: max |C - numpy| sequence "
                f"{case_err['seq']:.2e}{step_txt}; {100 * frac:.0f}% of outputs unclipped"
            )
            if not ok:
                failed += 1
            worst = max(worst, case_err["seq"], case_err["step"])
        if len(fused) == 2 and not np.array_equal(fused["avx2"], fused["avx512"]):
            print(f"FAIL {name}: avx2 and avx512 differ by {np.max(np.abs(fused['avx2'] - fused['avx512'])):.2e}")
            failed += 1
    frac = n_unclipped / max(n_out, 1)
    print(f"worst error {worst:.2e} (tolerance {TOL:g}); {100 * frac:.1f}% of {n_out} outputs unclipped")
    if frac < 0.6:
        print("FAIL: too many clipped outputs for a meaningful comparison")
        failed += 1
    print("sensitivity (max output change a mistake would cause on this data):")
    for b in BUGS:
        ok = bug_diff[b] > 100 * TOL
        print(f"  {'ok  ' if ok else 'FAIL'} {b:16s} {bug_diff[b]:.3g}")
        if not ok:
            failed += 1
    print("FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
