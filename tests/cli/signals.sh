# Interrupted runs: SIGINT and SIGTERM mid-conversion end with 130 and 143, and every output
# is complete and playable with the frames done so far (at the input's times); a second run
# with -y replaces them cleanly.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# A longer input (4 x the sample, 308 frames) so that the signal lands mid-run.
ffmpeg -nostdin -v error -stream_loop 3 -i "$SAMPLE" -c copy long.mkv || fail "cannot make long.mkv"
pts_list long.mkv >t_long.txt

# A failed check must not leave a conversion running.
PID=
trap 'if [ -n "$PID" ]; then kill -9 $PID 2>/dev/null; fi; rm -rf "$WORK"' EXIT

# frames_are_prefix FILE: FILE's timestamps are the first frames of long.mkv.
frames_are_prefix() {
    pts_list "$1" >t_part.txt
    n=$(wc -l <t_part.txt)
    [ "$n" -gt 0 ] && [ "$n" -lt 308 ] || fail "$1 holds $n frames"
    head -n "$n" t_long.txt | paste - t_part.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.0005) bad = 1 } END { exit bad }' \
        || fail "$1: timestamps are not the input's"
}

# SIGINT during a PNG sequence (staged in a hidden folder until it ends): every file is a
# whole PNG.
"$RVM" --disable-progress --input-source long.mkv --input-resize 320 240 \
    --output-type png_sequence --output-alpha seq 2>err.txt &
PID=$!
wait_for 'ls .seq.*.rvm-stage/0002.png >/dev/null 2>&1' $PID
kill -INT $PID
wait $PID
RC=$?
PID=
[ $RC -eq 130 ] || fail "SIGINT: exit code $RC, want 130 ($(cat err.txt))"
n=$(ls seq | wc -l)
[ "$n" -ge 3 ] && [ "$n" -lt 308 ] || fail "SIGINT: $n frames"
ls -a seq | grep -q part && fail "a partial PNG was left"
ffmpeg -nostdin -v error -i seq/%04d.png -f null - 2>dec.txt && [ ! -s dec.txt ] \
    || fail "the PNGs do not all decode: $(head -n 2 dec.txt)"
ok "SIGINT: exit 130, $n whole PNGs"

# SIGTERM during video outputs (H.264 in MP4, VP9 in WebM), once the encoder has written
# packets (x264 holds ~40 frames back). At 1 Mbit/s: the default quality (CRF 18) makes so
# few bytes of this small picture that the muxer's 32 kB buffer may reach the file only at
# the end.
"$RVM" --disable-progress --input-source long.mkv --input-resize 160 120 \
    --output-video-mbps 1 --output-composition com.mp4 --output-alpha pha.webm 2>err.txt &
PID=$!
wait_for '[ $(cat .com.mp4.*.rvm-part 2>/dev/null | wc -c) -gt 10000 ]' $PID
kill -TERM $PID
wait $PID
RC=$?
PID=
[ $RC -eq 143 ] || fail "SIGTERM: exit code $RC, want 143 ($(cat err.txt))"
for f in com.mp4 pha.webm; do
    playable $f
    frames_are_prefix $f
    ok "SIGTERM: exit 143, $f playable with $n frames at the input's times"
done
ls -a | grep -q rvm-part && fail "a temporary file was left"

# Running again with -y replaces everything cleanly (no stale frames).
run_ok --input-source long.mkv --input-resize 160 120 --duration 0.3 -y \
    --output-composition com.mp4 --output-alpha pha.webm
run_ok --input-source long.mkv --input-resize 160 120 --duration 0.3 -y \
    --output-type png_sequence --output-alpha seq
for f in com.mp4 pha.webm; do
    [ "$(pts_list $f | wc -l)" -eq 9 ] || fail "-y: $f does not hold the 9 new frames"
done
[ "$(ls seq | wc -l)" -eq 9 ] || fail "-y: seq holds $(ls seq | wc -l) files, want 9"
ok "-y replaces the interrupted outputs"

# A stop that comes once every frame is in and encoded, before the outputs are put in place
# (held_progress), stops nothing, with or without --complete-only: the outputs are complete,
# exit 0 with one line saying so (it said "interrupted: the outputs hold the 30 frames
# done", exit 130, of outputs holding every frame).
ffmpeg -nostdin -v error -i "$SAMPLE" -vf scale=320:240 -frames:v 30 late.mkv || fail "ffmpeg"
for only in "" --complete-only; do
    rm -f late_com.mp4 late_pha.mp4
    : >way.txt # the last run's "done":true must not be read before this one starts
    held_progress way.txt "$RVM" --disable-progress --input-source late.mkv $only \
        --output-composition late_com.mp4 --output-alpha late_pha.mp4 --progress-fd 3 3>way.txt 2>err.txt &
    PID=$!
    wait_for "grep -q '\"done\":true' way.txt 2>/dev/null" $PID
    kill -INT $(pgrep -P $PID)
    wait $PID
    RC=$?
    PID=
    [ $RC -eq 0 ] && [ "$(cat err.txt)" = "rvm: a stop came after the last frame: the outputs are complete (30 frames)" ] ||
        fail "a stop after the last frame, ${only:-no --complete-only}: exit $RC, $(cat err.txt)"
    [ "$(pts_list late_com.mp4 | wc -l)" -eq 30 ] && [ "$(pts_list late_pha.mp4 | wc -l)" -eq 30 ] ||
        fail "the outputs after a late stop, ${only:-no --complete-only}, do not hold the 30 frames"
    ok "a stop after the last frame, ${only:-no --complete-only}: exit 0, $(cat err.txt)"
done
done_all
