#!/usr/bin/env bash
# The scale-out tests (python/tests: the Ray driver on a local Ray, and the PostgreSQL store against a PostgreSQL 15
# that test_postgres.py starts in a temporary folder; both against .build/debug/worldgpt), with a closing line
# `scale: N passed, F failed` read from unittest's own summary. With CI=true a skipped test fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
export RAY_AUTH_MODE=disabled
# Ray on Linux binds its processes to the address its route to the outside names; this makes it use 127.0.0.1, so the
# local cluster's traffic stays on loopback.
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
# Only the scale-out modules: the other python/tests modules are the serve tests (pytest in .venv-serve, run by ServerTests).
python3 -m unittest -v python/tests/test_ray_driver.py python/tests/test_dataset.py python/tests/test_postgres.py 2>&1 | tee .build/test-scale.log
status=${PIPESTATUS[0]}
ran=$(grep -Eo '^Ran [0-9]+ tests?' .build/test-scale.log | grep -Eo '[0-9]+' | tail -1)
failed=$(grep -Eo '(failures|errors)=[0-9]+' .build/test-scale.log | awk -F= '{s += $2} END {print s + 0}')
ran=${ran:-0}; failed=${failed:-0}
if [ "$ran" -eq 0 ]; then echo "scale: no test ran" >&2; status=1; fi
skipped=$(grep -Eo 'skipped=[0-9]+' .build/test-scale.log | awk -F= '{s += $2} END {print s + 0}')
if [ "${CI:-}" = "true" ] && [ "${skipped:-0}" -gt 0 ]; then echo "scale: $skipped test(s) skipped, which CI counts as a failure" >&2; status=1; fi
echo "scale: $((ran - failed)) passed, $failed failed"
exit "$status"
