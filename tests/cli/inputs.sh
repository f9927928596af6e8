# Inputs: stdin, rotation metadata, the colour matrix and range, image folders of grey, RGBA
# and 16-bit PNGs, pictures with transparency, odd and tiny sizes, GIF, and the other codecs. The reader is checked
# directly (readdump prints what the network would get) against FFmpeg's own decoding.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# Reference frames: 9 frames of the sample at 96x72, as PNGs and raw RGB.
mkdir ref
ffmpeg -nostdin -v error -i "$SAMPLE" -t 0.3 -vf scale=96:72 -start_number 0 ref/%04d.png
ffmpeg -nostdin -v error -i ref/%04d.png -f rawvideo -pix_fmt rgb24 ref.rgb

# Colour matrix and range: the same pictures stored as BT.601 limited range and as BT.709
# full range (lossless), tagged as such, read back to the same RGB (within rounding).
ffmpeg -nostdin -v error -i ref/%04d.png \
    -vf "scale=out_color_matrix=bt601:out_range=tv,format=yuv444p" -color_range tv \
    -colorspace smpte170m -c:v libx264 -qp 0 lim601.mkv
ffmpeg -nostdin -v error -i ref/%04d.png \
    -vf "scale=out_color_matrix=bt709:out_range=pc,format=yuv444p" -color_range pc \
    -colorspace bt709 -c:v libx264 -qp 0 full709.mkv
for f in lim601 full709; do
    [ "$("$READDUMP" $f.mkv d.rgb)" = "96x72 9" ] || fail "$f.mkv: wrong size or frame count"
    "$PIXCMP" gray ref.rgb d.rgb 2 || fail "$f.mkv: colours differ from the pictures"
done
ok "BT.601 limited and BT.709 full range read to the same RGB"

# Grey: limited-range grey (what HEVC and AV1 4:0:0 decode to, tagged tv) reads as the same
# pictures in full-range grey do (swscale takes grey as full range whatever the tag: black
# was read as 16, white as 235, 16 steps off), within the rounding of 219 levels.
ffmpeg -nostdin -v error -i ref/%04d.png -vf format=gray -c:v ffv1 greyfull.mkv
ffmpeg -nostdin -v error -i ref/%04d.png -vf "scale=out_range=tv,format=gray" -color_range tv \
    -c:v ffv1 greylim.mkv
"$READDUMP" greyfull.mkv g_full.rgb >/dev/null || fail "greyfull.mkv: not read"
[ "$("$READDUMP" greylim.mkv g_lim.rgb)" = "96x72 9" ] || fail "greylim.mkv: wrong size or frame count"
"$PIXCMP" gray g_full.rgb g_lim.rgb 1 || fail "limited-range grey does not read as full-range grey"
ok "limited-range grey read to full range"

# 8-bit 4:2:0 video at its own size, which the reader converts itself: the RGB of FFmpeg's
# accurate bicubic conversion within a fraction of a step on average (the reader upsamples
# chroma bilinearly: they differ at sharp colour edges only), for the sample (full-range
# BT.601, untagged matrix) and a limited-range BT.709 copy of it.
ffmpeg -nostdin -v error -i "$SAMPLE" -t 1 \
    -vf "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" -color_range tv \
    -colorspace bt709 -c:v libx264 -qp 0 lim709.mp4
