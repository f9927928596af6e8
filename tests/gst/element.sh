# The rvmmatte GStreamer element in gst-launch-1.0 pipelines on the shipped real clip: its
# matte, RGBA and composition equal the rvm command's on the same frames (within 1/255), every
# input format gives the matte of the same picture in RGB, a live source runs, bad settings
# stop the pipeline with an error (never a crash), and sizes and interlaced video it cannot
# take are refused at negotiation (never a hang).
#   sh element.sh PLUGIN_DIR RVM PIXCMP SOURCE_DIR STATE_TEST YUV2RGB
# SPDX-License-Identifier: GPL-3.0-or-later
PLUGIN_DIR=$1
RVM=$2
PIXCMP=$3
SRC=$4
STATE_TEST=$5
YUV2RGB=$6
SAMPLE=$SRC/samples/asl_gestures_again.mkv

for tool in gst-launch-1.0 gst-inspect-1.0 ffmpeg; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
for element in filesrc decodebin videoconvert matroskademux avdec_h264 avdec_ffv1 \
    videotestsrc filesink fakesink tee queue rawvideoparse; do
    gst-inspect-1.0 --exists $element ||
        { echo "SKIP: GStreamer element $element is missing (gstreamer1.0-plugins-base, -good, -libav)"; exit 77; }
done

export GST_PLUGIN_PATH="$PLUGIN_DIR"
# A registry of its own: the test never reads or writes the user's.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rvm-gst-test.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
export GST_REGISTRY="$WORK/registry.bin"
CHECKS=0
fail() { echo "FAIL: $*"; exit 1; }
ok() { CHECKS=$((CHECKS + 1)); echo "ok: $*"; }

launch() { # gst-launch-1.0 quietly; output in launch.txt, exit code in $RC
    gst-launch-1.0 -q "$@" >launch.txt 2>&1
    RC=$?
}
launch_ok() {
    launch "$@"
    [ $RC -eq 0 ] || fail "gst-launch-1.0 $* exited with $RC: $(head -n 5 launch.txt)"
}
png_raw() { # FOLDER PIX_FMT OUT
    ffmpeg -nostdin -v error -i "$1/%04d.png" -f rawvideo -pix_fmt "$2" "$3" || fail "cannot decode $1"
}

# ---- the element is there and documents every property ----
gst-inspect-1.0 rvmmatte >inspect.txt 2>&1 || fail "gst-inspect-1.0 rvmmatte: $(head -n 3 inspect.txt)"
for p in model downsample-ratio threads output background; do
    grep -A1 "^  $p  *: ..........*" inspect.txt | grep -q flags || fail "property $p is not documented"
done
grep -q '"reset"' inspect.txt || fail "the reset action signal is not listed"
ok "gst-inspect-1.0 rvmmatte documents model, downsample-ratio, threads, output, background, reset"

# ---- the same frames through the command and the element ----
# 8 frames of the clip in lossless RGB (FFV1): both read exactly the same pixels.
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 8 -an -c:v ffv1 -pix_fmt bgr0 rgb.mkv ||
    fail "cannot make the RGB clip"
FRAMES=8
PIX=$((640 * 480))
RGB_IN="filesrc location=rgb.mkv ! decodebin ! videoconvert ! video/x-raw,format=RGB"

# The automatic ratio (0.8 at 640x480) once; the rest at 0.25, which is faster.
cmd() {
    "$RVM" --disable-progress -i rgb.mkv --threads 2 --output-type png_sequence "$@" \
        >/dev/null 2>cmd.txt || fail "rvm $*: $(cat cmd.txt)"
}
cmd --output-alpha pha8
png_raw pha8 gray cmd_pha8.raw
cmd --downsample-ratio 0.25 --output-alpha pha16 --output-depth 16
png_raw pha16 gray16le cmd_pha16.raw
cmd --downsample-ratio 0.25 --output-composition rgba8
png_raw rgba8 rgba cmd_rgba8.raw
cmd --downsample-ratio 0.25 --output-composition com --background 32,64,200
png_raw com rgb24 cmd_com.raw
M="rvmmatte threads=2 downsample-ratio=0.25"

