#!/usr/bin/env bash
# Prints `tests: N passed, F failed, S skipped` from XCTest's per-test lines of a `swift test` log
# ("Test Case 'A.b' passed|failed|skipped (…)"; a test that both skipped and failed counts as failed), checked
# against XCTest's last total ("Executed 275 tests, with …"). Exits 1 when the log has no total, a test failed,
# or a test skipped while CI=true (unless WORLDGPT_ALLOW_SKIPS=1 was set by hand).
set -euo pipefail
log=$1
summary=$(grep -E "Executed [0-9]+ tests?, with " "$log" | tail -n 1 || true)
if [ -z "$summary" ]; then
    echo "tests: no XCTest total found in the log (the test binary did not run to the end)" >&2
    exit 1
fi
executed=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
cases() { grep -oE "^Test Case '[^']+' $1" "$log" | sed -E "s/ $1\$//" | sort -u || true; }
failed_list=$(cases failed)
failed=$(grep -c . <<<"$failed_list" || true)
skipped=$(comm -23 <(cases skipped) <(printf '%s\n' "$failed_list" | sort -u) | grep -c . || true)
passed=$(cases passed | grep -c . || true)
if grep -qE " [1-9][0-9]* failures?" <<<"$summary" && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ $((passed + failed + skipped)) -ne "$executed" ]; then
    echo "tests: XCTest's total says $executed executed, the per-test lines add up to $((passed + failed + skipped))" >&2
fi
if [ "$failed" -ne 0 ]; then exit 1; fi
ci=$(tr '[:upper:]' '[:lower:]' <<<"${CI:-}")
if [ "$skipped" -ne 0 ] && { [ "$ci" = "true" ] || [ "$ci" = "1" ]; } && [ "${WORLDGPT_ALLOW_SKIPS:-}" != "1" ]; then
    echo "tests: $skipped skipped while CI=true: every skip is a failure in CI (see Sources/TestSupport/Requirements.swift)" >&2
    exit 1
fi
