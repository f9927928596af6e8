#!/bin/sh
# Renders an rvm plan on a Slurm cluster: job arrays over the indices whose parts are not
# complete yet (all of them the first time), then the join, which waits for every array
# (--dependency=afterok). Run it again after a failure: it submits only the failed indices.
#   scripts/slurm/submit.sh film.plan --output-composition out/com.mp4 --output-alpha out/pha.mp4
# Environment: RVM (the rvm program, default rvm), RVM_CPUS (CPUs per render task, default
# 2), RVM_SBATCH (more sbatch options, e.g. "--partition=gpu --time=2:00:00"), RVM_LOG_DIR
# (where each segment's log, rvm-segment-INDEX.log, goes; default: this folder).
# Prints each array's job id with the plan indices it renders, where the logs are, then the
# join's job id.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
[ $# -ge 2 ] || { echo "usage: $0 PLAN OUTPUT-FLAGS..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
plan=$1
shift
rvm=${RVM:-rvm}
# The indices to render: those whose parts are missing or broken, as 0-3,7.
todo=$("$rvm" join --plan "$plan" --missing "$@")
# Slurm refuses an array index of MaxArraySize or more (default 1001: indices 0-1000), so a
# plan with more segments is cut into arrays of at most MaxArraySize indices, each task
# rendering index offset + SLURM_ARRAY_TASK_ID (render.sbatch --index-offset).
max=$(scontrol show config 2>/dev/null | sed -n 's/^MaxArraySize *= *\([0-9][0-9]*\).*/\1/p')
[ -n "$max" ] && [ "$max" -gt 0 ] || max=1001
# One line per array: offset, its --array (indices less the offset), the plan's indices.
chunks=$(printf '%s\n' "$todo" | awk -F, -v m="$max" '
    function add(o, a, b) {
        if (!(o in arr)) { order[++n] = o; arr[o] = ""; idx[o] = "" }
        arr[o] = arr[o] (arr[o] == "" ? "" : ",") (a - o) (b > a ? "-" (b - o) : "")
        idx[o] = idx[o] (idx[o] == "" ? "" : ",") a (b > a ? "-" b : "")
    }
    NF { for (i = 1; i <= NF; i++) {
        k = split($i, r, "-"); a = r[1] + 0; b = r[k] + 0
        while (a <= b) { o = int(a / m) * m; e = o + m - 1; if (e > b) e = b; add(o, a, e); a = e + 1 }
    } }
    END { for (j = 1; j <= n; j++) print order[j], arr[order[j]], idx[order[j]] }')
dep=
if [ -n "$chunks" ]; then
    while read -r offset array indices; do
        id=$(sbatch --parsable --array="$array" --cpus-per-task="${RVM_CPUS:-2}" \
            ${RVM_SBATCH:-} "$here/render.sbatch" --index-offset "$offset" "$plan" "$@")
        id=${id%%;*}
        echo "render array $id: indices $indices"
        dep="${dep:+$dep:}$id"
    done <<CHUNKS
$chunks
CHUNKS
    dep="--dependency=afterok:$dep"
    echo "logs: ${RVM_LOG_DIR:-$PWD}/rvm-segment-INDEX.log, one per segment (INDEX as above)"
else
    echo "every part is complete"
fi
# A render that fails makes the join impossible: Slurm then cancels it (else it would stay
# pending for ever, DependencyNeverSatisfied, beside the next submission's join).
join=$(sbatch --parsable $dep --kill-on-invalid-dep=yes ${RVM_SBATCH:-} "$here/join.sbatch" "$plan" "$@")
# --parsable prints "ID;CLUSTER" on a cluster with a name in a federation or multi-cluster set-up.
echo "join ${join%%;*}"
