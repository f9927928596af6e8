# Output to pipes: "-" (or pipe:1) writes to stdout in the --output-format container,
# flushed every frame. ffmpeg | rvm | ffmpeg with NUT both ways keeps every frame and its
# time; the piped matte is the file run's; matroska, mpegts and rawvideo work; one output at
# most on stdout; nothing but the stream on stdout. Then the per-frame latency through the
# pipes at 640x480 (printed; every matte must come back while stdin is still open).
#   sh pipe.sh RVM PIXCMP SHARED SOURCE READDUMP PIPELAT
# SPDX-License-Identifier: GPL-3.0-or-later
PIPELAT=$6
. "$(dirname "$0")/lib.sh"

# ---- ffmpeg | rvm | ffmpeg, NUT both ways ----
# (tee keeps what rvm was given: the first ffmpeg re-times the clip's millisecond
# timestamps to 1/30 s, and rvm must keep those.)
ffmpeg -nostdin -v error -i "$SAMPLE" -an -c:v rawvideo -f nut - 2>ff_in.txt | tee given.nut |
    "$RVM" -i - --output-alpha - --output-format nut --threads 2 --downsample-ratio 0.25 \
        2>rvm_err.txt |
    ffmpeg -v error -f nut -i - -c copy -y piped.nut 2>ff_out.txt ||
    fail "the pipeline failed: $(cat ff_in.txt rvm_err.txt ff_out.txt | head -n 3)"
[ ! -s rvm_err.txt ] || fail "rvm wrote to stderr: $(head -n 3 rvm_err.txt)"
same_timing given.nut piped.nut
n_clip=$(pts_list "$SAMPLE" | wc -l)
[ "$(wc -l <t_out.txt)" -eq "$n_clip" ] || fail "piped.nut has $(wc -l <t_out.txt) frames, the clip $n_clip"
ok "ffmpeg | rvm | ffmpeg (NUT both ways): all $n_clip frames, at the times rvm was given"
[ "$(stream_field piped.nut v:0 codec_name)" = rawvideo ] || fail "NUT on stdout is not rawvideo by default"

# The same matte as a run on what rvm was given, as a file.
run_ok -i given.nut --threads 2 --downsample-ratio 0.25 --output-type png_sequence --output-alpha pha
ffmpeg -nostdin -v error -i "pha/%04d.png" -f rawvideo -pix_fmt gray file.raw
ffmpeg -nostdin -v error -i piped.nut -f rawvideo -pix_fmt gray piped.raw
"$PIXCMP" gray piped.raw file.raw 0 || fail "the piped matte differs from the file run's"
ok "the piped matte is the file run's"

# ---- other containers on stdout (pipe:1 too) ----
S="-i $SAMPLE --duration 0.5 --threads 2 --downsample-ratio 0.25"
for f in matroska mpegts; do
    "$RVM" $S --output-composition pipe:1 --output-format $f >out.$f 2>err.txt ||
        fail "$f on stdout: $(cat err.txt)"
    playable out.$f
    frames=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries \
        stream=nb_read_frames -of csv=p=0 out.$f | tr -d , | grep -m1 '^[0-9]')
    [ "$frames" -eq 15 ] || fail "$f on stdout holds $frames frames, not 15"
done
ok "matroska and mpegts (H.264) on stdout play, 15 frames each"
"$RVM" $S --output-alpha - --output-format rawvideo:yuv420p >out.yuv 2>err.txt || fail "rawvideo: $(cat err.txt)"
[ "$(wc -c <out.yuv)" -eq $((15 * 640 * 480 * 3 / 2)) ] || fail "rawvideo:yuv420p holds $(wc -c <out.yuv) bytes"
"$RVM" $S --output-composition - --output-format rawvideo >out.rgb 2>err.txt || fail "rawvideo: $(cat err.txt)"
[ "$(wc -c <out.rgb)" -eq $((15 * 640 * 480 * 3)) ] || fail "rawvideo (rgb24) holds $(wc -c <out.rgb) bytes"
ok "rawvideo on stdout: bare yuv420p or rgb24 frames"
# Files named .yuv and .rgb hold what the name says, as ffplay -f rawvideo and YUV viewers
# read them (a .yuv held rgb24, twice the bytes I420 is): .yuv is yuv420p (ffmpeg's for a
# 4:2:0 input; yuva420p when transparent), .rgb rgb24 (rgba), the matte included.
"$RVM" $S --output-alpha named.yuv --output-composition named_com.yuv 2>err.txt || fail ".yuv: $(cat err.txt)"
# same_yuv A B: the same frames. (The matte and composition together take the fused 4:2:0
# route, one output alone or beside a foreground the band route: the same bytes in the Release
# build, within a step in others such as the sanitizer build: test_yuv420.)
same_yuv() {
    [ "$(wc -c <"$1")" -eq "$(wc -c <"$2")" ] && "$PIXCMP" gray "$1" "$2" 1 >/dev/null
}
same_yuv named.yuv out.yuv ||
    fail "named.yuv is not rawvideo:yuv420p ($(wc -c <named.yuv) bytes)"
