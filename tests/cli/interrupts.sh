# Signals from the first instant to the last (issue 16 items 4 and 6, issue 15 item 4):
# a run blocked during set-up (a FIFO output nobody reads, a silent stdin) stops at once
# with 128+N and leaves nothing, a FIFO model.json is refused without waiting; SIGHUP and
# the file size limit stop a conversion as cleanly as Ctrl-C; two signals in a burst count
# once; a deliberate second Ctrl-C quits at once and leaves no hidden files (and the old
# output as it was).
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
# Runs rvm with SIGHUP at its default even under nohup (which rvm, rightly, keeps ignored);
# only in the background (&): it replaces the shell it runs in, so $! is rvm.
rvm_hup() { exec env --default-signal=HUP "$RVM" "$@"; }

ffmpeg -nostdin -v error -stream_loop 3 -i "$SAMPLE" -c copy long.mkv || fail "cannot make long.mkv"
pts_list long.mkv >t_long.txt

# A failed check must not leave processes running.
PIDS=
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; kill -CONT $p 2>/dev/null; done; rm -rf "$WORK"' EXIT

# wait_exit PID SECONDS WHAT: the process must end within SECONDS; sets RC.
wait_exit() {
    i=0
    while kill -0 $1 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 $1 2>/dev/null; then
        kill -9 $1
        wait $1 2>/dev/null
        RC=999
        fail "$3: still running $2 s after the signal"
        return 1
    fi
    wait $1
    RC=$?
}
frames_are_prefix() {
    pts_list "$1" >t_part.txt
    n=$(wc -l <t_part.txt)
    [ "$n" -gt 0 ] && [ "$n" -lt 308 ] || { fail "$1 holds $n frames"; return 1; }
    head -n "$n" t_long.txt | paste - t_part.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.0005) bad = 1 } END { exit bad }' \
        || fail "$1: timestamps are not the input's"
}
hidden() { ls -a "$@" 2>/dev/null | grep -E 'rvm-(part|stage|lock)'; }

# ---- set-up: blocked in open() or read(), a signal still ends the run, leaving nothing ----
# A FIFO output that nobody reads (open blocks), beside a video output already staged; the
# second time in a folder the run made, which goes too.
mkfifo nobody.mkv
for case in "INT 130 a.mp4" "TERM 143 made/a.mp4"; do
    set -- $case
    "$RVM" --disable-progress -i long.mkv --input-resize 64 48 --output-composition nobody.mkv \
        --output-alpha $3 2>err.txt &
    PID=$!
    PIDS=$PID
    wait_for "ls $(dirname $3)/.a.mp4.*.rvm-part >/dev/null 2>&1" $PID && sleep 1
    kill -$1 $PID
    wait_exit $PID 5 "SIG$1 while opening a FIFO output"
    [ $RC -eq $2 ] || fail "SIG$1, FIFO output: exit code $RC, want $2"
    [ -z "$(hidden .)" ] && [ ! -e a.mp4 ] && [ ! -e made ] ||
        fail "SIG$1, FIFO output: left $(ls -a | tr '\n' ' ')"
    # One line says why it ended (a stop in the set-up ended without a word).
    [ "$(cat err.txt)" = "rvm: interrupted: the unfinished outputs were removed" ] ||
        fail "SIG$1, FIFO output: stderr $(cat err.txt)"
    ok "SIG$1 while blocked opening a FIFO output: exit $2, one line, nothing left ($3)"
done

