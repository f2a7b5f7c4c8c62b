"""Helpers shared by the end-to-end Python tests: check() records failures
(print them, exit 1 if any), write_wav() writes 16-bit PCM."""
import wave

import numpy as np

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def write_wav(path, x, rate):
    """x: (frames, channels) or (frames,) float in [-1, 1] -> 16-bit PCM WAV."""
    x = np.atleast_2d(x.T).T
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