launch_ok $RGB_IN ! rvmmatte output=alpha threads=2 ! video/x-raw,format=GRAY8 ! \
    filesink location=el_pha8.raw
[ "$(wc -c <el_pha8.raw)" -eq $((FRAMES * PIX)) ] || fail "the element wrote $(wc -c <el_pha8.raw) bytes of GRAY8"
"$PIXCMP" gray el_pha8.raw cmd_pha8.raw 1 || fail "8-bit matte differs from the command's"
ok "GRAY8 matte (auto ratio 0.8) = the command's 8-bit alpha within 1/255"

launch_ok $RGB_IN ! $M output=alpha ! video/x-raw,format=GRAY16_LE ! \
    filesink location=el_pha16.raw
"$PIXCMP" similar el_pha16.raw cmd_pha16.raw 0 || fail "16-bit matte differs from the command's"
"$PIXCMP" close el_pha16.raw cmd_pha16.raw >/dev/null || fail "16-bit matte differs from the command's"
ok "GRAY16_LE matte = the command's 16-bit alpha"

launch_ok $RGB_IN ! $M ! video/x-raw,format=RGBA ! filesink location=el_rgba.raw
"$PIXCMP" gray el_rgba.raw cmd_rgba8.raw 1 || fail "RGBA output differs from the command's RGBA composition"
ok "RGBA output (the default) = the command's RGBA PNG composition within 1/255"

launch_ok $RGB_IN ! $M output=composite background=0x2040c8 ! \
    video/x-raw,format=RGB ! filesink location=el_com.raw
"$PIXCMP" gray el_com.raw cmd_com.raw 1 || fail "composite output differs from the command's composition"
launch_ok $RGB_IN ! $M output=composite background=0x2040c8 ! \
    video/x-raw,format=RGBA ! videoconvert ! video/x-raw,format=RGB ! filesink location=el_com4.raw
"$PIXCMP" gray el_com4.raw cmd_com.raw 1 || fail "composite output as RGBA differs from the command's composition"
ok "composite over 0x2040c8 (RGB and RGBA) = the command's composition over 32,64,200 within 1/255"

# ---- every input format gives the matte of its RGB picture ----
# Packed formats carry the same pixels in another order: the matte of the RGB input.
launch_ok $RGB_IN ! $M output=alpha ! video/x-raw,format=GRAY8 ! filesink location=el_rgb.raw
for f in BGR RGBx BGRx RGBA BGRA; do
    launch_ok $RGB_IN ! videoconvert ! video/x-raw,format=$f ! $M output=alpha ! \
        video/x-raw,format=GRAY8 ! filesink location=el_$f.raw
    "$PIXCMP" gray el_$f.raw el_rgb.raw 1 || fail "$f input: matte differs from the RGB input's"
done
ok "BGR, RGBx, BGRx, RGBA and BGRA inputs give the RGB input's matte within 1/255"
# YUV 4:2:0 as decoded from the H.264 clip (GStreamer reads its caps as BT.601, limited
# range), read by the library directly, against the RGB picture those frames stand for
# (tests/gst/yuv2rgb.c, the formulas of include/rvm.h). The library converts YUV in float
# without rounding to 8 bits, which the 8-bit RGB picture cannot hold: a few samples at
# sensitive edges differ by more than a step (measured: 99.76% within 1/255, mean 0.012).
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v $FRAMES -an -c copy h264.mkv || fail "cannot cut the clip"
launch_ok filesrc location=h264.mkv ! decodebin ! videoconvert ! \
    video/x-raw,format=I420,colorimetry=bt601 ! tee name=t ! queue ! $M output=alpha ! \
    video/x-raw,format=GRAY8 ! filesink location=yuv_I420.raw \
    t. ! queue ! filesink location=frames.i420
