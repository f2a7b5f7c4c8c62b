#!/bin/sh
# Install valar's build, run and test dependencies on Debian (bookworm or later).
# Run as root (or through sudo). chromium, chromium-driver, python3-selenium
# and python3-pil are for the web view's browser tests (tests/web).
set -eu
if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config meson ninja-build \
    libfftw3-dev libsndfile1-dev libsoxr-dev libcjson-dev libcsv-dev \
    libjack-jackd2-dev portaudio19-dev liblo-dev lv2-dev liblilv-dev libmicrohttpd-dev \
    jackd2 liblo-tools lilv-utils jalv sordi \
    python3 python3-numpy python3-scipy sox lame parallel ardour \
    chromium chromium-driver python3-selenium python3-pil >/dev/null
# After bookworm, jack_lsp, jack_midi_dump & co. (used by the tests) moved
# out of jackd2 into their own package.
if apt-cache show jack-example-tools >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends jack-example-tools >/dev/null
fi
echo "valar: dependencies installed"
