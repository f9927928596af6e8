#!/bin/sh
# Speed of segment rendering on one machine: a whole run at 1 thread against N segments
# rendered at the same time at 1 thread each (each pinned to its own core, the whole run to
# one core), then joined, on the same clip.
#   bench/segments_speed.sh RVM CLIP [SEGMENTS] [rvm output flags...]
# Prints wall and CPU times (GNU time) of the whole run, of each render and of the join.
# On a machine shared with other work the wall times follow the load; the CPU times (work
# done) do not, and their ratio is the speed-up on idle cores: whole CPU / slowest segment's
# CPU + join. The runs alternate (whole, segments, whole, segments; ROUNDS=1 for one each).
# RVM_WARMUP sets the plan's warm-up (default: rvm's).
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
RVM=$(realpath "$1")
CLIP=$(realpath "$2")
N=${3:-2}
shift 3 2>/dev/null || shift $#
[ $# -gt 0 ] || set -- --output-alpha pha.mp4
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
tm() { o=$1; shift; /usr/bin/time -f "%e %U %S" -o "$o" "$@"; }
"$RVM" plan "$CLIP" --segments "$N" ${RVM_WARMUP:+--warmup "$RVM_WARMUP"} -o p.plan >/dev/null
for round in $(seq "${ROUNDS:-2}"); do
    rm -rf whole seg
    mkdir whole seg
    (cd whole && tm ../whole.time taskset -c 0 "$RVM" -i "$CLIP" "$@" --threads 1 --disable-progress)
    i=0
    start=$(date +%s.%N)
    while [ $i -lt "$N" ]; do
        (cd seg && tm ../seg$i.time taskset -c $((i % $(nproc))) "$RVM" render --plan ../p.plan \
            --index $i "$@" --threads 1 --disable-progress >/dev/null) &
        i=$((i + 1))
    done
    wait
    end=$(date +%s.%N)
    (cd seg && tm ../join.time "$RVM" join --plan ../p.plan "$@" >/dev/null)
    cat whole.time seg*.time join.time | awk -v r=$round -v n="$N" -v wall="$start $end" '
        NR == 1 { ww = $1; wc = $2 + $3; next }
        NR <= n + 1 { c = $2 + $3; if (c > sc) sc = c; if ($1 > sw) sw = $1; next }
        { jw = $1; jc = $2 + $3 }
        END { printf "round %d: whole %.1f s wall, %.1f s CPU; %d segments at once: slowest %.1f s wall, %.1f s CPU; join %.2f s wall; speed-up %.2fx wall, %.2fx CPU\n",
                     r, ww, wc, n, sw, sc, jw, ww / (sw + jw), wc / (sc + jc) }'
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
