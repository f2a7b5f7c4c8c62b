#!/usr/bin/env python3
"""The shipped models' test figures, once, for the model card.

usage: tools/model-figures.py VALAR_TRAIN [DATA_4Q] [WORK_DIR]

Makes the 4Q labels (valar-train labels), runs `valar-train eval --format
json` with both baselines on the test split for models/valar-offline and
models/valar-streaming, and writes models/figures.json, which the model card
(models/README.md) quotes and the CI guard (tests/models, models-guard)
compares fresh figures against. Prints the card's table (Markdown).
Run it when the shipped models change, not to choose them: choose on val.
"""
import json
import os
import subprocess
import sys

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SRC, "..", "shared", "data", "4q")
WORK = sys.argv[3] if len(sys.argv) > 3 else "/tmp/valar-model-figures"
EVAL_ARGS = []  # every frame counts (no --warmup): what a user analysing a file gets
MODELS = ["valar-offline.safetensors", "valar-streaming.safetensors"]


def main():
    os.makedirs(WORK, exist_ok=True)
    labels = os.path.join(WORK, "labels.csv")
    subprocess.run([TRAIN, "labels", "--4q", DATA, "--out", labels, "--quiet"], check=True)
    out = {"data": "4Q (Panda et al. 2018), split.txt test set; labels: valar-train labels --4q",
           "eval_args": EVAL_ARGS, "models": {}}
    for name in MODELS:
        r = subprocess.run([TRAIN, "eval", "--labels", labels, "--audio",
                            os.path.join(DATA, "audio"), "--split", os.path.join(DATA, "split.txt"),
                            "--cache", os.path.join(WORK, "features.cache"), "--model",
                            os.path.join(SRC, "models", name), "--set", "test", "--format", "json",
                            *EVAL_ARGS], check=True, capture_output=True, text=True)
        out["models"][name] = json.loads(r.stdout)
    tmp = os.path.join(SRC, "models", "figures.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(SRC, "models", "figures.json"))
    print("| model | quadrant accuracy | arousal sign | valence sign | RMSE A / V (frames) "
          "| RMSE A / V (song means) | r A / V (song means) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, rep in out["models"].items():
        for m in rep["models"]:
            label = name.replace(".safetensors", "") if m["name"].endswith(name) else m["name"]
            print(f"| {label} | {100 * m['quadrant_accuracy']:.1f} % | "
                  f"{100 * m['arousal_sign_accuracy']:.1f} % | {100 * m['valence_sign_accuracy']:.1f} % | "
                  f"{m['rmse_arousal']:.3f} / {m['rmse_valence']:.3f} | "
                  f"{m['song_mean_rmse_arousal']:.3f} / {m['song_mean_rmse_valence']:.3f} | "
                  f"{m['song_mean_r_arousal'] or 0:.3f} / {m['song_mean_r_valence'] or 0:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
