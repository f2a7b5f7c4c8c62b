#!/usr/bin/env python3
"""How fast the streaming model follows a change of mood (a benchmark:
prints figures, asserts nothing).

For pairs of 4Q test clips A, B from different quadrants, B is appended to A
(sox, both resampled to 44.1 kHz) and the concatenation is analysed with the
shipped streaming model, stepped through as valar listen does. m_A and m_B
are the mean outputs of each clip analysed alone; the output y(t) after the
switch is projected on the line from m_A to m_B, and the response time is
the time from the switch until the end of the first 500 ms segment whose
projection passes the midpoint (a segment's result exists once its last
sample has arrived). Pairs whose means lie less than 0.1 apart are left out
(the model does not tell those clips apart, so there is no change to
follow), and pairs whose output never passes the midpoint within B are
counted.

usage: bench_response.py VALAR DATA_4Q WORK_DIR [PAIRS_PER_TRANSITION [MODEL [SET]]]
(MODEL: a streaming weight file instead of the shipped one, '-' for the
shipped one; SET: the clips of split.txt's set SET instead of test, e.g. val
to compare models without looking at the test set)
"""
import csv
import io
import os
import random
import subprocess
import sys

import numpy as np

VALAR, DATA, WORK = sys.argv[1:4]
PER = int(sys.argv[4]) if len(sys.argv) > 4 else 8
MODEL = ["-m", sys.argv[5]] if len(sys.argv) > 5 and sys.argv[5] != "-" else ["-s"]
SET = sys.argv[6] if len(sys.argv) > 6 else "test"
RATE = 44100


def analyze(path):
    out = subprocess.run([VALAR, "analyze", "-q", *MODEL, path], capture_output=True, text=True,
                         check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))[1:]
    return np.array([[float(x) for x in r] for r in rows])  # time, arousal, valence


def wav(song):
    path = os.path.join(WORK, song + ".wav")
    if not os.path.exists(path):
        subprocess.run(["sox", os.path.join(DATA, "audio", song + ".ogg"), "-r", str(RATE), "-c",
                        "1", "-b", "16", path], check=True, capture_output=True)
    return path


def main():
    if not os.path.isdir(os.path.join(DATA, "audio")):
        print(f"SKIP: no 4Q data at {DATA}")
        return 77
    os.makedirs(WORK, exist_ok=True)
    test = []
    for line in open(os.path.join(DATA, "split.txt")):
        p = line.split("#")[0].split()
        if p and p[0] == SET:
            test += p[1:]
    quad = {r["Song"]: r["Quadrant"] for r in
            csv.DictReader(open(os.path.join(DATA, "panda_dataset_taffc_annotations.csv")))}
    by_q = {q: sorted(s for s in test if quad[s] == q) for q in ("Q1", "Q2", "Q3", "Q4")}
    rng = random.Random(1)
    alone = {}
    times, never, close = {}, 0, 0
    for qa in by_q:
        for qb in by_q:
            if qa == qb:
                continue
            for _ in range(PER):
                a, b = rng.choice(by_q[qa]), rng.choice(by_q[qb])
                for s in (a, b):
                    if s not in alone:
                        alone[s] = analyze(wav(s))[:, 1:].mean(0)
                d = alone[b] - alone[a]
                if np.hypot(*d) < 0.1:
                    close += 1
                    continue
                cat = os.path.join(WORK, "cat.wav")
                subprocess.run(["sox", wav(a), wav(b), cat], check=True, capture_output=True)
                y = analyze(cat)
                n_a = int(subprocess.run(["soxi", "-s", wav(a)], capture_output=True, text=True,
                                         check=True).stdout)
                switch = n_a / RATE
                proj = (y[:, 1:] - alone[a]) @ d / (d @ d)
                after = [(t + 0.5 - switch) for (t, p) in zip(y[:, 0], proj)
                         if t + 0.5 > switch and p >= 0.5]
                if after:
                    times.setdefault(f"{qa}->{qb}", []).append(after[0])
                else:
                    never += 1
    allt = np.array([t for v in times.values() for t in v])
    print("streaming model: seconds from a change of quadrant until the output passes the "
          "midpoint between the two clips' means")
    for k in sorted(times):
        v = np.array(times[k])
        print(f"  {k}: median {np.median(v):5.1f} s  p90 {np.percentile(v, 90):5.1f} s  "
              f"({len(v)} pairs)")
    if len(allt):
        print(f"  all: median {np.median(allt):.1f} s, 90th percentile {np.percentile(allt, 90):.1f} "
              f"s over {len(allt)} pairs; {never} never passed it within the second clip; "
              f"{close} pairs left out (means < 0.1 apart)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
