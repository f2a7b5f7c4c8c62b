#!/bin/sh
# Install valar's build, run, test and documentation dependencies on Debian
# (bookworm or later). Needs root (asks through sudo) only when something is
# missing: when every package is installed it says so and changes nothing.
#   chromium, chromium-driver, python3-selenium, python3-pil: the web view's
#     browser tests (tests/web);
#   man-db, groff-base: the man pages (man -l, and their test);
#   sndfile-tools (sndfile-jackplay), curl, jq, iproute2: the commands the
#     README and docs/ show, which tests/docs runs.
set -eu
pkgs="build-essential pkg-config meson ninja-build
    libfftw3-dev libsndfile1-dev libmpg123-dev libsoxr-dev libcjson-dev libcsv-dev
    libjack-jackd2-dev portaudio19-dev liblo-dev lv2-dev liblilv-dev libmicrohttpd-dev
    jackd2 liblo-tools lilv-utils jalv sordi
    python3 python3-numpy python3-scipy sox lame parallel ardour gdb
    chromium chromium-driver python3-selenium python3-pil
    man-db groff-base sndfile-tools curl jq iproute2"
# After bookworm, jack_lsp, jack_midi_dump & co. (used by the tests) moved
# out of jackd2 into their own package.
if apt-cache show jack-example-tools >/dev/null 2>&1; then
    pkgs="$pkgs jack-example-tools"
fi

missing=""
for p in $pkgs; do
    case $(dpkg-query -W -f '${Status}' "$p" 2>/dev/null) in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    echo "valar: dependencies installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! echo "$pkgs" | grep -q jack-example-tools \
        && apt-cache show jack-example-tools >/dev/null 2>&1; then
    missing="$missing jack-example-tools"   # not known before the update
fi
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "valar: dependencies installed"