"$RVM" $S --output-composition - --output-format rawvideo:yuv420p >com.yuv 2>err.txt || fail "rawvideo: $(cat err.txt)"
same_yuv named_com.yuv com.yuv || fail "named_com.yuv is not rawvideo:yuv420p ($(wc -c <named_com.yuv) bytes)"
"$RVM" $S --background none --output-composition named_rgba.yuv --output-alpha named.rgb 2>err.txt ||
    fail ".yuv, transparent: $(cat err.txt)"
[ "$(wc -c <named_rgba.yuv)" -eq $((15 * 640 * 480 * 5 / 2)) ] || fail "named_rgba.yuv is not yuva420p"
"$RVM" $S --output-alpha - --output-format rawvideo:rgb24 >pha.rgb 2>err.txt || fail "rawvideo: $(cat err.txt)"
cmp -s named.rgb pha.rgb || fail "named.rgb (the matte) is not rawvideo:rgb24"
ok "files named .yuv hold yuv420p (yuva420p when transparent), .rgb rgb24, the matte too"
# Bare frames hold no audio: the input's audio (AAC) was written between the frames, so
# every frame after the first was read from the wrong offset (and the size was no multiple of
# a frame's). The audio is left out with a warning; the frames are those without audio.
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=440:duration=3 -map 0:v \
    -map 1:a -c:v copy -c:a aac with_audio.mkv || fail "cannot make with_audio.mkv"
SA="-i with_audio.mkv --duration 0.5 --threads 2 --downsample-ratio 0.25"
"$RVM" $SA --output-composition aud_com.yuv --output-foreground aud_fgr.rgb 2>err.txt ||
    fail ".yuv from an input with audio: $(cat err.txt)"
same_yuv aud_com.yuv named_com.yuv || fail "aud_com.yuv ($(wc -c <aud_com.yuv) bytes) is not the frames alone"
[ "$(wc -c <aud_fgr.rgb)" -eq $((15 * 640 * 480 * 3)) ] || fail "aud_fgr.rgb holds $(wc -c <aud_fgr.rgb) bytes"
grep -q "aud_com.yuv: .*audio.*left out" err.txt || fail "no warning that the audio is left out: $(cat err.txt)"
"$RVM" $SA --output-composition - --output-format rawvideo:yuv420p >aud_pipe.yuv 2>err.txt ||
    fail "rawvideo on stdout from an input with audio: $(cat err.txt)"
same_yuv aud_pipe.yuv com.yuv || fail "rawvideo on stdout from an input with audio is not the frames alone"
ok "bare frames (.yuv, .rgb, rawvideo on stdout) from an input with audio: the frames alone, a warning"
# The matte in any pixel format FFmpeg can write: RGB ones hold it in every colour, packed
# and semi-planar YUV (yuyv422, nv12) and YUV with alpha (yuva420p) their own layouts, yuvj
# full range; each, read back by ffmpeg, is the gray matte (within a step of rounding). Odd
# size (161x119: odd chroma sizes).
S2="$S --input-resize 161 119"
"$RVM" $S2 --output-alpha - --output-format rawvideo >want.gray 2>err.txt || fail "rawvideo gray: $(cat err.txt)"
# (ya8 and ya16le: grey with alpha, full range as gray is; they held limited-range luma.)
for p in rgb24 gbrp rgba gray16le ya8 ya16le yuv420p yuvj420p yuyv422 nv12 yuva420p p010le; do
    "$RVM" $S2 --output-alpha - --output-format rawvideo:$p >a.$p 2>err.txt ||
        fail "the matte as rawvideo:$p: exit code $? $(cat err.txt)"
    ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt $p -s 161x119 -i a.$p -f rawvideo \
        -pix_fmt gray got.gray || fail "ffmpeg cannot read rawvideo:$p"
    "$PIXCMP" gray got.gray want.gray 1 >/dev/null || fail "the matte as rawvideo:$p is not the matte"
