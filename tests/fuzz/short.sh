#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# One bounded fuzz session of one target (used by ctest and by run.sh):
#   short.sh <fuzzer> <regressions-dir> <seed-dir> <dict> <work-dir> <seconds> [<replay-dir>]
# First every saved crash input (<regressions-dir>) and every replay input is run once: a
# fixed bug that comes back fails here, whatever the fuzzing finds; the replay inputs check
# that a whole real model still loads and builds through the target. Then the target fuzzes for
# <seconds> from <work-dir>/corpus (kept between runs) and the seeds; a crash, leak, timeout
# or sanitizer report fails the run and leaves its input in <work-dir>/artifacts.
set -u
fuzzer=$1 reg=$2 seeds=$3 dict=$4 work=$5 secs=$6 replay=${7:-}
name=$(basename "$fuzzer")
mkdir -p "$work/corpus" "$work/artifacts" || exit 1

# Saved crash inputs run with a malloc limit: some of them are inputs that made the readers
# allocate far more than the file size justifies before refusing them. File names here are
# ours (no spaces); find -L follows the link to the real checkpoint.
replay_set() { # <label> <fuzzer options> <folder>...
    label=$1 opts=$2
    shift 2
    files=$(find -L "$@" -type f ! -name '*.md' 2>/dev/null | sort)
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    if ! "$fuzzer" $opts $files >"$work/replay.log" 2>&1; then
        grep -E '^(==[0-9]+==|SUMMARY|.*runtime error|.*broke the|.*failed but|Running)' \
            "$work/replay.log" | tail -n 20
        echo "$name: a $label input fails (log: $work/replay.log)"
        exit 1
    fi
    echo "$name: replayed $(echo "$files" | wc -l) $label inputs"
}
replay_set regression "-timeout=60 -malloc_limit_mb=12" "$reg"
[ -n "$replay" ] && replay_set "whole-model" "-timeout=120" "$replay"

set -- -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/"
[ -f "$dict" ] && set -- "$@" -dict="$dict"
"$fuzzer" "$@" "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
echo "$name: ${runs:-?} executions in ${secs} s (${speed:-?} exec/s), corpus $(ls "$work/corpus" | wc -l) inputs"
if [ "$rc" != 0 ]; then
    grep -E '^(==[0-9]+==|SUMMARY|.*runtime error|.*broke the|.*failed but)' "$work/fuzz.log" | head -n 20
    echo "$name: failed (exit $rc); log $work/fuzz.log, input in $work/artifacts"
    exit 1
fi
