#!/bin/sh
# Waits for a Job to complete or fail, whichever comes first:
#   scripts/kubernetes/wait-job.sh rvm-render [TIMEOUT]   (TIMEOUT in seconds, default 24 h)
# `kubectl wait --for=condition=complete` alone waits out its whole timeout when the Job
# fails (the condition it waits for never comes), so this asks for the Job's conditions
# every RVM_K8S_POLL seconds (default 10). Exit 0 when the Job has completed; 1 when it
# failed (one line with Kubernetes' reason), the timeout passed, or kubectl failed.
# Environment: KUBECTL (default kubectl), e.g. "kubectl -n render".
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 JOB [TIMEOUT-SECONDS]" >&2; exit 2; }
job=$1
timeout=${2:-86400}
poll=${RVM_K8S_POLL:-10}
kubectl=${KUBECTL:-kubectl}
case $timeout$poll in *[!0-9]*) echo "$0: TIMEOUT and RVM_K8S_POLL are whole seconds" >&2; exit 2 ;; esac
# A request that hangs (API server unreachable) gives up after the poll interval plus a
# margin: kubectl's --request-timeout, and coreutils' timeout for one that ignores it.
limit=$((poll + 20))
bound=
command -v timeout >/dev/null 2>&1 && bound="timeout $((limit + 10))"
start=$(date +%s)
while :; do
    # Type, reason and message of each condition that holds, one per line.
    # shellcheck disable=SC2086 # KUBECTL may carry options
    got=$($bound $kubectl get "job/$job" --request-timeout=${limit}s -o \
        'jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}') || {
        echo "$0: cannot read job/$job (kubectl failed or did not answer)" >&2
        exit 1
    }
    if printf '%s\n' "$got" | grep -q '^Complete	'; then
        echo "job/$job completed"
        exit 0
    fi
    failed=$(printf '%s\n' "$got" | sed -n 's/^Failed	//p' | head -n 1)
    if [ -n "$failed" ]; then
        echo "$0: job/$job failed: $(printf '%s' "$failed" | tr '\t' ' ')" >&2
        exit 1
    fi
    now=$(date +%s)
    if [ $((now - start)) -ge "$timeout" ]; then
        echo "$0: job/$job neither completed nor failed within $timeout s" >&2
        exit 1
    fi
    sleep "$poll"
done