done
ok "the matte as rawvideo rgb24, gbrp, rgba, gray16le, ya8, ya16le, yuv420p, yuvj420p, yuyv422, nv12, yuva420p, p010le"

# ---- stdout by a descriptor's name, redirected to a file ----
# /dev/stdout is a link to /proc/self/fd/1; with stdout redirected to a file, the output was
# staged beside the link and renamed over it: the link became a file (as root, /dev/stdout
# itself, for every program) and the redirected file stayed empty. A link of the test's own
# stands for /dev/stdout here (a regression must not break the machine's).
ln -s /proc/self/fd/1 my_stdout
for name in my_stdout /dev/fd/1 "my_stdout -f matroska"; do
    rm -f redirected.mkv
    "$RVM" $S --output-alpha $name -y >redirected.mkv 2>err.txt || fail "$name: $(cat err.txt)"
    [ -L my_stdout ] || fail "$name: the link to /proc/self/fd/1 was replaced by a file"
    frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries \
        stream=nb_read_frames -of csv=p=0 redirected.mkv | tr -d ,)
    [ "$frames" = 15 ] ||
        fail "$name: the redirected file does not hold the 15 frames ($(wc -c <redirected.mkv) bytes)"
done
ok "an output named /dev/stdout (a link to it) or /dev/fd/1, stdout a file: written into that file"

# ---- a descriptor the shell opened to append to keeps what its file held ----
# /dev/fd/3 with 3>>kept.mkv was opened again by name (truncating): the file's data was lost.
# Now the descriptor itself is written, at the end; so is one whose offset is past 0.
frames_at() { # FILE BYTES: frames of the video after the first BYTES bytes
    tail -c +$(($2 + 1)) "$1" >tail.bin
    ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of csv=p=0 tail.bin | tr -d , | sed '/^$/d' | head -n 1
}
printf 'kept data\n' >kept.mkv
: >pipe:3 # a file named like the URL written to is not it
"$RVM" $S --output-alpha /dev/fd/3 3>>kept.mkv 2>err.txt || fail "/dev/fd/3 3>>: $(cat err.txt)"
[ "$(head -n 1 kept.mkv)" = "kept data" ] || fail "/dev/fd/3 3>>kept.mkv: the file's data was lost"
[ "$(frames_at kept.mkv 10)" = 15 ] || fail "/dev/fd/3 3>>kept.mkv: 15 frames not appended"
[ ! -s pipe:3 ] || fail "/dev/fd/3 3>>kept.mkv: written into the file named pipe:3"
printf 'kept data\n' >kept.ts
"$RVM" $S --output-alpha my_stdout -f mpegts >>kept.ts 2>err.txt || fail "my_stdout >>: $(cat err.txt)"
[ "$(head -n 1 kept.ts)" = "kept data" ] && [ "$(frames_at kept.ts 10)" = 15 ] ||
    fail "/dev/stdout >>kept.ts: not appended"
{ printf 'kept data\n'; "$RVM" $S --output-alpha /dev/stdout 2>err.txt; } >kept2.mkv ||
    fail "{ printf; rvm; } >kept2.mkv: $(cat err.txt)"
[ "$(head -n 1 kept2.mkv)" = "kept data" ] && [ "$(frames_at kept2.mkv 10)" = 15 ] ||
    fail "{ printf; rvm -o /dev/stdout; } >kept2.mkv: the data before rvm's was lost"
