# MP4/MOV outputs have their index (moov) before the media data (mdat), so that a browser or
# a notebook plays them while they load: whole runs (.mp4, .mov, .m4v, ProRes with alpha),
# runs stopped by Ctrl-C or by the file size limit, and joined segments. The boxes are read
# by ffprobe's MOV demuxer (its trace lists the top-level boxes in file order).
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

PIDS=
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done; rm -rf "$WORK"' EXIT

# Top-level boxes in file order, e.g. "ftyp moov free mdat".
boxes() {
    ffprobe -v trace "$1" 2>&1 | sed -n "s/.*type:'\([a-z0-9 ]*\)' parent:'root'.*/\1/p" | tr '\n' ' '
}
# Fails unless FILE's moov comes before its mdat, and FILE decodes without errors.
index_first() {
    b=$(boxes "$1")
    case "$b" in
        *moov*mdat*) ;;
        *) fail "$1: top-level boxes are '$b', the index (moov) is not before the data (mdat)"; return 1 ;;
    esac
    playable "$1"
}
frames() {
    ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of csv=p=0 "$1" | tr -d ','
}

# The shipped sample's first second at 160x120 with a tone (AAC) as its audio: small, so
# that the test stays short under the sanitizers on a loaded machine.
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=440:duration=1 \
    -vf scale=160:120 -frames:v 30 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest in.mkv \
    || fail "cannot make the test clip"
want=$(frames in.mkv)

# ---- whole runs ----
run_ok -i in.mkv --output-composition com.mp4 --output-alpha pha.mov --output-foreground fgr.m4v
for f in com.mp4 pha.mov fgr.m4v; do
    index_first $f
    [ "$(frames $f)" = "$want" ] || fail "$f has $(frames $f) frames, want $want"
done
[ -n "$(stream_field com.mp4 a:0 codec_name)" ] || fail "com.mp4 lost the input's audio"
ok "whole run: com.mp4, pha.mov and fgr.m4v have moov before mdat, all $want frames, audio kept"
run_ok -i in.mkv --background none --codec prores --output-composition com.mov
index_first com.mov
ok "ProRes 4444 with alpha in .mov: moov before mdat"

# ---- a Matroska output and a pipe are written as before ----
run_ok -i in.mkv --output-alpha pha.mkv
"$RVM" --disable-progress -i in.mkv --output-alpha - -f matroska 2>err.txt | cat >piped.mkv
[ "$(frames pha.mkv)" = "$want" ] && [ "$(frames piped.mkv)" = "$want" ] \
    || fail "Matroska outputs: $(frames pha.mkv) and $(frames piped.mkv) frames, want $want"
ok "Matroska file and pipe outputs unchanged"

# ---- a run stopped by Ctrl-C keeps a playable, index-first file of the frames done ----
ffmpeg -nostdin -v error -stream_loop 9 -i in.mkv -c copy long.mkv || fail "cannot make long.mkv"
rm -f com.mp4 pha.mov
"$RVM" --disable-progress -i long.mkv --output-video-mbps 1 --output-composition com.mp4 \
    --output-alpha pha.mov 2>err.txt &
PID=$!
PIDS=$PID
i=0
while [ "$(cat .com.mp4.*.rvm-part 2>/dev/null | wc -c)" -le 10000 ]; do
    kill -0 $PID 2>/dev/null || fail "rvm ended before the signal: $(cat err.txt)"
    i=$((i + 1))
    [ $i -lt 1500 ] || fail "timed out waiting for the run to write"
    sleep 0.2
done
kill -INT $PID
wait $PID
RC=$?
[ $RC -eq 130 ] || fail "Ctrl-C: exit code $RC, want 130 ($(cat err.txt))"
all=$(frames long.mkv)
for f in com.mp4 pha.mov; do
    index_first $f
    n=$(frames $f)
    [ "$n" -gt 0 ] && [ "$n" -lt "$all" ] || fail "$f holds $n of $all frames after Ctrl-C"
done
ok "Ctrl-C mid-run: com.mp4 and pha.mov index-first and playable with the frames done"

# ---- the file size limit: stopped while the files can be completed, index first ----
rm -f com.mp4
(ulimit -f 200 && exec "$RVM" --disable-progress -i long.mkv --output-video-mbps 1 \
    --output-composition com.mp4 2>err.txt)
RC=$?
[ $RC -eq 153 ] || fail "file size limit: exit code $RC, want 153 ($(cat err.txt))"
index_first com.mp4
[ "$(stat -c %s com.mp4)" -le 102400 ] || fail "com.mp4 is over the limit"
ok "ulimit -f 100 KiB: com.mp4 index-first, playable, within the limit"

# ---- joined segments ----
"$RVM" plan in.mkv --segments 2 --warmup 4 -o v.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
render_join v.plan 2 --output-composition seg/com.mp4
index_first seg/com.mp4
[ "$(frames seg/com.mp4)" = "$want" ] || fail "joined com.mp4 has $(frames seg/com.mp4) frames, want $want"
ok "rvm join: the joined com.mp4 has moov before mdat and all $want frames"

done_all
