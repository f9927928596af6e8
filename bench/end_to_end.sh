#!/bin/sh
# End to end (issue 14): the README's conversion of walk_1080p_tone.mp4 (H.264 composition with
# its audio + H.264 alpha video, default encoder settings) against rvm_bench (the network
# alone) at the same size, ratio and threads, alternating, in one run. Prints each side's frame
# rate and CPU time per frame (medians of the rounds) and the ratio of the frame rates, which
# the issue wants >= 0.6. Run it on an idle machine: on a loaded one only the CPU times mean
# something.
# The conversion's frame rate is its frames over the whole run's wall time (start-up and the
# model's loading included, ~0.2 s of ~7): it is, if anything, understated.
# usage: bench/end_to_end.sh [--ratio 0.25] [--threads 2] [--rounds 3] [--input FILE]
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${RVM_SHARED_DIR:-$root/../shared}
build=${RVM_BUILD_DIR:-$root/build}
ratio=0.25 threads=2 rounds=3 input=$shared/footage/walk_1080p_tone.mp4
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

: >"$tmp/conv" ; : >"$tmp/bench"
r=0
while [ $r -lt "$rounds" ]; do
  r=$((r + 1))
  # The network alone: as many frames as the clip has.
  "$bench" --width "$width" --height "$height" --ratio "$ratio" --threads "$threads" \
      --frames "$frames" >"$tmp/b.json"
  sed -n 's/.*"fps": \([0-9.]*\).*"cpu_ms_per_frame": \([0-9.]*\).*/\1 \2/p' "$tmp/b.json" \
      >>"$tmp/bench"
  # The conversion, in a subshell so `times` counts it alone.
  ( times >"$tmp/c0"; t0=$(now)
    "$rvm" --disable-progress -y -i "$input" --downsample-ratio "$ratio" --threads "$threads" \
        --output-composition "$tmp/com.mp4" --output-alpha "$tmp/pha.mp4"
    t1=$(now); times >"$tmp/c1"
    echo "$t0 $t1 $(cpu_of "$tmp/c0") $(cpu_of "$tmp/c1")" | awk -v n="$frames" '{ printf "%.3f %.2f\n", n / ($2 - $1), ($4 - $3) * 1000 / n }'
  ) >>"$tmp/conv"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bfps=$(cut -d' ' -f1 "$tmp/bench" | median) bcpu=$(cut -d' ' -f2 "$tmp/bench" | median)
cfps=$(cut -d' ' -f1 "$tmp/conv" | median) ccpu=$(cut -d' ' -f2 "$tmp/conv" | median)
echo "input: $input (${width}x${height}, $frames frames), ratio $ratio, $threads threads, $rounds rounds"
echo "rvm_bench (network alone):        $bfps fps, $bcpu ms CPU per frame"
echo "conversion (composition + alpha): $cfps fps, $ccpu ms CPU per frame"
echo "$cfps $bfps $ccpu $bcpu" |
    awk '{ printf "ratio (conversion / rvm_bench): %.2f in frame rate, %.2f in CPU time per frame\n", $1 / $2, $3 / $4 }'
