#!/bin/sh
# Builds rvm and runs the whole test suite twice: an optimised build (and the Python
# package's tests over it, scripts/test-python.sh), then one under AddressSanitizer and
# UndefinedBehaviorSanitizer; then a short libFuzzer run of each fuzz
# target (about 25 s each; RVM_FUZZ_SECONDS changes it). Uses ../shared (full golden set,
# footage, models) when present; the shipped subset otherwise.
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
# ctest shows a skipped test's reason only in its log: say once, before it runs, why many skip.
if [ ! -d ../shared ]; then
  echo "test: no ../shared here: the tests that need the full golden set, the random-weight" \
    "checkpoints or the footage skip (ctest marks them Skipped); the shipped subset in tests/data runs"
fi
ctest --test-dir build --output-on-failure -j"$jobs"
sh scripts/test-python.sh
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRVM_SANITIZE=ON >/dev/null
cmake --build build-sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize --output-on-failure -j"$jobs" -LE slow
if command -v clang >/dev/null 2>&1; then
  CC=clang cmake -S . -B build-fuzz-ci -DRVM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRVM_FUZZ_SECONDS="${RVM_FUZZ_SECONDS:-25}" >/dev/null
  cmake --build build-fuzz-ci -j"$jobs" --target fuzz_pth fuzz_tfjs rvm_fuzz_seeds
  if [ -d ../shared/footage ]; then
    cmake --build build-fuzz-ci -j"$jobs" --target fuzz_media rvm_fuzz_media_seeds
  fi
  # Each target fuzzes on one core for a fixed time: two at once on two cores run as many
  # inputs each in half the wall time.
  ctest --test-dir build-fuzz-ci --output-on-failure -L fuzz -j"$jobs"
else
  echo "fuzz: skipped (no clang; scripts/install-deps.sh installs it)"
fi