# pipe:N is descriptor N, as in FFmpeg: it wrote a file named pipe:3 in the current folder,
# f stayed empty (exit 0). Written as /dev/fd/3 is: into the file, or after its data.
"$RVM" $S --output-alpha pipe:3 3>p3.mkv 2>err.txt || fail "pipe:3 3>p3.mkv: $(cat err.txt)"
[ ! -s pipe:3 ] || fail "pipe:3: written into the file named pipe:3"
[ "$(frames_at p3.mkv 0)" = 15 ] || fail "pipe:3 3>p3.mkv: 15 frames not written into p3.mkv"
"$RVM" $S --output-alpha pipe:3 -f matroska 3>p3f.mkv 2>err.txt || fail "pipe:3 -f: $(cat err.txt)"
[ ! -s pipe:3 ] && [ "$(frames_at p3f.mkv 0)" = 15 ] ||
    fail "pipe:3 -f matroska 3>p3f.mkv: written into the file named pipe:3, not p3f.mkv"
printf 'kept data\n' >kept3.mkv
"$RVM" $S --output-alpha pipe:3 3>>kept3.mkv 2>err.txt || fail "pipe:3 3>>: $(cat err.txt)"
[ "$(head -n 1 kept3.mkv)" = "kept data" ] && [ "$(frames_at kept3.mkv 10)" = 15 ] ||
    fail "pipe:3 3>>kept3.mkv: not appended"
"$RVM" $S --output-alpha pipe:97 2>err.txt
rc=$?
[ $rc -eq 2 ] && grep -qx "rvm: --output-alpha pipe:97: descriptor 97 is not open (open it in the shell, e.g. 3>file)" err.txt ||
    fail "pipe:97, not open: exit $rc, $(cat err.txt)"
ok "pipe:3 is descriptor 3 (3>f, 3>>f), not a file named pipe:3; pipe:97 not open -> $(cat err.txt)"
# An empty file opened to append to has nothing to keep: written as 3>f writes it, with its
# duration and index (it was a stream: no duration, no index).
duration_of() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
: >new.mkv
"$RVM" $S --output-alpha /dev/fd/3 3>>new.mkv 2>err.txt || fail "3>>new.mkv: $(cat err.txt)"
case $(duration_of new.mkv) in [0-9]*) ;; *) fail "3>>new.mkv (empty): no duration" ;; esac
[ "$(frames_at new.mkv 0)" = 15 ] || fail "3>>new.mkv (empty): not 15 frames"
# ... but not when stderr appends to it too (its lines would be overwritten): a stream.
: >new2.mkv
"$RVM" $S --output-alpha /dev/fd/3 3>>new2.mkv 2>>new2.mkv || fail "3>>new2.mkv 2>>new2.mkv failed"
[ "$(frames_at new2.mkv 0)" = 15 ] || fail "3>>new2.mkv 2>>new2.mkv: not 15 frames"
ok "3>> an empty file: written with its duration ($(duration_of new.mkv) s) and index"
# MP4 cannot be appended (it goes back to write its index): refused in one line, exit 2
# (it was 75, "writing the header: Invalid argument"), the file as it was.
printf 'kept data\n' >kept.mp4
"$RVM" $S --output-alpha /dev/fd/3 -f mp4 3>>kept.mp4 2>err.txt
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "cannot be written into a pipe" err.txt ||
    fail "MP4 into 3>>: exit $rc, $(cat err.txt)"
[ "$(cat kept.mp4)" = "kept data" ] || fail "MP4 into 3>>: the file changed"
ok "a descriptor opened to append to (3>>, >>) or past its start: written after what the file held; MP4 there -> $(cat err.txt)"

# ---- stdout redirected to a regular file: written as a file ----
# -o - and -o pipe:1 into >f were streams (no duration, no seek index; MP4/MOV refused as
# for a pipe) where -o /dev/fd/1 into the same file got them. Every container reads back
# with its duration and the 15 frames; MP4/MOV with the index at the front.
for f in matroska:mkv webm:webm nut:nut mp4:mp4 mov:mov; do
    m=${f%%:*}
    e=${f##*:}
    for name in - pipe:1; do
        "$RVM" $S --output-alpha $name -f $m >so.$e 2>err.txt || fail "$name -f $m >so.$e: $(cat err.txt)"
        case $(duration_of so.$e) in [0-9]*) ;; *) fail "$name -f $m >so.$e: no duration" ;; esac
        [ "$(frames_at so.$e 0)" = 15 ] || fail "$name -f $m >so.$e: not 15 frames"
    done
    case $e in mp4 | mov)
        head -c 4096 so.$e | grep -q moov || fail ">so.$e: the index is not at the front" ;;
    esac
