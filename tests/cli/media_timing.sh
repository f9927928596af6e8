# Real-world media, time and streams (issue 15): transport-stream start offsets, 33-bit wraps
# and clock jumps, size changes mid-stream, interlacing, .avi timing, truncated inputs, MP4
# on a pipe, the progress total. (media_picture.sh has the picture cases.) Every input is
# made here with ffmpeg; every output is checked with ffprobe/ffmpeg.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# A small test picture with a tone (VFR when $4 drops frames), as MPEG-TS with its clock at $2.
make_ts() { # OUT OFFSET SECONDS [AUDIO_DELAY]
    ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" \
        -itsoffset "${4:-0}" -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$3" \
        -vf "select='not(eq(mod(n\,4)\,1))'" -vsync vfr -c:v libx264 -preset ultrafast \
        -c:a aac -output_ts_offset "$2" -f mpegts "$1" || fail "cannot make $1"
}
# Fails unless FILE's frame times strictly increase and no two are more than MAX s apart.
steady() { # FILE MAX
    pts_list "$1" | awk -v m="$2" 'NR > 1 { if ($1 <= p) { print "frame " NR " at " $1 " after " p; exit 1 }
        if ($1 - p > m) { print "gap of " $1 - p " s at frame " NR; exit 1 } } { p = $1 }' >gap.txt ||
        fail "$1: $(cat gap.txt)"
}
# The reader's swscale flags, for reference pictures made by ffmpeg's scale filter.
SWS=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp
first_pts() { pts_list "$1" | head -n 1; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
fdur() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
astart() { ffprobe -v error -select_streams a:0 -show_entries packet=pts_time -of csv=p=0 "$1" | head -n 1 | tr -d ,; }

# ---- 1. Transport-stream start offsets: outputs start at 0, relative timing kept ----
make_ts off.ts 3600 2
make_ts late.ts 3600 2 0.5
n=$(pts_list off.ts | wc -l)
run_ok --input-source off.ts --output-composition off.mp4 --output-alpha off.mkv
for f in off.mp4 off.mkv; do
    same_timing off.ts $f
    near "$(fdur $f)" 2 0.1 || fail "$f lasts $(fdur $f) s for 2 s of video"
done
ok "TS starting at 3601.4 s: $n VFR frames from 0 at the input's relative times, 2 s long"
run_ok --input-source late.ts --output-composition late.mp4
same_timing late.ts late.mp4
near "$(astart late.mp4)" 0.5 0.03 || fail "late.mp4: the audio starts at $(astart late.mp4), not 0.5 s after the video"
ok "audio starting 0.5 s after the video stays 0.5 s after it"

# ---- 2. 33-bit wraps, forward and backward jumps: every frame, in order, evenly spaced ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" -t 2 -c:v libx264 \
    -preset ultrafast -output_ts_offset 95441.3 wrap.ts || fail "cannot make wrap.ts"
for off in 10 508 100; do
    ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 1 -c:v libx264 -preset ultrafast \
        -c:a aac -output_ts_offset $off seg$off.ts || fail "cannot make seg$off.ts"
done
cat seg10.ts seg508.ts >forward.ts
cat seg508.ts seg100.ts >backward.ts
for in in wrap forward backward; do
    run_ok --input-source $in.ts --output-composition $in.mp4 --output-alpha $in.mkv
    for f in $in.mp4 $in.mkv; do
        got=$(pts_list $f | wc -l)
        [ "$got" -eq 50 ] || fail "$f: $got frames play, the input has 50"
        near "$(first_pts $f)" 0 0.0005 || fail "$f starts at $(first_pts $f)"
        steady $f 0.0405
        near "$(fdur $f)" 2 0.1 || fail "$f lasts $(fdur $f) s"
    done
    playable $in.mp4
    ok "$in.ts: 50 frames from 0, 40 ms apart, 2 s, in .mp4 and .mkv"
done
near "$(ffprobe -v error -select_streams a:0 -show_entries stream=duration -of csv=p=0 forward.mp4)" 2 0.1 ||
    fail "forward.mp4: the audio does not last 2 s"
ok "forward jump: the audio is closed up too"

# ---- 7. The size changes mid-stream: fitted with black bars, one line ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" -t 1 -c:v libx264 \
    -preset ultrafast size1.ts && ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=128x72:rate=25" \
    -t 1 -c:v libx264 -preset ultrafast -output_ts_offset 1 size2.ts || fail "cannot make size*.ts"
cat size1.ts size2.ts >sizes.ts
run_ok --input-source sizes.ts --output-alpha sizes.mkv
[ "$(grep -c 'changes from 96x72 to 128x72 at 1.00 s' err.txt)" -eq 1 ] || fail "no one-line note of the size change: $(cat err.txt)"
[ "$(pts_list sizes.mkv | wc -l)" -eq 50 ] || fail "sizes.mkv: not 50 frames"
[ "$("$READDUMP" sizes.ts d.rgb)" = "96x72 50" ] || fail "sizes.ts: not 50 frames of 96x72"
# Frame 30 is 128x72 fitted into 96x72: 96x54 between bars of 9 rows.
ffmpeg -nostdin -y -v error -f rawvideo -pix_fmt rgb24 -s 96x72 -i d.rgb -vf "select=eq(n\,30)" \
    -f rawvideo fr30.rgb
ffmpeg -nostdin -y -v error -i size2.ts \
    -vf "select=eq(n\,5),scale=96:54:flags=$SWS,format=rgb24,pad=96:72:0:9" -f rawvideo ref.rgb
"$PIXCMP" near8 fr30.rgb ref.rgb 0.5 8 >/dev/null || fail "the 128x72 frames are not fitted with bars"
ok "96x72 then 128x72: 50 frames, the later ones letterboxed, one line of notice"

# ---- 14. .avi timing, truncated input, MP4 on a pipe, the progress total ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" -t 3 -c:v libx264 \
    -preset ultrafast -color_primaries bt709 -color_trc bt709 -colorspace bt709 whole.mp4 &&
    ffmpeg -nostdin -y -v error -i whole.mp4 -c copy whole.mkv || fail "cannot make whole.*"
run_ok --input-source "$SAMPLE" --input-resize 96 72 --output-alpha pha.avi
want=$(pts_list "$SAMPLE" | wc -l)
got=$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate,nb_frames -of csv=p=0 pha.avi)
[ "$got" = "30/1,$want" ] || fail "pha.avi: rate and frames $got, want 30/1,$want"
[ "$(pts_list pha.avi | wc -l)" -eq "$want" ] || fail "pha.avi: not $want frames"
ok ".avi: 30 fps and $want frames, as the input"
# With AAC copied from an MP4 (its priming at -21 ms): the muxer shifted everything by that
# once the first audio packet came, after the first frame, so frames 2.. moved by a frame
# slot (rounded): a gap after the first frame, a frame more than the input and the picture
# a frame late against the sound.
ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=s=96x72:r=25:d=1 -f lavfi -i sine=r=48000:d=1 \
    -c:v libx264 -c:a aac aac.mp4 || fail "cannot make aac.mp4"
