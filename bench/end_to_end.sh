#!/bin/sh
# End to end (issue 14): the README's conversion of walk_1080p_tone.mp4 (H.264 composition with
# its audio + H.264 alpha video, default encoder settings) against rvm_bench (the network
# alone) at the same size, ratio and threads, in one run. Each round runs both, one right
# after the other, in alternating order (the first round rvm_bench first, the second the
# conversion first, ...), so that a host getting busier or quieter during the run does not
# favour one side; the round's ratio of frame rates compares two runs seconds apart. Prints
# every round's figures, each side's frame rate and CPU time per frame (medians of the rounds)
# and the median of the rounds' ratios, the figure issue 14 wants >= 0.6 (the ratio of the
# medians, printed too, mixes runs of different rounds). Run it on an idle machine: on a
# loaded one only the CPU times mean something, and the spread of the rounds' ratios says how
# far to trust the median.
# The conversion's frame rate is its frames over the whole run's wall time (start-up and the
# model's loading included: a one-frame conversion took 0.67 s on a quiet host on 2026-12-02,
# before that day's start-up work cut it by about a third): it is, if anything, understated.
# usage: bench/end_to_end.sh [--ratio 0.25] [--threads 2] [--rounds 5] [--input FILE]
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${RVM_SHARED_DIR:-$root/../shared}
build=${RVM_BUILD_DIR:-$root/build}
ratio=0.25 threads=2 rounds=5 input=$shared/footage/walk_1080p_tone.mp4
while [ $# -gt 1 ]; do
  case $1 in
    --ratio) ratio=$2 ;; --threads) threads=$2 ;; --rounds) rounds=$2 ;; --input) input=$2 ;;
    *) echo "end_to_end: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ $# -eq 0 ] || { echo "end_to_end: unknown option $1" >&2; exit 2; }
rvm=$build/rvm bench=$build/bench/rvm_bench
[ -x "$rvm" ] && [ -x "$bench" ] || { echo "end_to_end: build first ($rvm, $bench)" >&2; exit 1; }
[ -r "$input" ] || { echo "end_to_end: no input $input" >&2; exit 1; }
command -v ffprobe >/dev/null || { echo "end_to_end: needs ffprobe" >&2; exit 1; }

size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$input")
width=${size%,*} height=${size#*,}
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
         -of csv=p=0 "$input")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Wall time from date (nanoseconds: GNU); CPU time (user + system) of the children from the
# shell's `times` (its second line), read from a file: a command substitution would be a shell
# of its own, without those children.
now() { date +%s.%N; }
cpu_of() { tail -n 1 "$1" | awk '{ split($1, u, "m"); split($2, s, "m"); sub("s", "", u[2]);
                                   sub("s", "", s[2]); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }'; }

: >"$tmp/conv" ; : >"$tmp/bench" ; : >"$tmp/ratio"
# The network alone: as many frames as the clip has.
run_bench() {
  "$bench" --width "$width" --height "$height" --ratio "$ratio" --threads "$threads" \
      --frames "$frames" >"$tmp/b.json"
  sed -n 's/.*"fps": \([0-9.]*\).*"cpu_ms_per_frame": \([0-9.]*\).*/\1 \2/p' "$tmp/b.json" \
      >"$tmp/b1"
}
# The conversion, in a subshell so `times` counts it alone.
run_conv() {
  ( times >"$tmp/c0"; t0=$(now)
    "$rvm" --disable-progress -y -i "$input" --downsample-ratio "$ratio" --threads "$threads" \
        --output-composition "$tmp/com.mp4" --output-alpha "$tmp/pha.mp4"
    t1=$(now); times >"$tmp/c1"
    echo "$t0 $t1 $(cpu_of "$tmp/c0") $(cpu_of "$tmp/c1")" | awk -v n="$frames" '{ printf "%.3f %.2f\n", n / ($2 - $1), ($4 - $3) * 1000 / n }'
  ) >"$tmp/c1line"
}
echo "input: $input (${width}x${height}, $frames frames), ratio $ratio, $threads threads, $rounds rounds"
r=0
while [ $r -lt "$rounds" ]; do
  r=$((r + 1))
  : >"$tmp/b1"; : >"$tmp/c1line"
  if [ $((r % 2)) -eq 1 ]; then run_bench; run_conv; else run_conv; run_bench; fi
  [ -s "$tmp/b1" ] && [ -s "$tmp/c1line" ] || { echo "end_to_end: a run printed nothing" >&2; exit 1; }
  cat "$tmp/b1" >>"$tmp/bench"
  cat "$tmp/c1line" >>"$tmp/conv"
  paste -d' ' "$tmp/c1line" "$tmp/b1" | awk -v r=$r -v load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)" '{
      printf "round %d: conversion %.2f fps, %.1f ms CPU a frame; rvm_bench %.2f fps, %.1f ms CPU; ratio %.3f (load %s)\n",
             r, $1, $2, $3, $4, $1 / $3, load }'
  paste -d' ' "$tmp/c1line" "$tmp/b1" | awk '{ printf "%.4f\n", $1 / $3 }' >>"$tmp/ratio"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bfps=$(cut -d' ' -f1 "$tmp/bench" | median) bcpu=$(cut -d' ' -f2 "$tmp/bench" | median)
cfps=$(cut -d' ' -f1 "$tmp/conv" | median) ccpu=$(cut -d' ' -f2 "$tmp/conv" | median)
rmed=$(median <"$tmp/ratio")
rlo=$(sort -n "$tmp/ratio" | head -n 1) rhi=$(sort -n "$tmp/ratio" | tail -n 1)
echo "rvm_bench (network alone):        $bfps fps, $bcpu ms CPU per frame"
echo "conversion (composition + alpha): $cfps fps, $ccpu ms CPU per frame"
echo "$rmed $rlo $rhi" |
    awk '{ printf "ratio (conversion / rvm_bench), median of the rounds: %.2f in frame rate (rounds %.2f-%.2f)\n", $1, $2, $3 }'
echo "$cfps $bfps $ccpu $bcpu" |
    awk '{ printf "ratio of the medians: %.2f in frame rate, %.2f in CPU time per frame\n", $1 / $2, $3 / $4 }'