for c in "$SAMPLE:bt601:pc" "lim709.mp4:bt709:tv"; do
    f=${c%%:*} m=${c#*:}
    [ "$("$READDUMP" "$f" d.rgb)" = "640x480 $([ "$f" = lim709.mp4 ] && echo 30 || echo 77)" ] \
        || fail "$f: wrong size or frame count"
    ffmpeg -nostdin -v error -y -i "$f" -vsync passthrough \
        -vf "scale=in_color_matrix=${m%:*}:in_range=${m#*:}:out_range=pc:flags=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp,format=rgb24" \
        -f rawvideo want.rgb
    "$PIXCMP" near8 want.rgb d.rgb 0.25 16 || fail "$f: 4:2:0 colours differ from FFmpeg's"
done
ok "4:2:0 video (BT.601 full range, BT.709 limited) read as FFmpeg converts it"

# Untagged YUV is read as players read it (mpv): HD as BT.709 (1280 pixels wide or more, or
# more than 576 lines: 1280x720, a 1280x544 scope crop, 1024x600), SD as BT.601 (1024x576),
# where FFmpeg's own conversion and PyAV's (the official converter's reader) take BT.601 at
# every size. A Y4M that ffmpeg made from a video in that matrix (Y4M cannot say it) is
# checked against FFmpeg told the matrix: 0.09 steps off on average at 720p; read in the other
# one 1.38 (this clip's colours are pale). The 1280x544 crop was read as BT.601 (the rule was
# 720 lines and up).
for c in 1280x720:bt709 1280x544:bt709 1024x600:bt709 1024x576:bt601; do
    size=${c%:*} m=${c#*:}
    other=$([ $m = bt709 ] && echo bt601 || echo bt709)
    ffmpeg -nostdin -v error -y -i "$SAMPLE" -t 0.1 \
        -vf "scale=${size%x*}:${size#*x}:out_color_matrix=$m:out_range=tv,format=yuv420p" \
        -f yuv4mpegpipe untagged.y4m
    [ "$("$READDUMP" untagged.y4m d.rgb)" = "$size 3" ] || fail "untagged $size Y4M: wrong size or frame count"
    for k in $m $other; do
        ffmpeg -nostdin -v error -y -i untagged.y4m \
            -vf "scale=in_color_matrix=$k:in_range=tv:out_range=pc:flags=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp,format=rgb24" \
            -f rawvideo want_$k.rgb
    done
    "$PIXCMP" near8 want_$m.rgb d.rgb 0.25 16 || fail "untagged $size Y4M: not read as $m"
    "$PIXCMP" near8 want_$other.rgb d.rgb 0.25 16 >/dev/null && fail "untagged $size Y4M: as near $other"
    ok "untagged $size Y4M read as $m, as players read it"
done
rm -f untagged.y4m want_bt709.rgb want_bt601.rgb

# The command hands such video to the network as the decoder's 4:2:0 pictures (the library
# reads the planes, its matrix and range from the stream): its outputs match those of the same
# pictures as the reader's RGB (in a lossless RGB file), up to the chroma upsampling (the
# library repeats each sample over its 2x2 pixels, the reader interpolates) and rounding: a
# mean foreground difference of 0.0043-0.0046 (0..1) on these clips, where a wrong matrix gave
# 0.0086 and a wrong range 0.021. Identical outputs would mean RGB was used after all.
for c in "$SAMPLE:30" "lim709.mp4:30"; do
    f=${c%%:*}
    "$READDUMP" "$f" d.rgb >/dev/null || fail "$f: not read"
    ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt rgb24 -s 640x480 -r ${c#*:} -i d.rgb \
        -c:v ffv1 twin.mkv
    for src in "$f" twin.mkv; do
        rm -rf o
        run_ok --input-source "$src" --duration 1 --output-type png_sequence --output-depth 16 \
            --output-alpha o/pha --output-foreground o/fgr
        n=$(basename "$src")
        ffmpeg -nostdin -v error -y -i o/pha/%04d.png -f rawvideo -pix_fmt gray16le "$n.pha"
        ffmpeg -nostdin -v error -y -i o/fgr/%04d.png -f rawvideo -pix_fmt rgb48le "$n.fgr"
    done
    n=$(basename "$f")
    "$PIXCMP" similar "$n.pha" twin.mkv.pha 0.0003 || fail "$f: alpha differs from RGB input's"
    "$PIXCMP" similar "$n.fgr" twin.mkv.fgr 0.006 || fail "$f: foreground differs from RGB's"
    "$PIXCMP" similar "$n.fgr" twin.mkv.fgr 0 >/dev/null && fail "$f: not read as 4:2:0"
done
ok "4:2:0 video through the network as 4:2:0: the same outputs as from its RGB"

# Rotation metadata is applied like FFmpeg's autorotation does.
ffmpeg -nostdin -v error -i ref/%04d.png -c:v libx264 -pix_fmt yuv444p -qp 0 base.mp4
for a in 90 180 270; do
    ffmpeg -nostdin -v error -i base.mp4 -c copy -metadata:s:v:0 rotate=$a rot$a.mp4
    ffmpeg -nostdin -v error -y -i rot$a.mp4 -f rawvideo -pix_fmt rgb24 want.rgb
    [ $a = 180 ] && want_size=96x72 || want_size=72x96
    [ "$("$READDUMP" rot$a.mp4 d.rgb)" = "$want_size 9" ] || fail "rotation $a: wrong size"
    "$PIXCMP" gray want.rgb d.rgb 2 || fail "rotation $a: pictures differ from FFmpeg's"
done
run_ok --input-source rot90.mp4 --output-alpha rot.mkv
[ "$(stream_field rot.mkv v:0 width)x$(stream_field rot.mkv v:0 height)" = 72x96 ] \
    || fail "rotated output size"
ok "rotation 90/180/270 applied (output 72x96 for 90)"

# stdin.
cat "$SAMPLE" | "$RVM" --disable-progress --input-source - --input-resize 96 72 \
    --output-alpha stdin.mkv 2>err.txt || fail "stdin: $(cat err.txt)"
same_timing "$SAMPLE" stdin.mkv
ok "stdin input, 77 frames at the input's times"

# Image folders: grey, grey+alpha, RGBA and 16-bit PNGs all read as RGB.
for fmt in gray ya8 rgba rgb48be gray16be rgba64be; do
    mkdir f_$fmt
    ffmpeg -nostdin -v error -i ref/%04d.png -frames:v 3 -pix_fmt $fmt f_$fmt/%04d.png
    rm -rf out_$fmt
    run_ok --input-source f_$fmt --output-type png_sequence --output-alpha out_$fmt
    [ "$(ls out_$fmt | wc -l)" -eq 3 ] || fail "$fmt PNGs: $(ls out_$fmt | wc -l) outputs"
done
"$READDUMP" f_rgb48be d.rgb >/dev/null && head -c $((96 * 72 * 3 * 3)) ref.rgb >ref3.rgb &&
    "$PIXCMP" gray ref3.rgb d.rgb 0 || fail "16-bit PNGs do not read as their 8-bit values"
ok "grey, grey+alpha, RGBA and 16-bit PNG folders"

# Damaged images in a folder are skipped as a video's damaged frames are (media_timing.sh):
# a warning naming each, the rest converted at their own times (frame i at i/30 s), one line
# counting them, exit 0. An empty file and one cut in its data stopped the whole run with
# "dmg/0001.png: no picture in the file" (exit 3) before. A folder of nothing but damaged
# images is a bad input (exit 3), as a video none of whose frames decode.
mkdir dmg
cp ref/0000.png ref/0001.png ref/0002.png ref/0003.png ref/0004.png dmg/
: >dmg/0001.png
head -c 100 ref/0003.png >dmg/0003.png
run_ok --input-source dmg --output-alpha dmg_pha.mkv
[ "$(pts_list dmg_pha.mkv | tr '\n' ' ')" = "0.000000 0.067000 0.133000 " ] ||
    fail "damaged images: frames at $(pts_list dmg_pha.mkv | tr '\n' ' ') (0, 2/30, 4/30 wanted)"
grep -q "^rvm: warning: dmg/0001.png: .*skipped" err.txt &&
    grep -q "^rvm: warning: dmg/0003.png: .*skipped" err.txt &&
    grep -q "^rvm: warning: 2 damaged images were skipped$" err.txt || fail "damaged images: $(cat err.txt)"
: >dmg/0000.png
run_ok --input-source dmg --output-alpha dmg_first_pha.mkv
[ "$(pts_list dmg_first_pha.mkv | wc -l)" -eq 2 ] && grep -q "^rvm: warning: 3 damaged images were skipped$" err.txt ||
    fail "a damaged first image: $(pts_list dmg_first_pha.mkv | wc -l) frames, $(cat err.txt)"
: >dmg/0002.png && : >dmg/0004.png
run --input-source dmg --output-alpha dmg_none_pha.mkv
[ $RC -eq 3 ] && grep -q "^rvm: no image of dmg could be read (5 damaged)$" err.txt ||
    fail "a folder of damaged images: exit $RC, $(cat err.txt)"
ok "damaged images in a folder: skipped with a warning each and a count, the rest at their times"

# A picture with transparency (a cut-out: the left half see-through): its alpha is ignored, as
# the official reader's PIL convert('RGB') does, so its matte is the opaque picture's of the
# same colours, and one warning line says so (the alpha was ignored without a word); WebP
# and TIFF too. An RGBA picture with every pixel opaque says nothing.
ffmpeg -nostdin -v error -i ref/0000.png -pix_fmt rgba opaque.png || fail "cannot make opaque.png"
for ext in png webp tif; do
    ffmpeg -nostdin -v error -i ref/0000.png \
        -f lavfi -i "nullsrc=s=96x72,format=gray,geq=lum='if(lt(X\,48)\,0\,255)'" \
        -filter_complex "[0]format=rgba[c];[c][1]alphamerge" -frames:v 1 \
        $(case $ext in webp) echo "-c:v libwebp -lossless 1" ;; esac) cut.$ext ||
        fail "cannot make cut.$ext"
done
for f in opaque.png cut.png cut.webp cut.tif; do
    run_ok --input-source $f --output-alpha "pha_$f.png" --output-composition "com_$f.png"
    n=$(grep -c "^rvm: warning: the input has transparency: its alpha channel is ignored" err.txt)
    case $f in opaque.png) want=0 ;; *) want=1 ;; esac
    [ "$n" -eq "$want" ] && [ "$(wc -l <err.txt)" -eq "$want" ] || fail "$f: $n transparency warnings, want $want: $(cat err.txt)"
