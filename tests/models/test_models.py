#!/usr/bin/env python3
"""The shipped models on real music: guards and a short real training.

usage: test_models.py CHECK VALAR_TRAIN SRC_DIR DATA_4Q WORK_DIR
  guard   runs both shipped models (models/valar-offline.safetensors,
          models/valar-streaming.safetensors) on the 4Q test split with
          `valar-train eval` and fails when quadrant accuracy falls more
          than 3 points below, or an RMSE (arousal or valence, all frames
          or song means) rises more than 0.02 above, the figures of the
          model card (models/figures.json, written when the models were
          chosen: tools/model-figures.sh).
  train   trains a small offline model for a few epochs on 24 real clips
          (validating on 8 others) and checks that the validation RMSE of
          the best epoch is below that of the initial weights.
Both skip (exit 77, saying why) only when DATA_4Q (../shared/data/4q beside
the checkout) is absent.
"""
import json
import os
import re
import subprocess
import sys

CHECK, TRAIN, SRC, DATA, WORK = sys.argv[1:6]
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
from testutil import check, failures  # noqa: E402


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=1200)


def labels():
    path = os.path.join(WORK, "labels.csv")
    r = run([TRAIN, "labels", "--4q", DATA, "--out", path, "--quiet"])
    if not check(r.returncode == 0, "4Q labels: " + r.stderr.strip()):
        sys.exit(1)
    return path


def guard():
    card = json.load(open(os.path.join(SRC, "models", "figures.json")))
    text = open(os.path.join(SRC, "models", "README.md")).read()
    for name, want in card["models"].items():
        row = re.search(r"^\| \*\*" + re.escape(name.replace(".safetensors", "")) + r"\*\* \|(.*)$",
                        text, re.M)
        m = want["models"][0]
        cells = [c.strip().strip("*") for c in row.group(1).split("|")] if row else []
        check(cells[:3] == [f"{100 * m[k]:.1f} %" for k in
                            ("quadrant_accuracy", "arousal_sign_accuracy", "valence_sign_accuracy")],
              f"the model card's row for {name} quotes figures.json ({cells[:3]})")
    lab = labels()
    for name, want in card["models"].items():
        model = os.path.join(SRC, "models", name)
        r = run([TRAIN, "eval", "--labels", lab, "--audio", os.path.join(DATA, "audio"),
                 "--split", os.path.join(DATA, "split.txt"), "--cache",
                 os.path.join(WORK, "features.cache"), "--model", model, "--set", want["set"],
                 "--no-baselines", "--format", "json", *card["eval_args"]])
        if not check(r.returncode == 0, f"{name}: eval runs ({r.stderr.strip()[-300:]})"):
            continue
        rep = json.loads(r.stdout)
        got, ref = rep["models"][0], want["models"][0]
        check(rep["songs"] == want["songs"], f"{name}: {rep['songs']} test songs ({want['songs']})")
        q, q0 = got["quadrant_accuracy"], ref["quadrant_accuracy"]
        check(q >= q0 - 0.03, f"{name}: quadrant accuracy {100 * q:.1f} % "
                              f"(model card {100 * q0:.1f} %, floor {100 * (q0 - 0.03):.1f} %)")
        for key in ("rmse_arousal", "rmse_valence", "song_mean_rmse_arousal",
                    "song_mean_rmse_valence"):
            check(got[key] <= ref[key] + 0.02,
                  f"{name}: {key} {got[key]:.4f} (model card {ref[key]:.4f}, ceiling "
                  f"{ref[key] + 0.02:.4f})")


def train():
    lab = labels()
    sets = {}
    for line in open(os.path.join(DATA, "split.txt")):
        p = line.split("#")[0].split()
        if p:
            sets.setdefault(p[0], []).extend(p[1:])
    split = os.path.join(WORK, "small-split.txt")
    with open(split, "w") as f:
        f.write("train " + " ".join(sets["train"][:24]) + "\nval " + " ".join(sets["val"][:8]) + "\n")
    out = os.path.join(WORK, "small.safetensors")
    r = run([TRAIN, "train", "--labels", lab, "--audio", os.path.join(DATA, "audio"), "--split",
             split, "--cache", os.path.join(WORK, "features.cache"), "--out", out, "--epochs", "12",
             "--lr", "0.003", "--dropout", "0.25", "--l1", "0.001", "--act-l1", "0", "--act-l2", "0",
             "--seq-len", "20", "--batch", "16"])
    print(r.stderr)
    if not check(r.returncode == 0 and os.path.exists(out), "a short training on 24 real clips runs"):
        return
    val = [(float(a) + float(v)) / 2 for a, v in
           re.findall(r"^epoch +\d+ .*val rmse A ([\d.]+) V ([\d.]+)", r.stderr, re.M)]
    check(len(val) == 13 and min(val[1:]) < val[0],
          f"validation RMSE (mean of A and V) falls below the initial {val[:1]}: {val[1:]}")


def main():
    if not os.path.isdir(os.path.join(DATA, "audio")):
        print(f"SKIP: no 4Q data at {DATA} (../shared/data/4q beside the checkout)")
        return 77
    os.makedirs(WORK, exist_ok=True)
    {"guard": guard, "train": train}[CHECK]()
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