run_ok --input-source aac.mp4 --output-composition aac.avi
[ "$(stream_field aac.avi a:0 codec_name)" = aac ] || fail "aac.avi has no AAC"
same_timing aac.mp4 aac.avi
ok ".avi with copied AAC: every frame in its slot"
# The source's SMPTE timecode (a camera's tmcd track) was dropped, so an editor could not
# line the outputs up with their source by it: every video output, the matte included,
# carries it (a tmcd track in MP4/MOV, a tag in Matroska), advanced by the frames --start
# skips (15 at 30 fps: 04 -> 19; drop-frame counting is FFmpeg's), and a join's is a whole
# run's.
ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=s=96x72:r=30:d=1 -c:v libx264 \
    -timecode 01:02:03:04 tc.mov || fail "cannot make tc.mov"
tcode() { ffprobe -v error -select_streams v:0 -show_entries stream_tags=timecode -of csv=p=0 "$1"; }
run_ok --input-source tc.mov --output-composition tc_com.mov --output-alpha tc_pha.mp4 \
    --output-foreground tc_fgr.mkv
for f in tc_com.mov tc_pha.mp4 tc_fgr.mkv; do
    [ "$(tcode $f)" = 01:02:03:04 ] || fail "$f: timecode '$(tcode $f)'"
done
run_ok --input-source tc.mov --start 0.5 --output-alpha tc_cut.mov
[ "$(tcode tc_cut.mov)" = 01:02:03:19 ] || fail "tc_cut.mov: timecode '$(tcode tc_cut.mov)', want 01:02:03:19"
"$RVM" plan tc.mov --segments 2 --warmup 2 -o tc.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
render_join tc.plan 2 --output-alpha tcj/pha.mov
[ "$(tcode tcj/pha.mov)" = 01:02:03:04 ] || fail "joined matte: timecode '$(tcode tcj/pha.mov)'"
ok "timecode kept on every video output (04 -> 19 after --start 0.5), and by a join"
# A timecode that is the container's tag (an MKV made with ffmpeg -timecode), drop-frame
# 29.97: the composition (which keeps the container's other tags) had the input's own in
# MP4/MOV, not advanced past --start, and in Matroska beside the advanced one; 30 frames
# skipped from 00:00:59;28 cross a minute that drops ;00 and ;01.
ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=s=96x72:r=30000/1001:d=2 -c:v libx264 \
    -timecode '00:00:59;28' tcdf.mkv || fail "cannot make tcdf.mkv"
