#!/bin/sh
# Build valar twice and run every test:
#   build-san: ASan + UBSan, all suites but 'nosan' and 'bench';
#   build:     plain build, suite 'nosan' (tests that load our code into hosts
#              not built with sanitizers, or that interpose malloc).
# Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
fail_build=0

setup() { # dir, extra meson args...
    dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    fi
    ninja -C "$dir" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
}

count() { # meson test log -> "ok fail"
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$1" | tail -1)
    expfail=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$1" | tail -1)
    bad=0
    for k in Fail "Unexpected Pass" Timeout; do
        n=$(sed -n "s/^$k: *\([0-9]*\).*/\1/p" "$1" | tail -1)
        bad=$((bad + ${n:-0}))
    done
    echo "$(( ${ok:-0} + ${expfail:-0} )) $bad"
}

passed=0; failed=0
if setup build-san -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=undefined; then
    meson test -C build-san --num-processes "$jobs" --no-suite nosan --no-suite bench \
        --print-errorlogs 2>&1 | tee build-san.test.log
    set -- $(count build-san.test.log); passed=$((passed + $1)); failed=$((failed + $2))
else
    fail_build=1
fi
if setup build; then
    meson test -C build --num-processes "$jobs" --suite nosan --print-errorlogs 2>&1 \
        | tee build.test.log
    set -- $(count build.test.log); passed=$((passed + $1)); failed=$((failed + $2))
else
    fail_build=1
fi
[ "$fail_build" -eq 0 ] || { echo "build failed"; failed=$((failed + 1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
