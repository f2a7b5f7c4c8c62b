#!/usr/bin/python3
"""Independent NumPy reference for valar's melspec (see src/melspec.h).

Runs melspec_dump (argv[1]) for a few configurations, recomputes the
features from the same samples in float64 with a librosa-compatible Slaney
mel filterbank (htk=False, norm='slaney') written here from librosa's
definitions, and asserts max |C - numpy| < 1e-4 on the log values."""

import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy.signal

TOL = 1e-4


def hz_to_mel(f):
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def mel_to_hz(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sr, n_fft, n_mels, fmin, fmax):
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
    htk=False, norm='slaney') in float64."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    assert np.all(weights.max(axis=1) > 0), "empty mel filter"
    return weights


def reference(x, sr, n_fft, hop, n_mels, fmin, fmax, segment_ms, log_floor):
    seg = segment_ms * sr // 1000
    F = seg // hop
    n_frames = len(x) // hop  # frames that end within the signal
    # causal alignment: frame j covers [(j+1)*hop - n_fft, (j+1)*hop)
    xp = np.concatenate([np.zeros(n_fft - hop), x.astype(np.float64)])
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)  # periodic
    spec = np.abs(np.fft.rfft(xp[idx] * window, axis=1)) ** 2
    mel = spec @ mel_filterbank(sr, n_fft, n_mels, fmin, fmax).T
    n_seg = n_frames // F
    mean = mel[: n_seg * F].reshape(n_seg, F, n_mels).mean(axis=1)
    return np.log(np.maximum(mean, log_floor))


def check(dump, cfg, seconds, tmp):
    out = os.path.join(tmp, "frames.bin")
    args = [dump, out] + [str(v) for v in cfg] + [str(seconds)]
    subprocess.run(args, check=True)
    raw = open(out, "rb").read()
    n, t, m = np.frombuffer(raw[:12], dtype=np.int32)
    x = np.frombuffer(raw[12 : 12 + 4 * n], dtype=np.float32)
    c = np.frombuffer(raw[12 + 4 * n :], dtype=np.float32).reshape(t, m)
    sr, n_fft, hop, n_mels, fmin, fmax, segment_ms, log_floor = cfg
    # the config's floats as C sees them (float32)
    r = reference(x, sr, n_fft, hop, n_mels, float(np.float32(fmin)), float(np.float32(fmax)),
                  segment_ms, float(np.float32(log_floor)))
    assert r.shape == c.shape, f"{cfg}: C gave {c.shape} frames, numpy {r.shape}"
    floored = np.mean(r <= np.log(float(np.float32(log_floor))) + 1e-9)
    assert floored > 0.05, f"{cfg}: test signal does not exercise the floor ({floored})"
    d = np.abs(c.astype(np.float64) - r)
    worst = np.unravel_index(np.argmax(d), d.shape)
    print(f"config {cfg}, {seconds} s: {t} segments x {m} bands, {floored:.0%} floored, "
          f"max |C - numpy| = {d.max():.3g} (segment {worst[0]}, band {worst[1]}, "
          f"value {r[worst]:.3f}), mean {d.mean():.3g}")
    return d.max()


def main():
    dump = sys.argv[1]
    configs = [
        # valar's defaults
        (22050, 1024, 441, 64, 0.0, 11025.0, 500, 1e-10),
        # another shape: odd-ish numbers, fmin > 0, fmax < sr/2
        (16000, 800, 200, 40, 50.0, 7000.0, 250, 1e-8),
        (44100, 2048, 735, 128, 20.0, 16000.0, 500, 1e-10),
    ]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in configs:
            worst = max(worst, check(dump, cfg, 7.3, tmp))
    print(f"max delta over all configs: {worst:.3g} (tolerance {TOL})")
    if not worst < TOL:
        print("FAIL: C and numpy differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
