# The composition is fgr*a + bg*(1-a) (colour, image or looped video background), PNG
# compositions are RGBA with the colour zeroed where alpha is 0, and 8-bit outputs round to
# nearest. Checked on the decoded PNG/FFV1 outputs against the 16-bit alpha and foreground.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# The shipped sample is enough here: 12 frames at 96x72.
in="--input-source $SAMPLE --input-resize 96 72 --duration 0.4"
raw() { # FOLDER|FILE PIX_FMT OUT
    case "$1" in
    *.*) ffmpeg -nostdin -v error -i "$1" -f rawvideo -pix_fmt "$2" "$3" ;;
    *) ffmpeg -nostdin -v error -i "$1/%04d.png" -f rawvideo -pix_fmt "$2" "$3" ;;
    esac || fail "cannot decode $1"
}

run_ok $in --output-type png_sequence --output-depth 16 --output-alpha pha16 \
    --output-foreground fgr16 --output-composition rgba16
[ "$(ls pha16 | wc -l)" -eq 12 ] || fail "12 frames expected, got $(ls pha16 | wc -l)"
[ "$(stream_field pha16/0000.png v:0 pix_fmt)" = gray16be ] || fail "16-bit alpha PNG"
[ "$(stream_field fgr16/0000.png v:0 pix_fmt)" = rgb48be ] || fail "16-bit foreground PNG"
[ "$(stream_field rgba16/0000.png v:0 pix_fmt)" = rgba64be ] || fail "16-bit RGBA PNG"
raw pha16 gray16le pha.raw
raw fgr16 rgb48le fgr.raw
raw rgba16 rgba64le rgba.raw
"$PIXCMP" rgba rgba.raw fgr.raw pha.raw || fail "PNG RGBA composition"
ok "PNG composition: RGBA, colour zeroed where alpha is 0"

run_ok $in --output-type png_sequence --output-depth 16 --output-composition over16 \
    --background 10,200,30
[ "$(stream_field over16/0000.png v:0 pix_fmt)" = rgb48be ] || fail "16-bit composition PNG"
raw over16 rgb48le over16.raw
"$PIXCMP" over over16.raw fgr.raw pha.raw 10 200 30 16 || fail "16-bit composition"
ok "16-bit PNG composition = fgr*a + bg*(1-a)"

# Video composition in lossless FFV1 (8-bit RGB), the default green background.
run_ok $in --output-composition over8.mkv --codec ffv1
raw over8.mkv rgb24 over8.raw
"$PIXCMP" over over8.raw fgr.raw pha.raw 120 255 155 8 || fail "8-bit video composition"
ok "8-bit video composition = fgr*a + bg*(1-a) over 120,255,155, rounded"

# An image background of the frame's size (the cover scaling is then the identity).
ffmpeg -nostdin -v error -i "$SAMPLE" -ss 2 -frames:v 1 -vf "hflip,scale=96:72" bg.png
raw bg.png rgb24 bg.raw
run_ok $in --output-composition img8.mkv --codec ffv1 --background bg.png
raw img8.mkv rgb24 img8.raw
"$PIXCMP" overbg img8.raw fgr.raw pha.raw bg.raw 8 || fail "composition over an image"
ok "composition over an image"

# A video background of another shape, shorter than the input: scaled to cover, looped.
ffmpeg -nostdin -v error -f lavfi -i "color=c=red:s=100x50:r=30:d=0.1" -f lavfi \
    -i "color=c=0x2040C0:s=100x50:r=30:d=0.1" -filter_complex "[0][1]concat=n=2" \
    -c:v ffv1 -pix_fmt bgr0 bgv.mkv || fail "cannot make the background video"
ffmpeg -nostdin -v error -stream_loop -1 -i bgv.mkv -frames:v 12 -vf scale=96:72 \
    -f rawvideo -pix_fmt rgb24 bgv.raw
run_ok $in --output-composition vid8.mkv --codec ffv1 --background bgv.mkv
raw vid8.mkv rgb24 vid8.raw
"$PIXCMP" overbg vid8.raw fgr.raw pha.raw bgv.raw 8 || fail "composition over a looped video"
ok "composition over a video background, looped"

# 8-bit outputs beside a composition over a colour (the 16-bit results are rounded to 8
# bits) match the 16-bit ones, and the composition is still rounded once.
run_ok $in --output-type png_sequence --output-alpha pha8c --output-composition over8c \
    --background 10,200,30
raw pha8c gray pha8c.raw
raw over8c rgb24 over8c.raw
"$PIXCMP" round8 pha8c.raw pha.raw || fail "8-bit alpha beside a composition"
"$PIXCMP" over over8c.raw fgr.raw pha.raw 10 200 30 8 || fail "8-bit PNG composition"
ok "8-bit PNG alpha and composition together"

# 8-bit PNGs round to nearest (the network's own 8-bit results).
run_ok $in --output-type png_sequence --output-alpha pha8 --output-foreground fgr8
[ "$(stream_field pha8/0000.png v:0 pix_fmt)" = gray ] || fail "8-bit alpha PNG"
raw pha8 gray pha8.raw
raw fgr8 rgb24 fgr8.raw
"$PIXCMP" round8 pha8.raw pha.raw || fail "8-bit alpha is not rounded to nearest"
"$PIXCMP" round8 fgr8.raw fgr.raw || fail "8-bit foreground is not rounded to nearest"
ok "8-bit outputs round to nearest"
done_all
