# A render task killed with SIGKILL halfway leaves no part that rvm join accepts; rendering
# only that index again completes the job.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# Long enough (the sample looped) that a render on an idle machine is still writing when the
# loop below sees its part grow: with 24 frames a part could be complete in under a second.
N=240
ffmpeg -nostdin -v error -stream_loop -1 -i "$SAMPLE" -vf scale=320:240 -frames:v $N \
    -c:v libx264 -g 24 -pix_fmt yuv420p in.mp4 || fail "cannot make the test clip"
sub_ok plan in.mp4 --segments 2 --warmup 4 -o k.plan
# Lossless frames, so the part grows quickly on disk while it is being written.
FLAGS="--output-composition out/com.mp4 --crf 0 --threads 1"
sub_ok render --plan k.plan --index 0 $FLAGS
"$RVM" render --plan k.plan --index 1 $FLAGS >kill.txt 2>&1 &
pid=$!
# Mid-write: the part's temporary file exists and the render has had a second to write
# frames into it (or has written 60 kB already). The conversion writes it through its own
# staging file, ..00001.<random>.mp4.<random>.rvm-part, renamed to .00001.<random>.mp4 when
# the conversion is complete: both are looked for (the second alone appears only after the
# frames are all written).
# Up to 10 minutes for the file to appear (sanitizer builds on a busy machine are slow).
since=0
end=$(($(date +%s) + 600))
while :; do
    size=$(find out/com.mp4.parts -type f -size +0 \( -name '..00001.*.rvm-part' -o -name '.00001.*.mp4' \) \
        2>/dev/null | head -n 1)
    kill -0 $pid 2>/dev/null || { fail "the render ended before it could be killed: $(cat kill.txt)"; break; }
    if [ -n "$size" ]; then
        since=$((since + 1))
        [ $since -ge 10 ] || [ -n "$(find "$size" -size +60k)" ] && break
    fi
    [ "$(date +%s)" -lt $end ] || { fail "no temporary part file after 10 minutes"; break; }
    sleep 0.1
done
kill -KILL $pid
wait $pid 2>/dev/null
# The part's temporary name is unguessable, as every output's (16 random hex digits, not a
# host name and a PID).
echo "$(basename "$size")" | grep -Eq '^\.?\.00001\.[0-9a-f]{16}\.mp4(\.[0-9a-f]{16}\.rvm-part)?$' \
    || fail "temporary part name $(basename "$size") is not .00001.<16 random hex digits>.mp4"
[ ! -e out/com.mp4.parts/00001.mp4 ] && [ ! -e out/com.mp4.parts/00001.json ] \
    || fail "a killed render left a complete-looking part"
ok "SIGKILL halfway: only a temporary file is left ($(basename "$size"))"
sub join --plan k.plan $FLAGS
[ $RC -eq 4 ] || fail "join after the kill: exit $RC, want 4 ($(cat err.txt))"
grep -q "indices 1 .*missing" err.txt || fail "join does not name index 1: $(cat err.txt)"
ok "join refuses: $(cat err.txt)"
sub_ok join --plan k.plan $FLAGS --missing
[ "$(cat out.txt)" = 1 ] || fail "--missing printed '$(cat out.txt)'"
sub_ok render --plan k.plan --index 1 $FLAGS
[ -z "$(find out/com.mp4.parts -name '.*' -type f)" ] || fail "stale temporary files remain: $(ls -a out/com.mp4.parts)"
sub_ok join --plan k.plan $FLAGS
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 out/com.mp4)
[ "$n" = $N ] || fail "joined file has $n frames, want $N"
playable out/com.mp4
ok "rendering only index 1 again completes the job ($N frames; the killed run's leftovers removed)"
done_all
