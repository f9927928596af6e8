#!/bin/sh
# Speed of segment rendering on one machine: a whole run at 1 thread against 2 segments
# rendered at the same time at 1 thread each (then joined), on the same clip.
#   bench/segments_speed.sh RVM CLIP [SEGMENTS]
# Prints the times (whole, each render, the join), the speed-up, and the per-segment costs
# that the README's model uses. The runs alternate (whole, segments, whole, segments) so
# that a change in the machine's load hits both.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
RVM=$(realpath "$1")
CLIP=$(realpath "$2")
N=${3:-2}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
now() { date +%s.%N; }
FLAGS="--output-composition out/com.mp4 --output-alpha out/pha.mp4 --threads 1 --disable-progress"
"$RVM" plan "$CLIP" --segments "$N" -o p.plan
for round in 1 2; do
    rm -rf out whole
    t0=$(now)
    "$RVM" -i "$CLIP" --output-composition whole/com.mp4 --output-alpha whole/pha.mp4 \
        --threads 1 --disable-progress
    t1=$(now)
    i=0
    while [ $i -lt "$N" ]; do
        "$RVM" render --plan p.plan --index $i $FLAGS >render$i.txt &
        i=$((i + 1))
    done
    wait
    t2=$(now)
    "$RVM" join --plan p.plan $FLAGS >join.txt
    t3=$(now)
    cat render*.txt join.txt
    awk -v r=$round -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
        printf "round %d: whole %.1f s; %d segments at once %.1f s; join %.2f s; speed-up %.2fx\n",
            r, b - a, n, c - b, d - c, (b - a) / (d - b) }'
done
uptime
