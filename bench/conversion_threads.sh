#!/bin/bash
# Where the conversion's threads spend a run (issue 14: why the two cores are not both busy
# with it): runs the README's conversion (composition with audio + alpha video, or the given
# rvm arguments after --) and samples every thread's /proc/PID/task/TID/schedstat every 20 ms.
# Per thread, in ms a frame: CPU time, time ready but waiting for a core (the run queue: other
# programs, or the conversion's own threads, held the cores) and time blocked (waiting on a
# queue, a pool, a lock: a stall of the pipeline), the rest of its life. The sum of the CPU
# times against twice the wall time says how much of the two cores the conversion got; the
# blocked times say which stage waited for which (the network blocked while its pool thread
# runs is waiting for it; the decoder blocked is ahead, the network blocked is behind a
# stage it waits for). Which queue a thread waits on needs a profile:
#   perf record -e sched:sched_switch --call-graph dwarf,8192 -- rvm ...
# (docs/PERFORMANCE.md: the network's waits for a free picture and for a decoded frame are
# the two calls of rvmi_queue_pop in network_thread).
# usage: bench/conversion_threads.sh [--threads 2] [--input FILE] [-- rvm arguments]
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${RVM_SHARED_DIR:-$root/../shared}
build=${RVM_BUILD_DIR:-$root/build}
threads=2 input=$shared/footage/walk_1080p_tone.mp4
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --input) input=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "conversion_threads: unknown option $1" >&2; exit 2 ;;
  esac
done
rvm=$build/rvm
[ -x "$rvm" ] || { echo "conversion_threads: build first ($rvm)" >&2; exit 1; }
[ -r "$input" ] || { echo "conversion_threads: no input $input" >&2; exit 1; }
[ -r /proc/self/schedstat ] || { echo "conversion_threads: needs /proc/PID/task/TID/schedstat (Linux schedstats)" >&2; exit 1; }
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
         -of csv=p=0 "$input")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -eq 0 ]; then
  set -- --output-composition "$tmp/com.mp4" --output-alpha "$tmp/pha.mp4"
fi
now() { date +%s.%N; }
t0=$(now)
"$rvm" --disable-progress -y -i "$input" --threads "$threads" "$@" &
pid=$!
declare -A last first name
# A thread's last sample before it ends is what is counted: up to 20 ms of its end is lost.
while kill -0 "$pid" 2>/dev/null; do
  t=$(now)
  for d in /proc/"$pid"/task/*; do
    tid=${d##*/}
    s=$(cat "$d/schedstat" 2>/dev/null) || continue
    [ -n "${first[$tid]}" ] || first[$tid]=$t
    last[$tid]="$s $t"
    c=$(cat "$d/comm" 2>/dev/null) && name[$tid]=$c
  done
  sleep 0.02
done
t1=$(now)
wait "$pid" || { echo "conversion_threads: the conversion failed" >&2; exit 1; }
echo "input: $input ($frames frames), $threads threads; wall $(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }') s"
printf '%-12s %8s %10s %10s %10s\n' thread tid cpu runqueue blocked
for tid in "${!last[@]}"; do
  set -- ${last[$tid]}
  echo "${name[$tid]:-?} $tid $1 $2 $4 ${first[$tid]}"
done | sort -k2 -n | awk -v n="$frames" -v wall="$(echo "$t0 $t1" | awk '{ print $2 - $1 }')" '
  { life = ($5 - $6) * 1000; cpu = $3 / 1e6; rq = $4 / 1e6; b = life - cpu - rq; if (b < 0) b = 0
    printf "%-12s %8d %7.1f ms %7.1f ms %7.1f ms a frame\n", $1, $2, cpu / n, rq / n, b / n
    tc += cpu }
  END { printf "all threads: %.1f ms of CPU a frame; %.0f%% of two cores over the run\n", tc / n, 100 * tc / 1000 / (2 * wall) }'
