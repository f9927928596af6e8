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

# FFV1 of pictures 1 to 3 pixels wide or high: FFmpeg's FFV1 in 4 slices refused a side of 1
# (exit 75) and decoded sides of 2 and 3 as black; the same pixels as uncompressed video.
for wh in 1x9 9x1 2x2 3x5 17x3; do
    run_ok -i "$SAMPLE" --duration 0.1 --input-resize ${wh%x*} ${wh#*x} --output-composition tiny.mkv \
        --codec ffv1 -y
    run_ok -i "$SAMPLE" --duration 0.1 --input-resize ${wh%x*} ${wh#*x} --output-composition tiny.nut -y
    raw tiny.mkv rgb24 tiny_ffv1_$wh.raw
    raw tiny.nut rgb24 tiny_raw_$wh.raw
    cmp -s tiny_ffv1_$wh.raw tiny_raw_$wh.raw || fail "FFV1 at $wh: not the uncompressed video's pixels"
done
ok "FFV1 at 1x9, 9x1, 2x2, 3x5, 17x3: the composition's pixels"

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

# ---- single images: one photo in, one picture per output ----
# Each equals frame 0000.png of the PNG sequence of the same photo with the same flags:
# PNG byte for byte, the other lossless formats pixel for pixel once FFmpeg decodes them.
ffmpeg -nostdin -v error -ss 1 -i "$SAMPLE" -frames:v 1 -vf scale=96:72 -q:v 2 photo.jpg \
    || fail "cannot make the photo"
run_ok -i photo.jpg --output-type png_sequence --output-composition seqc --output-alpha seqa \
    --output-foreground seqf
run_ok -i photo.jpg --output-composition c.png --output-alpha a.png --output-foreground f.png
for o in c a f; do
    cmp -s $o.png seq$o/0000.png || fail "$o.png differs from the PNG sequence's 0000.png"
done
[ "$(stream_field c.png v:0 pix_fmt)" = rgba ] || fail "c.png is not a transparent RGBA PNG"
ok "photo.jpg to c.png, a.png, f.png: the PNG sequence's frames, byte for byte"
same_pixels() { # IMAGE FRAME PIX_FMT
    rm -f img.raw frame.raw
    raw "$1" "$3" img.raw
    raw "$2" "$3" frame.raw
    cmp -s img.raw frame.raw || fail "$1 differs from $2 ($3)"
}
run_ok -i photo.jpg --output-composition c.tif --output-alpha a.pgm --output-foreground f.ppm
run_ok -i photo.jpg --output-composition c.qoi --output-alpha a.bmp --output-foreground f.tga
for e in tif qoi; do same_pixels c.$e seqc/0000.png rgba; done
for e in pgm bmp; do same_pixels a.$e seqa/0000.png rgb24; done
for e in ppm tga; do same_pixels f.$e seqf/0000.png rgb24; done
ok "TIFF, QOI, PGM, BMP, PPM and TGA images: the PNG sequence's pixels"
run_ok -i photo.jpg --output-type png_sequence --output-depth 16 --output-composition seq16c \
    --output-alpha seq16a
run_ok -i photo.jpg --output-depth 16 --output-composition c16.png --output-alpha a16.tif
cmp -s c16.png seq16c/0000.png || fail "16-bit c16.png differs from the PNG sequence's"
same_pixels a16.tif seq16a/0000.png gray16le
ok "16-bit PNG and TIFF images"
# Lossy formats: close to the same pixels; a JPEG composition is over the background.
run_ok -i photo.jpg --output-type png_sequence --output-composition seqg --background 10,200,30
run_ok -i photo.jpg --output-composition c.jpg --output-alpha a.webp --output-foreground f.jpg \
    --background 10,200,30
rm -f img.raw frame.raw && raw c.jpg rgb24 img.raw && raw seqg/0000.png rgb24 frame.raw
"$PIXCMP" near8 img.raw frame.raw 2 48 || fail "c.jpg is far from the composition"
rm -f img.raw frame.raw && raw f.jpg rgb24 img.raw && raw seqf/0000.png rgb24 frame.raw
"$PIXCMP" near8 img.raw frame.raw 2 48 || fail "f.jpg is far from the foreground"
rm -f img.raw frame.raw && raw a.webp gray img.raw && raw seqa/0000.png gray frame.raw
"$PIXCMP" near8 img.raw frame.raw 2 64 || fail "a.webp is far from the matte"
[ "$(stream_field c.jpg v:0 codec_name)" = mjpeg ] || fail "c.jpg is not a JPEG"
ok "JPEG and WebP images near the PNG sequence's pixels"

# Refused in one line, leaving nothing: more than one frame, a transparent JPEG, colour in a
# grey-only format, 16 bits where the format has 8.
refused() { # WHAT CODE PATTERN
    [ $RC -eq $2 ] || fail "$1: exit $RC, want $2 ($(cat err.txt))"
    [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: .*$3" err.txt || fail "$1: message '$(cat err.txt)'"
    [ -z "$(ls -A | grep -e '^x\.' -e '^\.x\.')" ] || fail "$1: left $(ls -A | grep x\.)"
    ok "$1: $(cat err.txt)"
}
run $in --output-alpha x.png
refused "a video to an image" 2 "single image and .* has more than one frame.*png_sequence"
run -i pha8 --output-alpha x.png
refused "an image folder to an image" 2 "single image and pha8 has more than one frame"
run -i photo.jpg --background none --output-composition x.jpg
refused "a transparent JPEG" 2 "cannot be transparent"
run -i photo.jpg --output-foreground x.pgm
refused "colour in a .pgm" 2 "grey only"
run -i photo.jpg --output-depth 16 --output-alpha x.jpg
refused "16-bit JPEG" 2 "output-depth 16 applies to"
# One frame of a video, picked by time.
run_ok $in --start 0.2 --duration 0.001 --output-alpha one.png
[ "$(stream_field one.png v:0 width)" = 96 ] || fail "one frame of a video: no 96-pixel-wide PNG"
# Safe like every output: an existing image needs -y, an input is never written over.
cp a.png keep.png
run -i photo.jpg --output-alpha keep.png --output-foreground x.png
refused "an existing image without -y" 2 "exists (use -y"
run -i keep.png --output-alpha keep.png -y
refused "the input as the output" 2 "is the input"
cmp -s keep.png a.png || fail "keep.png was changed"
run_ok -i photo.jpg --output-alpha keep.png -y --background 10,200,30
cmp -s keep.png a.png || fail "-y did not write the same matte again"
ok "one frame of a video by --start/--duration; an existing image needs -y; the input is kept"
done_all