[ "$(wc -c <yuv_I420.raw)" -eq $((FRAMES * PIX)) ] || fail "I420 input: $(wc -c <yuv_I420.raw) bytes of matte"
"$YUV2RGB" 640 480 bt601 limited <frames.i420 >frames.rgb || fail "yuv2rgb failed"
launch_ok filesrc location=frames.rgb ! rawvideoparse width=640 height=480 format=rgb \
    framerate=30/1 ! $M output=alpha ! video/x-raw,format=GRAY8 ! filesink location=yuv_rgb.raw
"$PIXCMP" within8 yuv_I420.raw yuv_rgb.raw 1 99.5 || fail "I420 input: matte differs from its RGB picture's"
"$PIXCMP" near8 yuv_I420.raw yuv_rgb.raw 0.03 255 || fail "I420 input: matte differs from its RGB picture's"
ok "I420 input gives the matte of its RGB picture (>= 99.5% within 1/255, mean <= 0.03 steps)"
launch_ok filesrc location=frames.i420 ! rawvideoparse width=640 height=480 format=i420 \
    framerate=30/1 colorimetry=bt601 ! videoconvert ! video/x-raw,format=NV12 ! $M output=alpha ! \
    video/x-raw,format=GRAY8 ! filesink location=yuv_NV12.raw
"$PIXCMP" gray yuv_NV12.raw yuv_I420.raw 0 || fail "NV12 input: matte differs from the same frames in I420"
ok "NV12 input gives exactly the I420 matte"

# ---- a live source ----
launch_ok videotestsrc is-live=true num-buffers=30 pattern=ball ! \
    video/x-raw,width=320,height=240,framerate=30/1 ! rvmmatte output=alpha threads=2 ! \
    video/x-raw,format=GRAY8 ! filesink sync=true location=live.raw
[ "$(wc -c <live.raw)" -eq $((30 * 320 * 240)) ] || fail "live source: $(wc -c <live.raw) bytes for 30 frames"
ok "a live videotestsrc pipeline runs (30 frames at 320x240)"

# ---- row padding: an odd width pads GRAY8, GRAY16_LE and RGB rows to 4 bytes ----
# The element writes the padding (zeros): unwritten, it held whatever the buffer had before,
# so the same frames gave different bytes.
padded() { # FORMAT BYTES-PER-PIXEL: 4 frames 161x121, padding checked zero, two runs equal
    stride=$(((161 * $2 + 3) / 4 * 4))
    for run in 1 2; do
        launch_ok videotestsrc num-buffers=4 pattern=ball ! video/x-raw,width=161,height=121 ! \
            rvmmatte output=$3 threads=2 ! video/x-raw,format=$1 ! filesink location=pad$run.raw
    done
    [ "$(wc -c <pad1.raw)" -eq $((4 * 121 * stride)) ] || fail "$1 at 161x121: $(wc -c <pad1.raw) bytes"
    cmp -s pad1.raw pad2.raw || fail "$1 at 161x121: two runs of the same frames differ"
    nonzero=$(od -An -v -tu1 -w$stride pad1.raw |
        awk -v from=$((161 * $2 + 1)) '{ for (i = from; i <= NF; i++) if ($i != 0) n++ } END { print n + 0 }')
    [ "$nonzero" -eq 0 ] || fail "$1 at 161x121: $nonzero row padding bytes are not zero"
}
padded GRAY8 1 alpha
padded GRAY16_LE 2 alpha
padded RGB 3 composite
ok "161-pixel rows: GRAY8, GRAY16_LE and RGB padding bytes are zero, two runs byte-identical"