done
# Afterwards stdout stands past what was written: what the shell writes next comes after.
{ "$RVM" $S --output-alpha - -f matroska 2>err.txt; echo done; } >after.mkv ||
    fail "{ rvm -o -; echo; } >after.mkv: $(cat err.txt)"
[ "$(tail -c 5 after.mkv)" = done ] && [ "$(frames_at after.mkv 0)" = 15 ] ||
    fail "{ rvm -o -; echo; } >after.mkv: the echo's line is not after the video"
# Never over an input, by stdout either (1<> opens without truncating it); the line names the
# output and the input as given (it named /dev/fd/1), with the file behind stdin.
cp "$SAMPLE" "in copy ü.mkv"
"$RVM" -i "in copy ü.mkv" --duration 0.5 --output-alpha - -f matroska 1<>"in copy ü.mkv" 2>err.txt
rc=$?
[ $rc -eq 2 ] && cmp -s "$SAMPLE" "in copy ü.mkv" || fail "-o - 1<>input: exit $rc, $(cat err.txt)"
grep -qx "rvm: --output-alpha -: stdout is the input (in copy ü.mkv); refusing to write over it" err.txt ||
    fail "-o - 1<>input: $(cat err.txt)"
"$RVM" -i "in copy ü.mkv" --duration 0.5 --output-alpha pipe:3 -f nut 3<>"in copy ü.mkv" 2>err.txt
rc=$?
[ $rc -eq 2 ] && cmp -s "$SAMPLE" "in copy ü.mkv" &&
    grep -qx "rvm: --output-alpha pipe:3: descriptor 3 is the input (in copy ü.mkv); refusing to write over it" err.txt ||
    fail "pipe:3 3<>input: exit $rc, $(cat err.txt)"
"$RVM" -i - --duration 0.5 --output-alpha - -f nut <"in copy ü.mkv" 1<>"in copy ü.mkv" 2>err.txt
rc=$?
[ $rc -eq 2 ] && cmp -s "$SAMPLE" "in copy ü.mkv" &&
    grep -qx "rvm: --output-alpha -: stdout is the input (-: $PWD/in copy ü.mkv); refusing to write over it" err.txt ||
    fail "-i - <input -o - 1<>input: exit $rc, $(cat err.txt)"
ok "-o - and pipe:1 into a regular file: mkv, webm, nut, mp4, mov with duration ($(duration_of so.mkv) s) and index; the shell's next line after; never over an input"

