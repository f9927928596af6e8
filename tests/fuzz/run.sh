#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the fuzz targets (with clang, in their own folder) and fuzzes each one in turn:
#   tests/fuzz/run.sh [seconds-per-target (default 60)] [target ...]   (targets: pth tfjs)
# One fuzzer process at a time. The corpus grows in <build>/work/<target>/corpus across runs;
# crash inputs land in <build>/work/<target>/artifacts (copy them to regressions/<target>/ once
# fixed). RVM_FUZZ_BUILD overrides the build folder (default build-fuzz in the source tree).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-pth tfjs}
build=${RVM_FUZZ_BUILD:-$root/build-fuzz}

CC=clang cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "$build" -j2 >"$build/build.log" 2>&1 || { tail -n 30 "$build/build.log"; exit 1; }

status=0
for t in $targets; do
    sh "$root/tests/fuzz/short.sh" "$build/fuzz_$t" "$root/tests/fuzz/regressions/$t" \
        "$build/seeds/$t" "$root/tests/fuzz/$t.dict" "$build/work/$t" "$secs" \
        "$build/seeds/replay/$t" || status=1
done
exit $status