# ---- 4:2:0 at an odd width: the element and the command read the same frames alike ----
# At an even height the official reader's swscale repeats each chroma sample over its 2x2
# pixels, odd widths too, as the library does; the command converted odd widths on its own
# (chroma interpolated): mattes up to 36/255 apart at 163x120. (At an odd height the command
# reads as swscale does there, chroma interpolated between rows, which the library does not:
# README, GStreamer.)
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 4 -an -vf scale=163:120 -c:v ffv1 \
    -pix_fmt yuv420p odd.mkv || fail "cannot make the 163x120 clip"
launch_ok filesrc location=odd.mkv ! decodebin ! videoconvert ! video/x-raw,format=I420 ! \
    rvmmatte output=alpha threads=2 ! video/x-raw,format=GRAY8 ! filesink location=odd_el.raw
ffmpeg -nostdin -v error -f rawvideo -pix_fmt gray -s 164x120 -i odd_el.raw -vf crop=163:120:0:0 \
    -f rawvideo odd_el163.raw || fail "cannot crop the element's padded rows"
"$RVM" --disable-progress -i odd.mkv --threads 2 --output-type png_sequence --output-alpha odd_pha \
    >/dev/null 2>cmd.txt || fail "rvm at 163x120: $(cat cmd.txt)"
png_raw odd_pha gray odd_cmd.raw
"$PIXCMP" gray odd_el163.raw odd_cmd.raw 0 || fail "163x120 4:2:0: the element's matte is not the command's"
ok "163x120 4:2:0: the element's matte is the command's, byte for byte"

# ---- seeks, the reset signal, live property changes, timestamps (the API test) ----
"$STATE_TEST" "$WORK/rgb.mkv" >state.txt 2>&1 || fail "state test: $(grep -v '^ok' state.txt | head -n 5)"
ok "seek and reset signal reset the state; ratio changes apply at the next frame; timestamps pass through ($(grep -c '^ok' state.txt) checks)"

# ---- bad settings: an element error, the pipeline stops, exit code non-zero (no crash) ----
expect_error() { # WHAT EXPECTED-TEXT rvmmatte-properties...
    what=$1 text=$2
    shift 2
    launch videotestsrc num-buffers=3 ! video/x-raw,width=160,height=120 ! rvmmatte "$@" ! fakesink
    [ $RC -ne 0 ] || fail "$what: exit code 0"
    # gst-launch-1.0 exits with 1 (an error while playing) or 255 (a state change refused);
    # 129..254 would be a signal (a crash).
    [ $RC -lt 128 ] || [ $RC -eq 255 ] || fail "$what: died with exit code $RC (a crash?)"
    grep -q "^ERROR: from element .*rvmmatte.*: rvmmatte: .*$text" launch.txt ||
        fail "$what: no element error saying '$text': $(head -n 3 launch.txt)"
    if LC_ALL=C grep -q "$(printf '\033')" launch.txt; then fail "$what: escape sequence in the message"; fi
    ok "$what -> $(grep -m1 '^ERROR' launch.txt)"
}
# (NaN is refused by GObject itself with a warning: the property keeps its value.)
for r in 1.5 -0.25; do
    expect_error "downsample-ratio=$r" "downsample-ratio $r: expected a number in (0, 1\], or 0 for the official rule" downsample-ratio=$r
done
expect_error "missing model" "cannot load the model" model=missing.pth
echo "not a model" >bad.pth
expect_error "a text file as model" "cannot load the model" model=bad.pth
# A checkpoint that names a tensor with a newline and a terminal escape (fuzz regression).
expect_error "hostile checkpoint" "cannot load the model" \
    model="$SRC/tests/fuzz/regressions/pth/model_build_message_control_chars.pth"
mkdir notamodel
expect_error "folder without model.json" "cannot load the model" model=notamodel

