#!/usr/bin/env python3
"""Write docs/figures.md from the benchmarks' own output.

    tools/bench-figures.py [BUILD_DIR] [BENCHMARK...]

Runs each benchmark of the plain build BUILD_DIR (default: build) with
`meson test --benchmark`, and writes docs/figures.md: one section per
benchmark with what it measures (the table below) and its output verbatim,
each with a line naming the machine, the load and the commit of its run. With BENCHMARK names only
those run again; the other sections keep their recorded output.

Every figure of the page is a benchmark's output: the page is rendered from
the recorded outputs alone, and the docs-figures test renders it again from
them and compares, so a hand edit fails it. Takes a few minutes (the
library benchmark alone 2-3); run it on a machine as quiet as you can get.
"""
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PAGE = os.path.join(ROOT, "docs", "figures.md")

# name, heading, what it measures (Markdown); in the page's order.
BENCHMARKS = [
    ("crnn", "the network per step and per frame",
     "`bench_crnn`: microseconds per `crnn_step` (streaming) and per frame of "
     "`crnn_run_sequence` (offline) for the paper's size and wider models, with "
     "every kernel set the CPU runs; GFLOP/s against a loop of independent "
     "multiply-adds measured in the same run (the peak); \"cold\": a step after "
     "the caches were flushed. Times are the best of many batches."),
    ("melspec", "features per 500 ms segment",
     "`bench_melspec`: microseconds per 500 ms segment of the feature "
     "pipeline (resampling, STFT, mel, log) per input rate and configuration, "
     "best of 30 s of audio fed in 512-sample blocks, split into FFT, the "
     "per-frame work, and the resampler."),
    ("analyzer-push", "the streaming engine",
     "`bench_analyzer`: the whole live analysis (`analyzer_push`: features "
     "and `crnn_step`) per 500 ms of 48 kHz audio at two block sizes, and "
     "its heap."),
    ("plugin-step", "the 500 ms step in run() or on a worker",
     "`bench_plugin`: both designs of the LV2 plugin on 60 s of stereo "
     "audio, with the library code the plugin runs: blocks that complete a "
     "segment (and so carry the step) against blocks that do not, and the "
     "same work on a worker thread (run() side, the step, and when its "
     "result is ready). Why valar keeps the step in run(): "
     "[design.md](design.md#the-lv2-plugin)."),
    ("plugin-run", "the real plugin's worst run()",
     "`bench_plugin_run`: the real `valar.lv2` loaded with lilv, with the "
     "shipped streaming model and a 32-wide one, every `run()` of 20 s of stereo "
     "audio timed (thread CPU time, least of 3 replays, and wall clock) per rate "
     "and period, with each 500 ms step spread over `run()` calls (the plugin as "
     "shipped) and whole (the same source built without spreading, as before); "
     "step calls with warm caches and with all caches evicted first, the worst "
     "`run()` as a share of the period, and `crnn_step` alone and in slices. "
     "Why and how: [design.md](design.md#the-lv2-plugin)."),
    ("listen-cost", "valar listen on a JACK server",
     "`test_listen.py bench`: `valar listen --stats` on a real `jackd -d "
     "dummy` at 48 kHz (not real-time), with OSC, MIDI and stdout on: the "
     "audio callback's cost per period (mean / max; the max includes "
     "preemption, as the server is not real-time) and the worker's CPU time "
     "per 500 ms hop, per period size."),
    ("listen-soak", "valar listen for 10 minutes",
     "`test_listen.py soak`: `valar listen` on a real `jackd -d dummy` (not "
     "real-time) for 10 minutes (`VALAR_SOAK_S` seconds) of a looped 20 s "
     "stereo file at 48 kHz and 256 frames per period, with OSC (to "
     "`oscdump`), MIDI (back to the player) and stdout on: results, drops, "
     "the server's xruns, RSS and anonymous memory (heap, stacks) over the "
     "run, CPU, and the JACK callback's wall-clock and CPU time per period as "
     "percentiles (`tests/common/rt_time.c`, preloaded, implements the "
     "`src/rtcheck.h` hooks). It fails on a dropped sample, a missing result "
     "or anonymous memory growing after the first minute."),
    ("library", "whole-library analysis",
     "`bench_library`: `valar analyze` as it runs on a library of synthetic "
     "songs (WAV, FLAC, MP3 and Opus at 44.1 and 48 kHz), at `-j 1` and "
     "`-j 2`, against only decoding the same files; then the CPU time per "
     "hour of audio split into decoding, resampling, features and the "
     "network, per format. What it means: [analyze.md](analyze.md#speed)."),
    ("models-response", "how fast the streaming model follows a change of mood",
     "`bench_response.py`: pairs of 4Q test clips from different quadrants "
     "played one after the other through the shipped streaming model, as "
     "`valar listen` steps it: the time from the switch until the output has "
     "moved half-way from the first clip's mean to the second's, per kind of "
     "transition. Needs the 4Q data (`../shared/data/4q`)."),
    ("train-epoch", "training epoch time",
     "`bench_train`: seconds per epoch of `valar-train` on a DEAM-sized "
     "feature set (431 songs of 45 s, 64 mels, batch 32, seq-len 10, "
     "dropout 0.75), both kinds of model."),
]

