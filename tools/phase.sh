#!/usr/bin/env bash
# Runs one phase of `make test` and says how long it took:
#   tools/phase.sh NAME COMMAND...    run COMMAND; print "phase NAME: SECONDS s (exit N)"
#   tools/phase.sh --summary          print every phase of this run, and the total
# The lines are also kept in ${DWT_PHASES_FILE:-out/phases.txt} (reset by the first phase
# of a run, `install`), so CI's log ends with the time of each phase.
set -uo pipefail
file=${DWT_PHASES_FILE:-out/phases.txt}
mkdir -p "$(dirname "$file")"
if [[ ${1:-} == --summary ]]; then
    awk '{ print; total += $3 } END { printf "phases total: %.1f s\n", total }' "$file"
    exit 0
fi
name=$1
shift
[[ $name == install ]] && : >"$file"
start=$(date +%s.%N)
"$@"
status=$?
line=$(awk -v n="$name" -v t0="$start" -v t1="$(date +%s.%N)" -v s="$status" \
    'BEGIN { printf "phase %s: %.1f s (exit %d)", n, t1 - t0, s }')
echo "$line" | tee -a "$file"
exit "$status"