# A FIFO model.json is not waited on (the run's set-up hung in its open() until a writer
# came): refused at once, before anything is made.
mkdir model
cp "$SRC"/models/rvm_mobilenetv3_tfjs_int8/* model/
rm model/model.json
mkfifo model/model.json
timeout 20 "$RVM" --disable-progress -i long.mkv --input-resize 64 48 --checkpoint model \
    --output-alpha made/a.mp4 2>err.txt
RC=$?
[ $RC -eq 3 ] || fail "FIFO model.json: exit code $RC, want 3 ($(cat err.txt))"
[ "$(cat err.txt)" = "rvm: cannot load the model: model/model.json is not a regular file" ] ||
    fail "FIFO model.json: stderr $(cat err.txt)"
[ ! -e made ] || fail "FIFO model.json: left $(find made | tr '\n' ' ')"
ok "a FIFO model.json: $(cat err.txt) (exit 3, nothing made)"

# stdin that sends nothing.
mkfifo silent.fifo
sleep 600 >silent.fifo &
SLEEPER=$!
PIDS="$PIDS $SLEEPER"
rvm_hup --disable-progress -i - --output-alpha d/e/a.mp4 <silent.fifo 2>err.txt &
PID=$!
PIDS="$PIDS $PID"
wait_for 'ls d/e/.a.mp4.*.rvm-part >/dev/null 2>&1' $PID && sleep 1
kill -HUP $PID
wait_exit $PID 5 "SIGHUP while reading a silent stdin"
[ $RC -eq 129 ] || fail "silent stdin: exit code $RC, want 129"
[ ! -e d ] || fail "silent stdin: left $(find d | tr '\n' ' ')"
kill $SLEEPER 2>/dev/null
wait $SLEEPER 2>/dev/null
ok "SIGHUP while blocked on a silent stdin: exit 129, nothing left"

# ---- SIGHUP mid-run stops cleanly like Ctrl-C ----
start_run() { # rvm ARGS... in the background, once the composition has packets
    # At 1 Mbit/s: the default quality (CRF 18) makes so few bytes of this small picture that
    # the muxer's 32 kB buffer may reach the file only at the end.
    rvm_hup --disable-progress -i long.mkv --input-resize 160 120 --output-video-mbps 1 "$@" 2>err.txt &
    PID=$!
    PIDS="$PIDS $PID"
    wait_for '[ $(cat .com.mp4.*.rvm-part 2>/dev/null | wc -c) -gt 10000 ]' $PID
}
check_outputs() { # WHAT: com.mp4 and pha.webm playable prefixes, nothing hidden left
    for f in com.mp4 pha.webm; do
        playable $f && frames_are_prefix $f
    done
    [ -z "$(hidden .)" ] || fail "$1: left $(hidden .)"
}
start_run --output-composition com.mp4 --output-alpha pha.webm
kill -HUP $PID
wait_exit $PID 60 "SIGHUP mid-run"
[ $RC -eq 129 ] || fail "SIGHUP: exit code $RC, want 129 ($(cat err.txt))"
check_outputs SIGHUP
ok "SIGHUP mid-run: exit 129, com.mp4 and pha.webm playable with the $n frames done"

# ---- the file size limit: stopped while the files can still be completed ----
rm -f com.mp4 pha.webm
(ulimit -f 600 && exec "$RVM" --disable-progress -i long.mkv --input-resize 160 120 \
    --output-video-mbps 1 --output-composition com.mp4 --output-alpha pha.webm 2>err.txt)
RC=$?
[ $RC -eq 153 ] || fail "file size limit: exit code $RC, want 153 ($(cat err.txt))"
grep -q "file size limit" err.txt || fail "file size limit: $(cat err.txt)"
check_outputs "file size limit"
[ "$(stat -c %s com.mp4)" -le 307200 ] || fail "com.mp4 is over the limit"
ok "ulimit -f 300 KiB: exit 153, outputs playable with the $n frames that fit"

# ---- two signals in a burst count once ----
for pair in "INT INT" "TERM INT"; do
    rm -f com.mp4 pha.webm
    start_run --output-composition com.mp4 --output-alpha pha.webm
    set -- $pair
    kill -$1 $PID
    kill -$2 $PID
    wait_exit $PID 60 "burst $pair"
    # Signals pending together are delivered lowest number first: either may count.
    [ $RC -eq 130 ] || { [ $1 = TERM ] && [ $RC -eq 143 ]; } \
        || fail "burst $pair: exit code $RC ($(cat err.txt))"
    check_outputs "burst $pair"
    ok "SIG$1 then SIG$2 at once: one clean stop (exit $RC), outputs playable with $n frames"
done

# ---- a deliberate second Ctrl-C quits at once, leaving no hidden file ----
# The run is kept from finishing by a FIFO output whose reader never reads (a hung consumer).
echo "the previous output" >com.mp4
old=$(md5sum <com.mp4)
mkfifo fg.mkv
sleep 600 <fg.mkv &
HUNG=$!
PIDS="$PIDS $HUNG"
rvm_hup --disable-progress -i long.mkv --input-resize 160 120 --output-video-mbps 1 \
    --output-composition com.mp4 --output-foreground fg.mkv -y 2>err.txt &
PID=$!
PIDS="$PIDS $PID"
# Until the pipe is full and a thread of rvm waits in write() on it: only then can the first
# Ctrl-C not finish the run (polling the part's size instead was fooled by a slow sanitizer
# build that merely wrote nothing for 2 s).
blocked_on_pipe() { grep -qs pipe_write /proc/$PID/task/*/wchan; }
wait_for blocked_on_pipe $PID
kill -INT $PID
sleep 1
kill -0 $PID 2>/dev/null || fail "the run ended after the first Ctrl-C (test set-up: the FIFO did not block it)"
kill -INT $PID
wait_exit $PID 3 "a second Ctrl-C"
[ $RC -eq 130 ] || fail "second Ctrl-C: exit code $RC, want 130"
[ "$(md5sum <com.mp4)" = "$old" ] || fail "second Ctrl-C: com.mp4 was replaced"
[ -z "$(hidden .)" ] || fail "second Ctrl-C: left $(hidden .)"
kill $HUNG 2>/dev/null
ok "a second Ctrl-C 1 s later quits at once: exit 130, no hidden file, the old com.mp4 intact"

done_all
