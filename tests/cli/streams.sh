# Inputs with several video streams: rvm takes the one FFmpeg's tools would (cover art never;
# a default stream first, then the largest picture), says which in one line when there was a
# choice, and every part of the command takes that same one (a whole run, rvm plan, render
# and join with the input's audio). The chosen stream is not also copied as a track.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# The video: the sample at 320x240 with a tone, 0.6 s. The other video streams are test
# patterns of other sizes, put FIRST (a reader taking the first video stream takes them).
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=440:duration=1 -t 0.6 \
    -vf scale=320:240 -c:v libx264 -pix_fmt yuv420p -c:a aac one.mkv || fail "cannot make one.mkv"
# two VIDEO.mkv SIZE DISP0 DISP1: a SIZE test pattern as stream 0, one.mkv's video copied as
# stream 1, its audio as stream 2, with those default flags.
two() {
    ffmpeg -nostdin -v error -f lavfi -i "testsrc=s=$2:r=25:d=0.6" -i one.mkv \
        -map 0:v -map 1:v -map 1:a -c:v:0 libx264 -c:v:1 copy -c:a copy \
        -disposition:v:0 "$3" -disposition:v:1 "$4" "$1" || fail "cannot make $1"
}
two default.mkv 160x120 0 default  # the default stream is the larger
two larger.mkv 160x120 0 0         # none is the default: the larger
two flagged.mkv 640x480 0 default  # the default stream is the smaller: still the default
two both.mkv 160x120 default default  # both are default: the larger of them
two tie.mkv 320x240 0 0            # none is the default, the same size: the first
two tie_default.mkv 320x240 default default  # both default, the same size: the first
# MP4 with PNG cover art larger than the video (ffmpeg's tools never take cover art).
ffmpeg -nostdin -v error -f lavfi -i testsrc=s=640x480 -frames:v 1 cover.png
ffmpeg -nostdin -v error -i cover.png -i one.mkv -map 0 -map 1:v -map 1:a -c copy \
    -disposition:v:0 attached_pic cover.mp4 || fail "cannot make cover.mp4"

size() { ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0:s=x "$1" | tr '\n' ' ' | sed 's/ $//'; }
count() { ffprobe -v error -select_streams "$2" -show_entries stream=index -of csv=p=0 "$1" | sed '/^$/d' | wc -l; }
# The decoded pictures only (an MP4 input's timestamps may differ from an MKV's).
frames_md5() { ffmpeg -nostdin -v error -i "$1" -map 0:v -f framemd5 - | grep -v '^#' | awk -F, '{ print $NF }' | md5sum | cut -d' ' -f1; }

# Lossless outputs (FFV1): the same frames in give the same files' pictures (x264 may code the
# same frames differently at other timestamps).
run_ok -i one.mkv --threads 1 --codec ffv1 --output-composition ref.mkv
[ ! -s err.txt ] || fail "one video stream: unexpected messages: $(cat err.txt)"
ref=$(frames_md5 ref.mkv)

# The line gives the reason the chooser had (with both streams default it said "the default",
# as if the flag had decided).
reason_default=default reason_larger=largest reason_flagged=default
reason_both="largest of the 2 default ones"
for f in default larger flagged both; do
    run_ok -i $f.mkv --threads 1 --codec ffv1 --output-composition out_$f.mkv
    [ "$(size out_$f.mkv)" = 320x240 ] || fail "$f.mkv: output is $(size out_$f.mkv), want 320x240 (stream #1)"
    [ "$(frames_md5 out_$f.mkv)" = "$ref" ] || fail "$f.mkv: the frames are not those of stream #1"
    [ "$(count out_$f.mkv v)" -eq 1 ] && [ "$(count out_$f.mkv a)" -eq 1 ] ||
        fail "out_$f.mkv: $(count out_$f.mkv v) video and $(count out_$f.mkv a) audio streams, want 1 and 1"
    eval "reason=\$reason_$f"
    [ "$(cat err.txt)" = "rvm: input has 2 video streams; using stream #1 (320x240, the $reason)" ] ||
        fail "$f.mkv: the choice and its reason are not said in one line: $(cat err.txt)"
    ok "$f.mkv: $(cat err.txt)"
