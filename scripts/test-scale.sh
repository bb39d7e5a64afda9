#!/usr/bin/env bash
# The scale-out tests (python/tests: the Ray driver on a local Ray, against .build/debug/worldgpt), with a closing
# line `scale: N passed, F failed` read from unittest's own summary. Ray's session files go to a temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
export RAY_AUTH_MODE=disabled
python3 -m unittest discover -s python/tests -v 2>&1 | tee .build/test-scale.log
status=${PIPESTATUS[0]}
ran=$(grep -Eo '^Ran [0-9]+ tests?' .build/test-scale.log | grep -Eo '[0-9]+' | tail -1)
failed=$(grep -Eo '(failures|errors)=[0-9]+' .build/test-scale.log | awk -F= '{s += $2} END {print s + 0}')
ran=${ran:-0}; failed=${failed:-0}
if [ "$ran" -eq 0 ]; then echo "scale: no test ran" >&2; status=1; fi
echo "scale: $((ran - failed)) passed, $failed failed"
exit "$status"