# ---- errors: one line on stderr, nothing on stdout ----
pipe_error() { # WHAT rvm-args...
    what=$1
    shift
    "$RVM" "$@" >out.bin 2>err.txt
    rc=$?
    [ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "$what: exit code $rc"
    [ "$(wc -l <err.txt)" -eq 1 ] && grep -q '^rvm: ' err.txt || fail "$what: stderr: $(cat err.txt)"
    [ ! -s out.bin ] || fail "$what: $(wc -c <out.bin) bytes on stdout"
    ok "$what -> $(cat err.txt)"
}
pipe_error "two outputs on stdout" $S --output-alpha - --output-composition pipe:1
# (Into a pipe: stdout redirected to a regular file takes MP4, below.)
{ "$RVM" $S --output-alpha - -f mp4 2>err.txt; echo $? >rc.txt; } | cat >out.bin
rc=$(cat rc.txt)
[ "$rc" -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "cannot be written into a pipe" err.txt &&
    [ ! -s out.bin ] || fail "MP4 on stdout (a pipe): exit $rc (want 2, a usage error), $(cat err.txt)"
ok "MP4 on stdout (a pipe) -> $(cat err.txt)"
# The same through a descriptor's name (/dev/fd/1, a link to /proc/self/fd/1): both were
# written into stdout, two files interleaved (exit 0). Two descriptors of one pipe, refused
# too.
pipe_error "two outputs on stdout, one by /dev/fd/1" $S --output-alpha - --output-composition /dev/fd/1
[ $rc -eq 2 ] && grep -q "are the same file" err.txt || fail "/dev/fd/1 and -: exit $rc, $(cat err.txt)"
pipe_error "two outputs on stdout, one by a link" $S --output-alpha my_stdout --output-composition -
"$RVM" $S --output-alpha /dev/fd/3 --output-composition /dev/fd/4 3>&1 4>&1 2>err.txt | cat >out.bin
[ ! -s out.bin ] && grep -q "are the same file\|name the same path" err.txt ||
    fail "/dev/fd/3 and /dev/fd/4 on one pipe: $(cat err.txt)"
ok "two descriptors of one pipe -> $(cat err.txt)"
pipe_error "a missing input" -i missing.mkv --output-alpha - --output-format nut
pipe_error "an unknown container" $S --output-alpha - --output-format nosuch
pipe_error "a pixel format for H.264" $S --output-alpha - --output-format matroska:yuv420p --codec h264
pipe_error "a PNG sequence on stdout" $S --output-type png_sequence --output-alpha -
pipe_error "a pixel format swscale cannot write" $S --output-alpha - --output-format rawvideo:pal8
pipe_error "transparency into a pixel format without alpha" $S --output-composition - \
    --background none --output-format rawvideo:yuv420p

# ---- YUV4MPEG (.y4m, -f yuv4mpegpipe): what other encoders read from a pipe ----
# FFmpeg 5.1's muxer takes only wrapped_avframe, none of rvm's codecs: every .y4m output was
# refused ("a .y4m file cannot hold h264 video", exit 2). Each is checked against the same
# frames as uncompressed NUT (lossless), frame by frame, and by its header.
frames_md5() { ffmpeg -nostdin -v error -i "$1" -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}' | md5sum; }
y4m_header() { head -c 120 "$1" | head -n 1; }
run_ok $S --output-composition c.y4m --output-alpha a.y4m --output-foreground f.y4m
run_ok $S --output-composition c.nut --output-foreground f.nut --output-format nut:yuv420p
run_ok $S --output-alpha a.nut
n=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 c.nut)
[ "$n" -gt 5 ] || fail "the NUT reference has $n frames"
for o in c f a; do
    m=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 $o.y4m)
    [ "$m" = "$n" ] || fail "$o.y4m: $m frames, the NUT reference $n"
    [ "$(frames_md5 $o.y4m)" = "$(frames_md5 $o.nut)" ] || fail "$o.y4m: pixels differ from $o.nut"
done
y4m_header c.y4m | grep -q "^YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg " || fail "c.y4m: header $(y4m_header c.y4m)"
y4m_header a.y4m | grep -q "^YUV4MPEG2 W640 H480 F30:1 Ip A1:1 Cmono " || fail "a.y4m: header $(y4m_header a.y4m)"
ok ".y4m composition, foreground (yuv420p) and matte (mono): $n frames each, the NUT pixels, 30 fps"
# Into a pipe, read by ffmpeg (and x264 where installed): the file's frames (a file of the
# composition alone: the same route as the pipe's, see same_yuv).
run_ok $S --output-composition c1.y4m
"$RVM" $S --output-composition - -f yuv4mpegpipe 2>err.txt | ffmpeg -nostdin -v error -f yuv4mpegpipe -i - -f framemd5 - >piped.md5 ||
    fail "rvm -f yuv4mpegpipe | ffmpeg: $(cat err.txt)"
[ ! -s err.txt ] || fail "rvm -f yuv4mpegpipe wrote to stderr: $(cat err.txt)"
[ "$(grep -v '^#' piped.md5 | awk -F, '{print $NF}' | md5sum)" = "$(frames_md5 c1.y4m)" ] ||
    fail "the piped .y4m differs from the file"
ok "rvm -f yuv4mpegpipe | ffmpeg -f yuv4mpegpipe -i -: the same frames"
# A reader that closes the pipe early (| head) is no transient failure: exit 1, not 75
# (retry), one line. 6 frames of 76,800 bytes: more than head and the pipe take.
{ "$RVM" -i "$SAMPLE" --input-resize 320 240 --duration 0.2 --threads 1 --output-alpha - \
    -f yuv4mpegpipe 2>err.txt; echo $? >rc.txt; } | head -c 10 >/dev/null
