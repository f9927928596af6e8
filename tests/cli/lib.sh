# Shared helpers of the rvm command tests. Sourced by each test script, which is run by ctest
# as: sh TEST.sh RVM PIXCMP SHARED_DIR SOURCE_DIR READDUMP
# SPDX-License-Identifier: GPL-3.0-or-later
RVM=$1
PIXCMP=$2
SHARED=$3
SRC=$4
READDUMP=$5
SAMPLE=$SRC/samples/asl_gestures_again.mkv
FOOTAGE=$SHARED/footage

for tool in ffmpeg ffprobe; do
    command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is needed by the tests"; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rvm-cli-test.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
CHECKS=0

# Under LeakSanitizer (the RVM_SANITIZE build): libx265 leaks one block of its own (1168
# bytes from x265_malloc) in every run that opens an HEVC encoder, whatever its caller does;
# only leaks inside libx265 are let through.
echo "leak:libx265.so" >"$WORK/lsan.supp"
export LSAN_OPTIONS="suppressions=$WORK/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# RVM_TEST_KEEP_GOING=1 reports every failing check instead of stopping at the first (to
# show which checks an older build fails); the test still fails.
FAILS=0
fail() {
    echo "FAIL: $*"
    [ -n "$RVM_TEST_KEEP_GOING" ] || exit 1
    FAILS=$((FAILS + 1))
    return 1
}
ok() { CHECKS=$((CHECKS + 1)); echo "ok: $*"; }
done_all() {
    [ "$FAILS" -eq 0 ] || { echo "$FAILS checks failed, $CHECKS passed"; exit 1; }
    echo "$CHECKS checks passed"
    exit 0
}

# Tests that read ../shared skip (exit 77) when it is absent.
need_shared() {
    [ -d "$FOOTAGE" ] || { echo "SKIP: $SHARED is not present"; exit 77; }
}

# Runs rvm quietly; its stderr goes to err.txt, its exit code to $RC.
run() {
    "$RVM" --disable-progress "$@" >out.txt 2>err.txt
    RC=$?
}

# Runs rvm and requires success.
run_ok() {
    run "$@"
    [ $RC -eq 0 ] || fail "rvm $* exited with $RC: $(cat err.txt)"
}

# Runs an rvm subcommand (rvm SUB ...: the subcommand comes first, so nothing is put before
# it) like run / run_ok.
sub() {
    "$RVM" "$@" >out.txt 2>err.txt
    RC=$?
}
sub_ok() {
    sub "$@"
    [ $RC -eq 0 ] || fail "rvm $* exited with $RC: $(cat err.txt)"
}

wait_for() { # CONDITION PID: polls up to 5 minutes (sanitizer builds are slow)
    i=0
    while ! eval "$1"; do
        i=$((i + 1))
        [ $i -lt 1500 ] || { fail "timed out waiting for: $1"; return 1; }
        kill -0 "$2" 2>/dev/null || { fail "rvm ended before: $1 ($(cat err.txt))"; return 1; }
        sleep 0.2
    done
}

# held_progress FILE RVM ARGS...: runs rvm under strace, which returns from each write to
# FILE (its --progress-fd) 2 s late. The last progress line ("done":true) is written once the
# encoders have written their last packets, before the outputs are put in place: a stop sent
# once that line is in FILE comes in that moment, whatever the machine's speed. Only in the
# background (&): strace replaces the shell it runs in, so $! is strace, and rvm its child
# (pgrep -P $!). LeakSanitizer cannot work under ptrace (the sanitized build's rvm would end
# with its "fatal error", exit 1): off for this run.
held_progress() {
    file=$1
    shift
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    exec strace -f -qq -o /dev/null -P "$PWD/$file" -e trace=write -e inject=write:delay_exit=2000000 "$@"
}

# Presentation times of the first video stream, one per line (seconds).
pts_list() {
    ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time \
        -of csv=p=0 "$1" | tr -d ',' | sed '/^$/d'
}

# Fails unless the video output has the same frames at the same times as the input, counted
# from the input's first frame (outputs start at 0, as ffmpeg's do), within half a
# millisecond: containers round to their own time units.
same_timing() {
    pts_list "$1" >t_in.txt
    pts_list "$2" >t_out.txt
    n_in=$(wc -l <t_in.txt)
    n_out=$(wc -l <t_out.txt)
    [ "$n_in" -gt 0 ] || fail "$1 has no frames"
    [ "$n_in" -eq "$n_out" ] || fail "$2 has $n_out frames, $1 has $n_in"
    paste t_in.txt t_out.txt | awk 'NR == 1 { t0 = $1 } { d = $1 - t0 - $2; if (d < 0) d = -d; if (d > 0.0005) { print "frame " NR ": " $1 - t0 " vs " $2; bad = 1; exit } } END { exit bad }' \
        || fail "$2: timestamps differ from $1"
}

stream_field() { # FILE STREAM(v:0/a:0) FIELD
    ffprobe -v error -select_streams "$2" -show_entries "stream=$3" -of csv=p=0 "$1" | head -n 1 | tr -d ','
}

# Renders every segment of a plan (the last first: parts may come in any order), one thread
# each, then joins them: PLAN SEGMENTS OUTPUT_FLAGS... (the same flags for render and join).
render_join() {
    _rj_plan=$1 _rj_i=$2
    shift 2
    while [ "$_rj_i" -gt 0 ]; do
        _rj_i=$((_rj_i - 1))
        "$RVM" render --plan "$_rj_plan" --index $_rj_i --threads 1 "$@" >out.txt 2>err.txt ||
            fail "render $_rj_i: $(cat err.txt)"
    done
    "$RVM" join --plan "$_rj_plan" "$@" >out.txt 2>err.txt || fail "join: $(cat err.txt)"
}

# Fails unless the file decodes from start to end without a single error.
playable() {
    ffmpeg -nostdin -v error -i "$1" -f null - >dec.txt 2>&1 || fail "$1 does not decode: $(head -n 3 dec.txt)"
    [ ! -s dec.txt ] || fail "$1 decodes with errors: $(head -n 3 dec.txt)"
}

# Fails unless two outputs have the same frames at the same times (within half a
# millisecond), e.g. a joined output and a whole run's.
same_times() {
    pts_list "$1" >t_a.txt
    pts_list "$2" >t_b.txt
    [ -s t_a.txt ] || fail "$1 has no frames"
    [ "$(wc -l <t_a.txt)" -eq "$(wc -l <t_b.txt)" ] || fail "$2 has $(wc -l <t_b.txt) frames, $1 has $(wc -l <t_a.txt)"
    paste t_a.txt t_b.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.0005) { print "frame " NR ": " $1 " vs " $2; bad = 1; exit } } END { exit bad }' \
        || fail "$2: timestamps differ from $1"
}
