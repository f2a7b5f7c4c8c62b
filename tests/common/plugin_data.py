"""Test material shared by the plugin tests (tests/plugin/test_plugin.py,
tests/plugin/test_ardour.py): a test signal whose analysis changes from
segment to segment, a second valid streaming model, and the most the
plugin's spread steps may delay a result.

Import it with
    sys.path.insert(0, os.path.join(os.environ["VALAR_SRC"], "tests", "common"))
    from plugin_data import signal_, alt_model
"""
import math

import numpy as np

from safetensors import read_safetensors, write_safetensors


def signal_(seconds, rate, channels, seed=3):
    """Tones and noise whose pitch, level and noisiness change every 250 ms,
    so consecutive segments differ; channels differ in level and phase.
    float32, shape (frames, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    q = (t * 4).astype(int)
    f = 110.0 * 2.0 ** (((q * 5) % 36) / 12.0)
    amp = 0.05 + 0.4 * ((q * 7) % 5) / 4.0
    noise = 0.3 * ((q * 3) % 4) / 3.0
    chans = []
    for c in range(channels):
        x = amp * np.sin(2 * math.pi * f * t + c) * (1 - 0.3 * c)
        chans.append(x + noise * rng.uniform(-1, 1, t.size))
    return np.stack(chans, axis=1).astype(np.float32)


def alt_model(path, default):
    """Write to path a second valid streaming model: `default` (a weight
    file) with other weights."""
    tensors, meta = read_safetensors(default)
    rng = np.random.default_rng(7)
    for name, t in tensors.items():
        if name.endswith("weight"):
            tensors[name] = t * -1.5 + rng.normal(0, 0.2, t.shape).astype(np.float32)
    write_safetensors(path, tensors, meta)


def spread_frames_max(model, resampled=True, push_frames=32, slice_bytes=128 * 1024,
                      chunk=256):
    """The most input frames valar.lv2 may report a result after its
    segment's end on top of the resampler's delay, with `model` (a weight
    file): the step is spread over one slice per push_frames frames
    (docs/plugin.md, Real-time behaviour), the network's dense
    weights in slices of at most slice_bytes, plus one slice for the conv
    and one for the GRUs and maxouts. Resampled (any rate but the model's),
    the chunk's STFT takes one more push first, and every chunk of input
    takes two pushes (its resampler call, its STFT) that slices skip."""
    tensors, _ = read_safetensors(model)
    dense = sum(t.size for n, t in tensors.items() if n.endswith("dense.weight")) * 4
    slices = -(-dense // slice_bytes) + 2
    if not resampled:
        return push_frames * slices
    free = chunk // push_frames - 2  # pushes per chunk a slice may take
    return push_frames * (1 + slices + 2 * -(-slices // free))
