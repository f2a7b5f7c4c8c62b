#!/bin/sh
# Make the pictures of README.md and docs/ from examples/demo.ogg (never from other data):
#   docs/img/plot.svg  valar analyze --plot examples/demo.ogg
#   docs/img/live.png  the page of valar listen --http after demo.ogg was
#                      played three times through a private jackd -d dummy
#                      (headless Chromium, tests/web/test_web.py figures)
# usage: tools/make-figures.sh [BUILD_DIR]   (default: build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p docs/img
"$build/src/valar" analyze -q --plot docs/img/plot.svg examples/demo.ogg >/dev/null
meson compile -C "$build" figures
echo "wrote docs/img/plot.svg and docs/img/live.png"
