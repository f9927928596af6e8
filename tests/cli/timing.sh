# Timing is kept: frame counts and timestamps equal the input's, for a variable-frame-rate
# clip made here, in MP4 and Matroska; image folders get --input-fps; --start/--duration cut.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
need_shared

# Variable frame rate: drop every 4th frame and two runs of frames, keep the timestamps.
ffmpeg -nostdin -v error -i "$FOOTAGE/asl_gestures_book.mkv" -t 2 \
    -vf "select='not(eq(mod(n\,4)\,1))*not(between(n\,20\,24))*not(between(n\,40\,41))',scale=160:120" \
    -vsync vfr -c:v libx264 -preset ultrafast vfr.mp4 || fail "cannot make the VFR clip"
ffmpeg -nostdin -v error -i vfr.mp4 -c copy vfr.mkv || fail "cannot remux the VFR clip"
n=$(pts_list vfr.mp4 | wc -l)
[ "$n" -gt 20 ] || fail "the VFR clip has only $n frames"

for in in vfr.mp4 vfr.mkv; do
    for out in o.mp4 o.mkv o.mov; do
        rm -f $out
        run_ok --input-source $in --output-alpha $out
        same_timing $in $out
    done
    ok "$in: $n frames, timestamps kept in .mp4, .mkv and .mov"
done
run_ok --input-source vfr.mp4 --output-type png_sequence --output-alpha seq
[ "$(ls seq | wc -l)" -eq "$n" ] || fail "png_sequence: $(ls seq | wc -l) files, want $n"
[ -f seq/0000.png ] && [ -f seq/$(printf %04d $((n - 1))).png ] || fail "png names"
ok "png_sequence: $n files named 0000.png..."

# Image folders: --input-fps sets the rate (frame k at k/fps).
mkdir imgs
ffmpeg -nostdin -v error -i "$FOOTAGE/asl_gestures_book.mkv" -frames:v 6 -vf scale=96:72 imgs/f%03d.png
echo "not an image" >imgs/notes.txt
run_ok --input-source imgs --input-fps 12 --output-alpha imgs.mkv
pts_list imgs.mkv >got.txt
printf '0.000000\n0.083000\n0.167000\n0.250000\n0.333000\n0.417000\n' >want.txt
cmp -s got.txt want.txt || fail "image folder at 12 fps: times $(tr '\n' ' ' <got.txt)"
ok "image folder: 6 frames at k/12 s, the text file skipped"
run_ok --input-source imgs --output-alpha imgs30.mp4
[ "$(stream_field imgs30.mp4 v:0 avg_frame_rate)" = 30/1 ] || fail "image folders default to 30 fps"
ok "image folder: 30 fps by default"
# NTSC rates as FFmpeg writes them (23.976 is another rate: 2997/125).
run_ok --input-source imgs --input-fps 24000/1001 --output-alpha imgs_ntsc.mp4
[ "$(stream_field imgs_ntsc.mp4 v:0 avg_frame_rate)" = 24000/1001 ] ||
    fail "--input-fps 24000/1001 gave $(stream_field imgs_ntsc.mp4 v:0 avg_frame_rate)"
ok "image folder: --input-fps 24000/1001 is that rate"

# --start/--duration: whole frames in [start, start+duration), starting at 0.
run_ok --input-source "$FOOTAGE/asl_gestures_book.mkv" --input-resize 96 72 --start 1 \
    --duration 0.5 --output-alpha cut.mkv
pts_list cut.mkv >cut.txt
[ "$(wc -l <cut.txt)" -eq 15 ] || fail "--start 1 --duration 0.5 gave $(wc -l <cut.txt) frames"
first=$(head -n 1 cut.txt)
awk -v t="$first" 'BEGIN { exit !(t >= 0 && t < 0.05) }' || fail "the cut starts at $first"
ok "--start 1 --duration 0.5: 15 frames from 0"
# The same from a pipe (nothing to seek in: frames before the start are decoded and dropped;
# Matroska's seek used to read to the end of the data and leave no frame).
"$RVM" --disable-progress --input-source - --input-resize 96 72 --start 1 --duration 0.5 \
    --output-alpha cut_pipe.mkv <"$FOOTAGE/asl_gestures_book.mkv" >out.txt 2>err.txt ||
    fail "--start 1 from a pipe: $(cat err.txt)"
same_times cut.mkv cut_pipe.mkv
ok "--start 1 --duration 0.5 from a pipe: the same frames"
# MPEG-TS with sparse keyframes (every 5 s): a seek there lands on any packet, and the
# decoder dropped the frames up to the next keyframe (--start 1 --duration 0.5: "holds no
# frame (the next one is at 5.000 s)", exit 2; without --duration the frames from 5 s, exit 0).
# --start gives the frames ffmpeg's trim gives (lossless matte of the same pictures). At 12.3
# the seek misses the keyframe (at 10) too, and is tried again 10 s earlier (it read the
# whole input from its beginning): the same frames.
ffmpeg -nostdin -v error -stream_loop 5 -i "$SAMPLE" -f lavfi -i sine=d=16 -vf scale=96:72 \
    -pix_fmt yuv420p -c:v libx264 -g 150 -keyint_min 150 -sc_threshold 0 -c:a aac -shortest \
    -f mpegts sparse.ts || fail "cannot make sparse.ts"