HEADER = """# Measured figures

Generated by `tools/bench-figures.py` from the benchmarks' own output: do
not edit by hand (the `docs-figures` test renders the page again from the
recorded outputs and compares). Each section names the benchmark, says what
it measures and shows what it printed. Run one yourself with
`meson test -C build --benchmark --suite bench -v NAME`; regenerate the page
with `tools/bench-figures.py build` (all) or `tools/bench-figures.py build
NAME...` (some). The machine is shared and loaded, so times are noisy: compare
figures of one run with each other, and read maxima as including preemption.
"""


def slug(heading):
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def render(outputs):
    """The page from {benchmark: (run line, output)}."""
    parts = [HEADER]
    toc = []
    for name, title, _ in BENCHMARKS:
        if name in outputs:
            toc.append(f"[{name}](#{slug(name + ': ' + title)})")
    parts += ["Contents: " + " · ".join(toc), ""]
    for name, title, what in BENCHMARKS:
        if name not in outputs:
            continue
        run, out = outputs[name]
        parts += [f"## {name}: {title}", "", what, "",
                  f"<!-- bench: {name} {seal(run, out)} -->", run.strip(), "",
                  "```text", out.rstrip("\n"), "```", "<!-- /bench -->", ""]
    return "\n".join(parts)


def seal(run, out):
    """A checksum of what a run printed: an edit by hand breaks it."""
    h = hashlib.sha256((run.strip() + "\n" + out.rstrip("\n")).encode()).hexdigest()
    return "sha256:" + h[:16]


def parse(text):
    """{benchmark: (run line, output)} recorded in a page (with a seal that
    does not match when the output was edited)."""
    outputs = {}
    for m in re.finditer(r"<!-- bench: ([\w-]+) (\S+) -->\n(.*?)\n\n```text\n(.*?)\n```\n"
                         r"<!-- /bench -->", text, re.S):
        outputs[m.group(1)] = (m.group(3), m.group(4) + "\n", m.group(2))
    return outputs


def machine_line(build):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    opts = json.loads(subprocess.run(["meson", "introspect", build, "--buildoptions"],
                                     capture_output=True, text=True, check=True).stdout)
    opt = {o["name"]: o["value"] for o in opts}
    rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return (f"Run {date} at commit `{rev}`, {cpu}, {os.cpu_count()} CPUs, load "
            f"average {os.getloadavg()[0]:.1f} at the start, build type "
            f"`{opt.get('buildtype')}`, sanitizers `{opt.get('b_sanitize')}`.")


def run_benchmark(build, name):
    log = f"bench-figures-{name}"
    r = subprocess.run(["meson", "test", "-C", build, "--benchmark", "--suite", "bench",
                        "--logbase", log, name], capture_output=True, text=True)
    path = os.path.join(build, "meson-logs", log + ".json")
    with open(path) as f:
        rec = [json.loads(line) for line in f if line.strip()]
    if r.returncode != 0 or not rec or rec[-1].get("result") != "OK":
        sys.exit(f"bench-figures: benchmark {name} failed:\n{r.stdout[-2000:]}")
    out = rec[-1].get("stdout", "")
    err = rec[-1].get("stderr") or ""
    return out + err


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    names = sys.argv[2:] or [n for n, _, _ in BENCHMARKS]
    known = {n for n, _, _ in BENCHMARKS}
    for n in names:
        if n not in known:
            sys.exit(f"bench-figures: no benchmark {n} in the table (known: {sorted(known)})")
    outputs = {}
    if os.path.exists(PAGE):
        outputs = {k: v[:2] for k, v in parse(open(PAGE, encoding="utf-8").read()).items()}
    for n in names:
        print(f"bench-figures: {n} ...", flush=True)
        run = machine_line(build)
        outputs[n] = (run, run_benchmark(build, n))
    tmp = PAGE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render(outputs))
    os.replace(tmp, PAGE)
    print(f"bench-figures: wrote {os.path.relpath(PAGE)}")


if __name__ == "__main__":
    main()
