#!/bin/sh
# scripts/kubernetes/wait-job.sh against a fake kubectl (no cluster here): a Job that fails
# ends the wait at once with exit 1 and its reason (kubectl wait --for=condition=complete
# waited out its 24 h); one that completes, exit 0; one still running, the timeout; a
# kubectl that hangs or fails, exit 1 promptly.
#   sh k8s_wait.sh SOURCE-DIR
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/fakes.sh"
# The fake prints the conditions in $W/state (tab-separated, as the jsonpath asks), after
# checking it was asked for job/JOB's conditions with a request timeout; "hang" sleeps.
cat >"$W/bin/kubectl" <<EOF
#!/bin/sh
echo "\$*" >>"$W/calls"
[ "\$1 \$2" = "get job/rvm-render" ] || { echo "Error from server (NotFound): \$2" >&2; exit 1; }
case "\$*" in *--request-timeout=*s*'.status.conditions'*) ;; *) echo "bad call: \$*" >&2; exit 1 ;; esac
state=\$(cat "$W/state")
[ "\$state" = hang ] && exec sleep 1000
[ -n "\$state" ] && printf '%s\n' "\$state"
exit 0
EOF
chmod +x "$W/bin/kubectl"
WAIT="$SRC/scripts/kubernetes/wait-job.sh"
export PATH="$W/bin:$PATH" RVM_K8S_POLL=1
TAB=$(printf '\t')

# WHAT STATE TIMEOUT WANT-RC MAX-SECONDS [JOB]: runs the wait, checks its exit and time.
check() {
    printf '%s\n' "$2" >"$W/state"
    : >"$W/calls"
    t0=$(date +%s)
    sh "$WAIT" "${6:-rvm-render}" "$3" >"$W/out" 2>"$W/err"
    rc=$?
    took=$(($(date +%s) - t0))
    [ $rc -eq "$4" ] || fail "$1: exit $rc, want $4 ($(cat "$W/out" "$W/err"))"
    [ $took -le "$5" ] || fail "$1: took $took s, want at most $5"
    echo "ok: $1: exit $rc in $took s: $(cat "$W/out" "$W/err")"
}

check "a failed Job" "Failed${TAB}BackoffLimitExceeded${TAB}Job has reached the specified backoff limit" 86400 1 5
grep -q "failed: BackoffLimitExceeded Job has reached" "$W/err" || fail "the failure's line: $(cat "$W/err")"
[ "$(wc -l <"$W/err")" -eq 1 ] || fail "not one line: $(cat "$W/err")"
check "a completed Job" "Complete${TAB}${TAB}" 86400 0 5
# Failed after some polls (still running, then failed).
printf '' >"$W/state"
( sleep 2; printf 'Failed\tPodFailurePolicy\tContainer rvm exited 3\n' >"$W/state" ) &
: >"$W/calls"
t0=$(date +%s)
sh "$WAIT" rvm-render 86400 >"$W/out" 2>"$W/err"
rc=$?
took=$(($(date +%s) - t0))
wait
[ $rc -eq 1 ] && [ $took -le 8 ] && grep -q "exited 3" "$W/err" ||
    fail "a Job failing while waited for: exit $rc in $took s ($(cat "$W/err"))"
[ "$(wc -l <"$W/calls")" -ge 2 ] || fail "asked only once: $(cat "$W/calls")"
echo "ok: a Job failing while waited for: exit $rc in $took s"
# Other conditions (Suspended, ...) are not an end.
check "a running Job (timeout)" "Suspended${TAB}JobSuspended${TAB}" 3 1 8
grep -q "neither completed nor failed within 3 s" "$W/err" || fail "the timeout's line: $(cat "$W/err")"
check "no such Job" "" 86400 1 5 rvm-nothing
grep -q "cannot read job/rvm-nothing" "$W/err" || fail "no such Job: $(cat "$W/err")"
if command -v timeout >/dev/null 2>&1; then
    # poll 1 s: kubectl is given 21 s, then killed 10 s later.
    check "a kubectl that hangs" hang 86400 1 40
fi
check "usage" "" x 2 2