ftc() { ffprobe -v error -show_entries format_tags=timecode -of csv=p=0 "$1"; }
run_ok --input-source tcdf.mkv --start 1 --output-composition tcdf_com.mp4 --output-foreground tcdf_fgr.mkv
for f in tcdf_com.mp4 tcdf_fgr.mkv; do
    [ "$(tcode $f)" = "00:01:01;00" ] && [ -z "$(ftc $f)" ] ||
        fail "$f: timecode '$(tcode $f)', container's '$(ftc $f)'; want 00:01:01;00 on the video alone"
done
ok "a container's drop-frame timecode: advanced on the video track, not copied as a tag"
head -c $(($(stat -c %s whole.mkv) / 2)) whole.mkv >half.mkv
run_ok --input-source half.mkv --output-alpha half_pha.mkv
have=$(pts_list half_pha.mkv | wc -l)
[ "$have" -gt 10 ] && [ "$have" -lt 75 ] || fail "half.mkv: $have frames"
grep -q "^rvm: warning: the input ended early, at .* of the 3.00 s it declares.*$have frames" err.txt ||
    fail "half.mkv: no line saying the input ended early: $(cat err.txt)"
ok "a truncated MKV: the $have frames there, and one line saying it ended early"
# An MP4 cut before its index (a recording killed before it finished: FFmpeg writes the moov
# last): refused as looking truncated (it was "not a video or image file FFmpeg can read"),
# also with -v (FFmpeg's own messages printed).
head -c $(($(stat -c %s whole.mp4) / 2)) whole.mp4 >nomoov.mp4
for v in "" -v; do
    run $v --input-source nomoov.mp4 --output-alpha nomoov_pha.mkv
    [ $RC -eq 3 ] && grep -q "^rvm: nomoov.mp4: looks truncated: this MP4/MOV has no index (FFmpeg: moov atom not found)" err.txt ||
        fail "an MP4 without its moov ($v): exit $RC, $(cat err.txt)"
done
echo "not a video" >text.mp4
run --input-source text.mp4 --output-alpha text_pha.mkv
[ $RC -eq 3 ] && grep -q "^rvm: text.mp4: not a video or image file FFmpeg can read$" err.txt ||
    fail "a text file named .mp4: exit $RC, $(cat err.txt)"