done

# A longer video stream left out (2 s of pattern beside the 0.6 s picked): the input is whole.
# It was called truncated ("ended early, at 0.6 s of the 2 s it declares"): the streams left
# out were not demuxed, so where they end was never seen.
ffmpeg -nostdin -v error -f lavfi -i testsrc=s=160x120:r=25:d=2 -i one.mkv -map 0:v -map 1:v \
    -map 1:a -c:v:0 libx264 -c:v:1 copy -c:a copy -disposition:v:0 0 -disposition:v:1 default \
    long.mkv || fail "cannot make long.mkv"
run_ok -i long.mkv --threads 1 --codec ffv1 --output-composition out_long.mkv
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: input has 2 video streams; using stream #1" err.txt ||
    fail "long.mkv: $(cat err.txt)"
[ "$(frames_md5 out_long.mkv)" = "$ref" ] || fail "long.mkv: the frames are not those of stream #1"
ok "a longer video stream left out: the input is not called truncated"

run_ok -i cover.mp4 --threads 1 --codec ffv1 --output-composition cover_com.mkv
[ "$(size cover_com.mkv)" = 320x240 ] && [ "$(frames_md5 cover_com.mkv)" = "$ref" ] ||
    fail "cover.mp4: the cover art was taken ($(size cover_com.mkv))"
[ ! -s err.txt ] || fail "cover.mp4: cover art is not a choice, yet: $(cat err.txt)"
[ "$(count cover_com.mkv v)" -eq 1 ] || fail "cover_com.mkv: $(count cover_com.mkv v) video streams"
ok "MP4 with cover art: the video, without a word"

# plan / render / join take the same stream: the plan counts its frames, the join adds the
# audio once; one line at plan (and at each render).
"$RVM" plan larger.mkv --segments 2 --warmup 100 -o t.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
[ "$(cat err.txt)" = "rvm: input has 2 video streams; using stream #1 (320x240, the largest)" ] ||
    fail "plan: the choice is not said in one line: $(cat err.txt)"
for f in tie tie_default; do
    "$RVM" plan $f.mkv --segments 2 --warmup 100 -o $f.plan >out.txt 2>err.txt || fail "plan $f.mkv: $(cat err.txt)"
    want="the first of the largest"
    [ $f = tie ] || want="$want default ones"
    [ "$(cat err.txt)" = "rvm: input has 2 video streams; using stream #0 (320x240, $want)" ] ||
        fail "plan $f.mkv: a tie is not said as one: $(cat err.txt)"
    ok "plan $f.mkv: $(cat err.txt)"
done
"$RVM" render --plan t.plan --index 1 --threads 1 --codec ffv1 --output-composition seg/com.mkv \
    >out.txt 2>err.txt || fail "render: $(cat err.txt)"
[ "$(grep -c "video streams" err.txt)" -eq 1 ] && [ "$(wc -l <err.txt)" -eq 1 ] ||
    fail "render: the choice is not said in one line: $(cat err.txt)"
render_join t.plan 2 --codec ffv1 --output-composition seg/com.mkv
[ "$(size seg/com.mkv)" = 320x240 ] && [ "$(count seg/com.mkv v)" -eq 1 ] && [ "$(count seg/com.mkv a)" -eq 1 ] ||
    fail "joined: $(size seg/com.mkv), $(count seg/com.mkv a) audio"
same_times out_larger.mkv seg/com.mkv
# (a warm-up longer than the input: every segment's frames are a whole run's exactly)
[ "$(frames_md5 seg/com.mkv)" = "$ref" ] || fail "joined: the frames are not those of stream #1"
ok "plan/render/join: stream #1 and the audio, as a whole run"
done_all