for s in 1 4.2 12.3; do
    ffmpeg -nostdin -v error -i sparse.ts -vf "setpts=PTS-STARTPTS,trim=start=$s:duration=0.5" \
        -an -c:v ffv1 trim_$s.mkv || fail "cannot make trim_$s.mkv"
    run_ok -i trim_$s.mkv --threads 1 --codec ffv1 --output-alpha trim_pha_$s.mkv
    run_ok -i sparse.ts --start $s --duration 0.5 --threads 1 --codec ffv1 \
        --output-composition ts_com_$s.mkv --output-alpha ts_pha_$s.mkv
    [ "$(pts_list ts_pha_$s.mkv | wc -l)" -eq 15 ] || fail "sparse.ts --start $s: $(pts_list ts_pha_$s.mkv | wc -l) frames"
    for f in trim_pha_$s.mkv ts_pha_$s.mkv; do
        ffmpeg -nostdin -v error -i $f -map 0:v -f framemd5 - | grep -v '^#' | awk -F, '{ print $NF }' >$f.md5
    done
    cmp -s trim_pha_$s.mkv.md5 ts_pha_$s.mkv.md5 || fail "sparse.ts --start $s: not the frames ffmpeg's trim gives"
    [ "$(stream_field ts_com_$s.mkv a:0 codec_type)" = audio ] || fail "sparse.ts --start $s: no audio"
done
ok "MPEG-TS with a keyframe every 5 s: --start 1, 4.2 and 12.3 give ffmpeg's frames"
# Intra-refresh H.264 (x264's intra-refresh: no IDR after the first frame, its keyframes
# are recovery points): a seek lands on one at or before the start, but the decoder holds
# frames back until the picture has recovered, past the start (in Matroska, --start 4.2
# --duration 0.5 gave 10 frames from 0.167 s, exit 0; without --duration 5 frames fewer). The
# frames are trim's, in MKV and MPEG-TS; clicks at every x.5 s stay at 0.3 s, 1.3 s, 2.3 s
# after the start: nothing sent twice (AAC copied; PCM re-encoded to AAC in .mp4).
ffmpeg -nostdin -v error -stream_loop 2 -i "$SAMPLE" \
    -f lavfi -i "aevalsrc=0.8*sin(2*PI*1000*t)*lt(mod(t-0.5\\,1)\\,0.02):s=48000:d=11" \
    -vf scale=96:72 -pix_fmt yuv420p -c:v libx264 -x264-params intra-refresh=1:keyint=60 \
    -c:a aac -shortest -f mpegts ir.ts || fail "cannot make ir.ts"
ffmpeg -nostdin -v error -i ir.ts -c copy ir.mkv || fail "cannot make ir.mkv"
ffmpeg -nostdin -v error -i ir.mkv -c:v copy -c:a pcm_s16le ir_pcm.mkv || fail "cannot make ir_pcm.mkv"
matte_md5() { ffmpeg -nostdin -v error -i "$1" -map 0:v -f framemd5 - | grep -v '^#' | awk -F, '{ print $NF }'; }
for d in 0.5 -; do
    o=; t=; [ $d = - ] || { o="--duration $d"; t=":duration=$d"; }
    ffmpeg -nostdin -v error -i ir.mkv -vf "setpts=PTS-STARTPTS,trim=start=4.2$t" -an -c:v ffv1 \
        ir_trim.mkv -y || fail "cannot make ir_trim.mkv"
    run_ok -y -i ir_trim.mkv --threads 1 --codec ffv1 --output-alpha ir_trim_pha.mkv
    matte_md5 ir_trim_pha.mkv >want.md5
    for in in ir.mkv ir.ts; do
        [ $d = - ] && [ $in = ir.ts ] && continue
        run_ok -y -i $in --start 4.2 $o --threads 1 --codec ffv1 --output-alpha ir_pha.mkv
        matte_md5 ir_pha.mkv >got.md5
        cmp -s want.md5 got.md5 || fail "$in --start 4.2 $o: $(wc -l <got.md5) frames from $(pts_list ir_pha.mkv | head -n 1) s, not the $(wc -l <want.md5) trim gives"
    done
done
[ "$(wc -l <want.md5)" -gt 100 ] || fail "trim from 4.2 s gave $(wc -l <want.md5) frames"
clicks() { ffmpeg -nostdin -i "$1" -map 0:a:0 -af silencedetect=n=-30dB:d=0.1 -f null - 2>&1 |
    sed -n 's/.*silence_end: \([0-9.]*\).*/\1/p' | head -n 3 | tr '\n' ' '; }
for io in ir.mkv:mkv ir_pcm.mkv:mp4; do
    in=${io%:*}; ext=${io#*:}
    run_ok -y -i $in --start 4.2 --duration 3 --threads 1 --output-composition ir_com.$ext
    [ "$(pts_list ir_com.$ext | wc -l)" -eq 90 ] || fail "$in -> .$ext: $(pts_list ir_com.$ext | wc -l) frames, want 90"
    set -- $(clicks ir_com.$ext)
    [ $# -eq 3 ] || fail "$in -> .$ext: clicks at $*"
    awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { exit !(a > 0.28 && a < 0.34 && b > 1.28 && b < 1.34 && c > 2.28 && c < 2.34) }' ||
        fail "$in -> .$ext: clicks at $* s, want 0.3 1.3 2.3"
done
[ "$(stream_field ir_com.mp4 a:0 codec_name)" = aac ] || fail "PCM was not re-encoded to AAC in .mp4"
ok "intra-refresh H.264 (recovery points): --start 4.2 gives trim's frames (MKV, TS), clicks in place"
done_all