done
for k in pha com; do
    cmp -s "${k}_opaque.png.png" "${k}_cut.png.png" || fail "cut.png: its $k differs from the opaque picture's"
done
ok "an input picture with transparency (PNG, WebP, TIFF): alpha ignored, the opaque picture's matte, one warning"

# Odd and tiny sizes; GIF; every codec.
for size in "97 71" "1 1"; do
    run_ok --input-source "$SAMPLE" --input-resize $size --duration 0.2 --output-composition odd.mp4 -y
    playable odd.mp4
done
ok "odd (97x71) and 1x1 frames"
# 8-bit 4:2:0 at an odd height, as the official reader reads it: PyAV's to_ndarray, swscale
# with its default flags (bilinear, nothing else), which interpolates chroma between rows
# there (at an even height swscale repeats it over 2x2 pixels, as the library reads it). The
# reader gave its own bilinear, centred conversion: up to 24 steps off on these frames.
for size in 161x121 164x121 96x73; do
    ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 3 -an -vf scale=${size%x*}:${size#*x} \
        -c:v ffv1 -pix_fmt yuv420p odd_$size.mkv
    ffmpeg -nostdin -v error -i odd_$size.mkv -sws_flags bilinear -f rawvideo -pix_fmt rgb24 \
        odd_$size.rgb
    [ "$("$READDUMP" odd_$size.mkv d.rgb)" = "$size 3" ] || fail "odd_$size.mkv: not 3 frames of $size"
    "$PIXCMP" gray odd_$size.rgb d.rgb 0 || fail "$size 4:2:0: not the official reader's RGB"
done
ok "4:2:0 at odd heights (161x121, 164x121, 96x73) read exactly as the official reader's swscale"
if [ -d "$FOOTAGE" ]; then
    run_ok --input-source "$FOOTAGE/preview_head-pose-face-detection-female.gif" \
        --duration 0.5 --output-alpha gif.mkv
    ok "GIF input"
fi
for c in h264:mp4 hevc:mp4 hevc:mkv vp9:webm prores:mov ffv1:mkv ffv1:avi; do
    codec=${c%%:*} ext=${c##*:}
    run_ok --input-source "$SAMPLE" --input-resize 96 72 --duration 0.2 --codec $codec \
        --output-foreground fgr_$codec.$ext --crf 30
    playable fgr_$codec.$ext
    [ "$(pts_list fgr_$codec.$ext | wc -l)" -eq 6 ] || fail "$codec.$ext: not 6 frames"
done
ok "h264, hevc, vp9, prores, ffv1 outputs"

# A file named with a colon before any slash is a file, not a URL of protocol "take" (FFmpeg
# said "Protocol not found"), as an input and as a background, and its name is still refused
# as an output.
cp "$SAMPLE" take:2.mkv
run_ok --input-source take:2.mkv --duration 0.2 --output-alpha take:2_pha.mp4
# (./ for ffprobe, which takes "take" for a protocol too)
[ "$(pts_list ./take:2_pha.mp4 | wc -l)" -eq 6 ] || fail "take:2.mkv: not 6 frames"
run --input-source take:2.mkv --duration 0.2 --output-alpha take:2.mkv -y
[ $RC -ne 0 ] && grep -q "refusing to write over it" err.txt || fail "wrote over take:2.mkv: $(cat err.txt)"
cmp -s "$SAMPLE" take:2.mkv || fail "take:2.mkv changed"
run_ok --input-source "$SAMPLE" --duration 0.2 --background take:2.mkv --output-composition bg.mp4
ok "an input (and a background) named take:2.mkv is read as a file"
# An image folder so named: its images were "no picture in the file" (take:3/001.png a URL).
mkdir take:3
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 3 ./take:3/%03d.png || fail "cannot make take:3/"
run_ok --input-source take:3 --output-alpha take3_pha.mp4
[ "$(pts_list take3_pha.mp4 | wc -l)" -eq 3 ] || fail "take:3/: not 3 frames"
ok "an image folder named take:3 is read"

# -v shows FFmpeg's own messages: none should be a warning about our own set-up (the decoder's
# picture gate made FFmpeg warn of frame threading, which the reader never asks for).
run_ok -v --input-source "$SAMPLE" --duration 0.2 --output-alpha v.mp4
! grep -q "frame threading" err.txt || fail "-v: FFmpeg warns: $(grep "frame threading" err.txt)"
ok "-v: no FFmpeg warning about the reader's decoder set-up"
done_all