ok "an MP4 cut before its index: exit 3, 'looks truncated', also with -v (a text file named .mp4: not a video)"
# One damaged frame (PNG-coded video in NUT, which has no parser to merge packets; the 5th
# frame's IDAT chunk claims more bytes than it has: FFmpeg's "chunk too big"): the frames
# around it are converted, and the line counting them is singular ("1 damaged video frames
# or packets were skipped" before).
# Ten frames of CODEC in FILE, the 5th packet's place in the file in $pos (its size $size).
ten_frames() { # FILE CODEC
    ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=s=96x72:r=25:d=0.4 -c:v "$2" "$1" ||
        fail "cannot make $1"
    pkt=$(ffprobe -v error -select_streams v:0 -show_entries packet=pos,size -of csv=p=0 "$1" | sed -n 5p)
    pos=${pkt#*,} size=${pkt%,*}
}
# Where the 5th packet of FILE (ten_frames) holds its PNG's first IDAT, in $idat.
idat_at() { # FILE
    idat=$(dd if="$1" bs=1 skip="$pos" count="$size" 2>/dev/null | grep -boa IDAT | head -n 1 | cut -d: -f1)
    [ -n "$idat" ] || fail "$1: no IDAT in its 5th packet ($pkt)"
}
# Fails unless the run on FILE skipped exactly its one damaged frame, with the one line.
one_skipped() { # FILE OUTPUT WHAT
    run_ok --input-source "$1" --output-alpha "$2"
    [ "$(pts_list "$2" | wc -l)" -eq 9 ] && grep -q "^rvm: warning: 1 damaged video frame or packet was skipped$" err.txt ||
        fail "$3: $(pts_list "$2" | wc -l) frames, $(cat err.txt)"
}
ten_frames dmg.nut png
idat_at dmg.nut
printf '\177\377\377\360' | dd of=dmg.nut bs=1 seek=$((pos + idat - 4)) conv=notrunc 2>/dev/null
one_skipped dmg.nut dmg_pha.mkv "one damaged frame"
ok "one damaged frame skipped: 9 of 10 frames, and one line in the singular"
# A damaged frame is reported by the run whose outputs lack it, once. In 2 segments with 3
# warm-up frames the 5th frame is segment 0's and in segment 1's warm-up: both renders said
# "1 damaged video frame or packet was skipped", though segment 1's part lacks nothing.
# Frames decoded and dropped on the way to --start (a pipe, which is not seeked) were counted
# so too (the 5th frame is at 0.16 s; 2 frames from 0.3 s). Segment 0's part lacks the frame
# as a whole run does (segments.sh joins such parts).
sub_ok plan dmg.nut --segments 2 --warmup 3 -o dmg.plan
sub_ok render --plan dmg.plan --index 0 --output-alpha dmgseg/pha.mkv
[ "$(grep -c . err.txt)" -eq 1 ] && grep -q "^rvm: warning: 1 damaged video frame or packet was skipped$" err.txt ||
    fail "segment 0 (holding the damaged frame): $(cat err.txt)"
[ "$(pts_list dmgseg/pha.mkv.parts/00000.mkv | wc -l)" -eq 4 ] ||
    fail "segment 0's part has $(pts_list dmgseg/pha.mkv.parts/00000.mkv | wc -l) frames, not 4"
sub_ok render --plan dmg.plan --index 1 --output-alpha dmgseg/pha.mkv
[ ! -s err.txt ] || fail "segment 1 (the damaged frame in its warm-up only): $(cat err.txt)"
[ "$(pts_list dmgseg/pha.mkv.parts/00001.mkv | wc -l)" -eq 5 ] ||
    fail "segment 1's part has $(pts_list dmgseg/pha.mkv.parts/00001.mkv | wc -l) frames, not 5"
run_ok -i - --start 0.3 --output-alpha dmgstart_pha.mkv <dmg.nut
[ ! -s err.txt ] && [ "$(pts_list dmgstart_pha.mkv | wc -l)" -eq 2 ] ||
    fail "--start 0.3 from a pipe: $(pts_list dmgstart_pha.mkv | wc -l) frames, $(cat err.txt)"
ok "a damaged frame in a segment's warm-up is reported by the render that writes it only, one before --start not at all"
# Decoders name a damaged packet in their own ways, not only AVERROR_INVALIDDATA: a PNG frame's
# broken zlib stream (in MKV: the IDAT's data after its 2-byte zlib header) is
# AVERROR_EXTERNAL, a ProRes frame's broken header (16 bytes in) AVERROR(EINVAL). Each was
# the whole run's end ("decoding the video: Generic error in an external library", "...:
# Invalid argument", exit 3) before.
ten_frames zlib.mkv png
idat_at zlib.mkv
printf '\377\377\377\377\377\377\377\377' | dd of=zlib.mkv bs=1 seek=$((pos + idat + 6)) conv=notrunc 2>/dev/null
one_skipped zlib.mkv zlib_pha.mkv "a PNG frame's broken zlib stream"
ten_frames prores.mov prores_ks
printf '\377\377\377\377\377\377\377\377' | dd of=prores.mov bs=1 seek=$((pos + 16)) conv=notrunc 2>/dev/null
one_skipped prores.mov prores_pha.mkv "a ProRes frame's broken header"
ok "a damaged frame is skipped whatever the decoder's error: PNG's broken zlib data (AVERROR_EXTERNAL), ProRes's header (EINVAL)"
# An MP4 whose picture starts late on its timeline (an edit list's empty edit, as
# ffmpeg -output_ts_offset writes): the container's duration counts from 0, not from the
# first frame, so this whole file must not be called truncated.
ffmpeg -nostdin -y -v error -i whole.mp4 -c copy -output_ts_offset 5 late.mp4 || fail "cannot make late.mp4"
run_ok --input-source late.mp4 --output-alpha late_pha.mkv
[ "$(pts_list late_pha.mkv | wc -l)" -eq 75 ] || fail "late.mp4: $(pts_list late_pha.mkv | wc -l) frames, not 75"
! grep -q "ended early" err.txt || fail "late.mp4, whole, called truncated: $(cat err.txt)"
ok "an MP4 starting at 5 s on its timeline: 75 frames, not called truncated"
# The same in Matroska: FFmpeg writes the last timestamp (8 s) as its Duration; whole, it is
# not truncated, and its first half is.
ffmpeg -nostdin -y -v error -i whole.mkv -c copy -output_ts_offset 5 late.mkv || fail "cannot make late.mkv"
run_ok --input-source late.mkv --output-alpha late_mkv_pha.mkv
[ "$(pts_list late_mkv_pha.mkv | wc -l)" -eq 75 ] || fail "late.mkv: $(pts_list late_mkv_pha.mkv | wc -l) frames, not 75"
! grep -q "ended early" err.txt || fail "late.mkv, whole, called truncated: $(cat err.txt)"
head -c $(($(stat -c %s late.mkv) / 2)) late.mkv >late_half.mkv
run_ok --input-source late_half.mkv --output-alpha late_half_pha.mkv
grep -q "^rvm: warning: the input ended early" err.txt || fail "late_half.mkv: not called truncated: $(cat err.txt)"
ok "an MKV starting at 5 s: whole, not called truncated; its first half is"
# An AVI written to a pipe: FFmpeg's muxer cannot fill in its lengths and leaves 2^30 frames
# in the header; that placeholder is no length, so the whole input is not called truncated
# (and the progress has no total rather than 2^30).
ffmpeg -nostdin -v error -i whole.mp4 -c:v mpeg4 -q:v 3 -f avi - 2>/dev/null |
    "$RVM" --disable-progress --input-source - --output-alpha avipipe_pha.mkv --progress-fd 3 \
        >out.txt 2>err.txt 3>prog.txt || fail "AVI from a pipe: $(cat err.txt)"
[ "$(pts_list avipipe_pha.mkv | wc -l)" -eq 75 ] || fail "AVI from a pipe: $(pts_list avipipe_pha.mkv | wc -l) frames, not 75"
! grep -q "ended early" err.txt || fail "AVI from a pipe, whole, called truncated: $(cat err.txt)"
! grep -q '"total":1073741824' prog.txt || fail "AVI from a pipe: progress total 2^30: $(head -n 1 prog.txt)"
ok "an AVI from a pipe (2^30 frames declared): 75 frames, not called truncated"
"$RVM" --disable-progress --input-source - --output-alpha pipe.mkv <whole.mp4 >out.txt 2>err.txt &&
    fail "an MP4 with its index at the end on a pipe was accepted"
grep -q "^rvm: .*index (moov) .*seekable" err.txt || fail "MP4 on a pipe: $(cat err.txt)"
ok "an MP4 with its index at the end on a pipe: says it needs a seekable input"
run_ok --input-source "$SAMPLE" --output-alpha sample.mkv --progress-fd 3 3>prog.txt
total=$(head -n 1 prog.txt | sed -n 's/.*"total":\([0-9-]*\).*/\1/p')
[ "$total" = "$want" ] || fail "progress total $total for a $want-frame clip"
ok "progress total $total for the $want-frame sample"

# ---- 10. Interlaced input: deinterlaced with bwdif, one frame per frame, progressive out ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=50" -t 0.6 \
    -vf "tinterlace=interleave_top,fieldorder=tff" -c:v libx264 -preset ultrafast \
    -flags +ildct+ilme -x264opts tff=1 inter.mp4 || fail "cannot make inter.mp4"
[ "$(stream_field inter.mp4 v:0 field_order)" = tt ] || fail "inter.mp4 is not flagged interlaced"
ffmpeg -nostdin -y -v error -i inter.mp4 -vf "bwdif=mode=send_frame:parity=auto:deint=interlaced" \
    -c:v ffv1 deint_ref.mkv
"$READDUMP" deint_ref.mkv ref.rgb >/dev/null && [ "$("$READDUMP" inter.mp4 d.rgb)" = "96x72 15" ] ||
    fail "inter.mp4: not 15 frames"
"$PIXCMP" near8 d.rgb ref.rgb 0.5 8 >/dev/null || fail "inter.mp4: the frames are not deinterlaced (ffmpeg's bwdif)"
run_ok --input-source inter.mp4 --output-composition inter_com.mp4
[ "$(grep -c '^rvm: the input is interlaced: it is deinterlaced with bwdif' err.txt)" -eq 1 ] ||
    fail "no line saying the input is deinterlaced: $(cat err.txt)"
[ "$(stream_field inter_com.mp4 v:0 field_order)" = progressive ] || fail "inter_com.mp4 is not flagged progressive"
same_timing inter.mp4 inter_com.mp4
ok "interlaced: 15 frames deinterlaced as ffmpeg's bwdif, flagged progressive, one line"
done_all