[ "$(cat rc.txt)" = 1 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "Broken pipe" err.txt ||
    fail "rvm | head -c 10: exit $(cat rc.txt), $(cat err.txt)"
ok "a pipe's reader that went away (| head -c 10): exit 1, $(cat err.txt)"
# The same when the reader is gone before the header got through (it exited 75): a header
# larger than FFmpeg's 32 KiB buffer (a 200 KB font attachment Matroska copies) is written
# while the header is, into a pipe whose reader closed its end at once.
head -c 200000 /dev/urandom >font.ttf
ffmpeg -nostdin -v error -i "$SAMPLE" -t 0.5 -c copy -attach font.ttf \
    -metadata:s:t mimetype=application/x-truetype-font att.mkv || fail "cannot make att.mkv"
{ "$RVM" -i att.mkv --input-resize 64 48 --threads 1 --output-composition - -f matroska \
    2>err.txt; echo $? >rc.txt; } | { exec 0<&-; sleep 3; }
[ "$(cat rc.txt)" = 1 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "writing the header: Broken pipe" err.txt ||
    fail "a reader gone before the header: exit $(cat rc.txt), $(cat err.txt)"
ok "a pipe's reader gone before the header: exit 1, $(cat err.txt)"
if command -v x264 >/dev/null 2>&1; then
    "$RVM" $S --output-composition - -f yuv4mpegpipe 2>err.txt | x264 --demuxer y4m -o x.264 - 2>x264.txt ||
        fail "rvm | x264: $(cat err.txt x264.txt | tail -n 2)"
    [ "$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 x.264)" = "$n" ] ||
        fail "rvm | x264: not $n frames"
    ok "rvm -f yuv4mpegpipe | x264 --demuxer y4m: $n frames"
fi
# 4:4:4 at 10 bits when asked for (-strict -1 formats), transparency as 444alpha (yuva444p).
run_ok $S --output-composition c10.y4m --output-format yuv4mpegpipe:yuv444p10le
run_ok $S --output-composition c10.nut --output-format nut:yuv444p10le
y4m_header c10.y4m | grep -q " C444p10 " || fail "c10.y4m: header $(y4m_header c10.y4m)"
[ "$(frames_md5 c10.y4m)" = "$(frames_md5 c10.nut)" ] || fail "c10.y4m: pixels differ from c10.nut"
run_ok $S --output-composition t.y4m --background none
run_ok $S --output-composition t.nut --background none --output-format nut:yuva444p
y4m_header t.y4m | grep -q " C444alpha " || fail "t.y4m: header $(y4m_header t.y4m)"
[ "$(frames_md5 t.y4m)" = "$(frames_md5 t.nut)" ] || fail "t.y4m: pixels differ from t.nut"
ok ".y4m in yuv444p10le and, transparent, yuva444p (444alpha): the NUT pixels"
# Non-square pixels keep their aspect; audio is left out with one warning (one stream only).
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=d=1 -t 0.5 -vf scale=64:48,setsar=4/3 \
    -c:v ffv1 -c:a flac -shortest av.mkv
run_ok -i av.mkv --output-composition av.y4m
y4m_header av.y4m | grep -q "^YUV4MPEG2 W64 H48 F30:1 Ip A4:3 " || fail "av.y4m: header $(y4m_header av.y4m)"
grep -q "audio and subtitles left out: a .y4m file holds video only" err.txt || fail "av.y4m: $(cat err.txt)"
ok ".y4m of an anamorphic input with audio: A4:3, the audio left out with a warning"

# ---- per-frame latency at 640x480 (the official auto ratio, 0.8) ----
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 10 -pix_fmt yuv420p -f rawvideo frames.yuv
"$PIPELAT" frames.yuv 640 480 8 120 -- "$RVM" -i - --output-alpha - --output-format rawvideo \
    --threads 2 >lat.json 2>lat_err.txt || fail "latency: $(cat lat_err.txt)"
ok "every matte came back before the next frame was sent: latency $(cat lat.json)"
done_all
