#!/usr/bin/env bash
# `make fuzz`, media part: runs MediaFuzzTests (200 mutated media files by default) under valgrind memcheck.
# Fails on any invalid read/write or any "definitely lost" block outside XCTest's own two (suppressed in
# scripts/valgrind-xctest.supp). Valgrind 3.19 cannot read Swift's default DWARF 5, so the test bundle is
# built separately with DWARF 4 in .build/valgrind (first build is cold: a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "media leak check: installing valgrind (Debian package)"
    if ! { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends valgrind; } >/dev/null 2>&1; then
        echo "media leak check: SKIPPED (valgrind not available)"
        exit 0
    fi
fi
build_log=$(mktemp)
if ! ${SWIFT:-swift} build --build-tests --scratch-path .build/valgrind -Xswiftc -dwarf-version=4 -Xcc -gdwarf-4 >"$build_log" 2>&1; then
    grep -E "error" "$build_log" | head -20; rm -f "$build_log"
    echo "media leak check: FAILED (the DWARF 4 test build failed)"; exit 1
fi
rm -f "$build_log"
bundle=$(find .build/valgrind -maxdepth 3 -name WorldGPTPackageTests.xctest -type f | head -1)
[ -n "$bundle" ] || { echo "media leak check: test bundle not built"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
WORLDGPT_MEDIA_FUZZ_ITERATIONS="${WORLDGPT_MEDIA_LEAK_ITERATIONS:-200}" valgrind --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --error-exitcode=99 --suppressions=scripts/valgrind-xctest.supp --num-callers=30 \
    "$bundle" MediaTests.MediaFuzzTests >"$log" 2>&1 || status=$?
grep -E "media fuzz:|Executed|ERROR SUMMARY|definitely lost|Invalid (read|write)" "$log" || true
if [ "$status" -ne 0 ]; then
    echo "media leak check: FAILED (valgrind exit $status); full log:"; cat "$log"; exit 1
fi
echo "media leak check: passed (no invalid accesses, no definite leaks)"
