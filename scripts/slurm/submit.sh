#!/bin/sh
# Renders an rvm plan on a Slurm cluster: a job array over the indices whose parts are not
# complete yet (all of them the first time), then the join, which waits for the whole array
# (--dependency=afterok). Run it again after a failure: it submits only the failed indices.
#   scripts/slurm/submit.sh film.plan --output-composition out/com.mp4 --output-alpha out/pha.mp4
# Environment: RVM (the rvm program, default rvm), RVM_CPUS (CPUs per render task, default
# 2), RVM_SBATCH (more sbatch options, e.g. "--partition=gpu --time=2:00:00").
# Prints the array's and the join's job ids.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
[ $# -ge 2 ] || { echo "usage: $0 PLAN OUTPUT-FLAGS..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
plan=$1
shift
rvm=${RVM:-rvm}
# The indices to render: those whose parts are missing or broken, as 0-3,7.
todo=$("$rvm" join --plan "$plan" --missing "$@")
if [ -n "$todo" ]; then
    array=$(sbatch --parsable --array="$todo" --cpus-per-task="${RVM_CPUS:-2}" \
        ${RVM_SBATCH:-} "$here/render.sbatch" "$plan" "$@")
    echo "render array $array: indices $todo"
    dep="--dependency=afterok:${array%%;*}"
else
    echo "every part is complete"
    dep=
fi
# A render that fails makes the join impossible: Slurm then cancels it (else it would stay
# pending for ever, DependencyNeverSatisfied, beside the next submission's join).
join=$(sbatch --parsable $dep --kill-on-invalid-dep=yes ${RVM_SBATCH:-} "$here/join.sbatch" "$plan" "$@")
echo "join $join"