# ---- sizes the element cannot take: refused at negotiation, in one line, never a hang ----
# An error from the first frame came during preroll, and gst-launch-1.0 then waited for ever
# in 2 runs of 3 (a frame 16400 wide; downsample-ratio=0.001 at 64x48). Each pipeline runs 3
# times under a timeout. (gst-launch-1.0 1.22 itself can still hang, about 1 run in 8, when a
# raw parser's first caps are refused at once, whoever refuses them: not tried here.)
refused() { # WHAT EXPECTED-TEXT gst-launch-arguments...
    what=$1 text=$2
    shift 2
    for run in 1 2 3; do
        timeout 60 gst-launch-1.0 -q "$@" >launch.txt 2>&1
        RC=$?
        [ $RC -ne 124 ] || fail "$what: gst-launch-1.0 hung (run $run, killed after 60 s)"
        [ $RC -ne 0 ] || fail "$what: exit code 0"
        [ $RC -lt 128 ] || [ $RC -eq 255 ] || fail "$what: died with exit code $RC (a crash?)"
        grep -q "$text" launch.txt || fail "$what: no line saying '$text': $(head -n 3 launch.txt)"
    done
    ok "$what -> $(grep -m1 "$text" launch.txt)"
}
ffmpeg -nostdin -v error -f lavfi -i testsrc=size=64x48:rate=10 -frames:v 3 -c:v ffv1 small.mkv &&
    ffmpeg -nostdin -v error -f lavfi -i testsrc=size=16400x2:rate=10 -frames:v 2 -c:v ffv1 \
        -pix_fmt bgr0 wide.mkv &&
    ffmpeg -nostdin -v error -f lavfi -i testsrc=size=4000x6:rate=10 -frames:v 2 -c:v ffv1 \
        -pix_fmt bgr0 thin.mkv || fail "cannot make the small, wide and thin clips"
# A caps filter's one size is said by the element when it starts, with the reason and the
# ratio to use (it was only gst-launch's "could not link videotestsrc0 to rvmmatte0"), also
# just below the ratio suggested (0.009 at 160x120).
refused "downsample-ratio=0.001 at 64x48 (a caps filter)" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: downsample-ratio 0.001 leaves no pixels of a 64x48 frame" \
    videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! rvmmatte downsample-ratio=0.001 ! fakesink
refused "downsample-ratio=0.008 at 160x120 (a caps filter; 0.009 suggested)" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: downsample-ratio 0.008 leaves no pixels of a 160x120 frame (it takes at least 125 pixels a side; use a downsample-ratio of at least 0.009" \
    videotestsrc num-buffers=3 ! video/x-raw,width=160,height=120 ! rvmmatte downsample-ratio=0.008 ! fakesink
refused "downsample-ratio=0.001 at 64x48 (decoded)" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: downsample-ratio 0.001 leaves no pixels of a 64x48 frame" \
    filesrc location=small.mkv ! decodebin ! videoconvert ! rvmmatte downsample-ratio=0.001 ! fakesink
# No size works at all: said by the element when it starts (it was only gst-launch's "could
# not link"; refused at negotiation, during preroll, gst-launch-1.0 hung), with a ratio
# suggested for the frames upstream offers (160x120: 0.009; it was 0.0001, which works only
# from 10000 pixels a side).
refused "downsample-ratio=1e-10 (a caps filter)" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: downsample-ratio 1e-10 leaves no pixels of any frame (use a downsample-ratio of at least 0.009 for these 160x120 frames" \
    videotestsrc num-buffers=3 ! video/x-raw,width=160,height=120 ! rvmmatte downsample-ratio=1e-10 ! fakesink
# Decoded, the size is not known when the element starts (where it refuses the ratio: at
# negotiation, during preroll, gst-launch-1.0 hung): the rule, with an example.
refused "downsample-ratio=1e-10 (decoded: size not known yet)" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: downsample-ratio 1e-10 leaves no pixels of any frame (a frame keeps a pixel from a ratio of 1/N" \
    filesrc location=small.mkv ! decodebin ! videoconvert ! rvmmatte downsample-ratio=1e-10 ! fakesink
refused "a frame 16400 wide" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: 16400x2 frames are not supported" \
    filesrc location=wide.mkv ! decodebin ! videoconvert ! rvmmatte ! fakesink
refused "4000x6 frames at the automatic ratio" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: 4000x6 frames are too narrow for the automatic downsample-ratio" \
    filesrc location=thin.mkv ! decodebin ! videoconvert ! rvmmatte ! fakesink
# Interlaced video was matted as if progressive: refused, naming what its buffers hold and
# deinterlace, whether upstream offers interlaced video alone (a caps filter) or it comes from
# a decoder; progressive and deinterlaced video run. Each mode as its buffers are: "woven
# fields" was said of fields and alternate too, whose buffers hold half-height fields apart.
woven="two fields woven together, which comb at every moving edge, and the network was not trained on that"
for mode_why in "interleaved:each frame is $woven) is not supported: put deinterlace before rvmmatte" \
    "mixed:frames flagged interlaced are $woven) is not supported: put deinterlace before rvmmatte" \
    "alternate:each buffer is one field, half the frame's lines, top and bottom in turn, not a whole picture) is not supported: put deinterlace before rvmmatte" \
    "fields:each buffer holds its two fields one after the other, each half the frame's lines, not one picture) is not supported: have the source give progressive or interleaved frames (deinterlace takes interleaved ones)"; do
    mode=${mode_why%%:*}
    refused "interlace-mode=$mode (a caps filter)" \
        "ERROR: from element .*rvmmatte.*: rvmmatte: interlaced video (interlace-mode=$mode: ${mode_why#*:}\$" \
        videotestsrc num-buffers=3 ! video/x-raw,width=160,height=120,interlace-mode=$mode ! rvmmatte ! fakesink
done
# H.264 coded as interlaced fields: its decoder gives interleaved frames.
ffmpeg -nostdin -v error -f lavfi -i testsrc=size=160x120:rate=25 -frames:v 4 -vf setfield=tff \
    -c:v libx264 -flags +ildct+ilme -x264opts tff=1 interlaced.mkv || fail "cannot make the interlaced clip"
refused "interlaced H.264 (decoded)" \
    "ERROR: from element .*rvmmatte.*: rvmmatte: interlaced video (interlace-mode=interleaved: each frame is $woven) is not supported: put deinterlace before rvmmatte\$" \
    filesrc location=interlaced.mkv ! decodebin ! videoconvert ! rvmmatte ! fakesink
if gst-inspect-1.0 --exists deinterlace; then
    launch_ok filesrc location=interlaced.mkv ! decodebin ! deinterlace ! videoconvert ! \
        rvmmatte output=alpha downsample-ratio=0.25 ! video/x-raw,format=GRAY8 ! filesink location=deint.raw
    # (deinterlace gives a frame a field by default: 8 frames.)
    n=$(wc -c <deint.raw)
    [ "$n" -ge $((4 * 160 * 120)) ] && [ $((n % (160 * 120))) -eq 0 ] ||
        fail "deinterlaced video: $n bytes of matte, not 4 or more frames of 160x120"
else
    echo "skip: the deinterlace element is missing (gstreamer1.0-plugins-good): its advice is not tried"
fi
launch_ok videotestsrc num-buffers=2 ! video/x-raw,width=160,height=120,interlace-mode=progressive ! \
    rvmmatte downsample-ratio=0.25 ! fakesink
ok "interlaced video is refused naming deinterlace; progressive and deinterlaced video run"

# The sizes left are taken: the smallest side at ratio 0.25 (4 pixels) runs.
launch_ok videotestsrc num-buffers=2 ! video/x-raw,width=4,height=4 ! rvmmatte downsample-ratio=0.25 \
    output=alpha ! video/x-raw,format=GRAY8 ! filesink location=tiny.raw
[ "$(wc -c <tiny.raw)" -eq 32 ] || fail "4x4 at ratio 0.25: $(wc -c <tiny.raw) bytes of matte"
ok "4x4 frames at downsample-ratio 0.25 run"

echo "$CHECKS checks passed"
