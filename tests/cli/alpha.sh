# Transparent compositions (--background none) carry alpha: ProRes 4444 in .mov
# (yuva444p10le), VP9 in .webm (alpha_mode), FFV1 in .mkv (bgra); their alpha is the matte.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# The shipped sample is enough here.
common="--input-source $SAMPLE --input-resize 160 120 --duration 0.4 --background none"
run_ok $common --output-composition com.mov --codec prores
[ "$(stream_field com.mov v:0 codec_name)" = prores ] || fail "com.mov is not ProRes"
# Written as yuva444p10le; FFmpeg's ProRes decoder reports 4444 as 12-bit.
case "$(stream_field com.mov v:0 pix_fmt)" in
yuva444p10le | yuva444p12le) ;;
*) fail "com.mov pix_fmt is $(stream_field com.mov v:0 pix_fmt)" ;;
esac
ok "ProRes 4444 with alpha ($(stream_field com.mov v:0 pix_fmt))"

run_ok $common --output-composition com.webm
[ "$(stream_field com.webm v:0 codec_name)" = vp9 ] || fail "com.webm is not VP9"
[ "$(ffprobe -v error -select_streams v:0 -show_entries stream_tags=alpha_mode -of csv=p=0 com.webm)" = 1 ] \
    || fail "com.webm has no alpha_mode tag"
ok "VP9 with alpha (alpha_mode 1)"

run_ok $common --output-composition com.mkv --codec ffv1 --output-alpha pha.mkv
[ "$(stream_field com.mkv v:0 pix_fmt)" = bgra ] || fail "com.mkv pix_fmt is not bgra"
ok "FFV1 with alpha (bgra)"

# The alpha channel of each is the matte: exact for FFV1 (lossless), within the 2 steps
# that the 8 -> 10 -> 12 -> 8-bit conversions around ProRes cost, and present (not all
# opaque) for VP9.
ffmpeg -nostdin -v error -i pha.mkv -f rawvideo -pix_fmt gray matte.raw || fail "ffmpeg cannot decode pha.mkv"
ffmpeg -nostdin -v error -i com.mkv -vf alphaextract -f rawvideo -pix_fmt gray a_ffv1.raw ||
    fail "ffmpeg cannot extract the alpha of com.mkv"
"$PIXCMP" gray matte.raw a_ffv1.raw || fail "FFV1 alpha is not the matte"
ok "FFV1 alpha equals the alpha output"
ffmpeg -nostdin -v error -i com.mov -vf alphaextract -f rawvideo -pix_fmt gray a_prores.raw ||
    fail "ffmpeg cannot extract the alpha of com.mov"
"$PIXCMP" gray matte.raw a_prores.raw 2 || fail "ProRes alpha differs from the matte by more than 2"
ok "ProRes alpha equals the matte within 2 steps"
ffmpeg -nostdin -v error -c:v libvpx-vp9 -i com.webm -vf alphaextract -frames:v 1 -f rawvideo \
    -pix_fmt gray a_vp9.raw || fail "ffmpeg cannot extract the alpha of com.webm"
od -An -tu1 -v a_vp9.raw | awk '{ for (i = 1; i <= NF; i++) { if ($i < 16) lo++; if ($i > 240) hi++ } } END { exit !(lo > 100 && hi > 100) }' \
    || fail "VP9 alpha has no transparent and opaque areas"
ok "VP9 alpha decodes with transparent and opaque areas"

# Codecs without alpha are refused for a transparent composition.
run $common --output-composition com.mp4
[ $RC -ne 0 ] && [ ! -e com.mp4 ] || fail "h264 accepted a transparent composition"
ok "h264 refused for transparency"

# VP9's alpha is Matroska side data: in .mp4, .avi or .nut only the colour picture was
# written and the transparency was lost without a word; refused (exit 2) with what holds it.
for ext in mp4 avi nut; do
    run $common --codec vp9 --output-composition com_vp9.$ext
    [ $RC -eq 2 ] && [ ! -e com_vp9.$ext ] || fail "vp9 transparency in .$ext: exit $RC, $(cat err.txt)"
    grep -q "webm" err.txt || fail "vp9 in .$ext: the refusal names no container: $(cat err.txt)"
done
ok "VP9 transparency refused outside .webm/.mkv"

# Uncompressed video in Matroska: packed RGB has no FourCC there (the header failed, exit
# 75), so the composition over a background and the foreground are stored as opaque RGBA,
# with the same pixels as the NUT file's RGB.
c2="--input-source $SAMPLE --input-resize 160 120 --duration 0.2 --codec rawvideo"
run_ok $c2 --output-composition rc.mkv --output-foreground rf.mkv --output-alpha ra.mkv
run_ok $c2 --output-composition rc.nut --output-foreground rf.nut
for o in rc rf; do
    [ "$(stream_field $o.mkv v:0 pix_fmt)" = rgba ] || fail "$o.mkv is $(stream_field $o.mkv v:0 pix_fmt)"
    ffmpeg -nostdin -v error -i $o.mkv -f rawvideo -pix_fmt rgb24 $o.mkv.rgb &&
        ffmpeg -nostdin -v error -i $o.nut -f rawvideo -pix_fmt rgb24 $o.nut.rgb || fail "cannot decode $o"
    [ -s $o.nut.rgb ] && cmp -s $o.mkv.rgb $o.nut.rgb || fail "$o.mkv differs from $o.nut"
    ffmpeg -nostdin -v error -i $o.mkv -vf alphaextract -f rawvideo -pix_fmt gray $o.a &&
        [ "$(od -An -tu1 -v $o.a | tr -s ' ' '\n' | sed '/^$/d' | sort -u)" = 255 ] ||
        fail "$o.mkv is not opaque"
done
[ "$(stream_field ra.mkv v:0 pix_fmt)" = gray ] || fail "ra.mkv is $(stream_field ra.mkv v:0 pix_fmt)"
ok "rawvideo in .mkv: RGB outputs as opaque RGBA, the same pixels as in .nut"
# Uncompressed RGB in AVI is a DIB, blue first: rgb24 there read back with red and blue
# swapped. The composition and foreground are bgr24 there (the same pixels as the NUT
# file's); rgb24 asked for by name is refused.
run_ok $c2 --output-composition rc.avi --output-foreground rf.avi
for o in rc rf; do
    [ "$(stream_field $o.avi v:0 pix_fmt)" = bgr24 ] || fail "$o.avi is $(stream_field $o.avi v:0 pix_fmt)"
    ffmpeg -nostdin -v error -i $o.avi -f rawvideo -pix_fmt rgb24 $o.avi.rgb || fail "cannot decode $o.avi"
    [ -s $o.avi.rgb ] && cmp -s $o.avi.rgb $o.nut.rgb || fail "$o.avi differs from $o.nut"
done
run $c2 --output-composition rgb.avi -f avi:rgb24
[ $RC -eq 2 ] && grep -q "red and blue swapped; use -f avi:bgr24" err.txt && [ ! -e rgb.avi ] ||
    fail "rgb24 in .avi: exit $RC, $(cat err.txt)"
ok "rawvideo in .avi: RGB as bgr24, the same pixels as in .nut; rgb24 by name refused"
# Uncompressed frames in MOV, AVI and Matroska: only the pixel formats that read back as
# themselves are written; the rest are refused up front (exit 2) with the list and a
# container that holds the format asked for (Matroska's refusal quoted FFmpeg's cut-short
# line about RGB for YUV and grey formats too, and suggested .mkv for a .mkv file). Every
# listed one is written here and read back, so a new FFmpeg that tags one differently fails
# here; so is the container suggested.
for ext in mov avi mkv; do
    mux=$ext
    [ $ext = mkv ] && mux=matroska
    run $c2 --output-composition bad.$ext -f $mux:yuv444p10le
    [ $RC -eq 2 ] && [ ! -e bad.$ext ] && [ "$(wc -l <err.txt)" -eq 1 ] ||
        fail "yuv444p10le in .$ext: exit $RC, $(cat err.txt)"
    ! grep -q "RGB is not supported\|use .nut or .mkv" err.txt ||
        fail "yuv444p10le in .$ext: FFmpeg's RGB line or .mkv suggested: $(cat err.txt)"
    list=$(sed -n 's/.* only in \(.*\); not yuv444p10le.*/\1/p' err.txt | tr -d ,)
    [ -n "$list" ] || fail "yuv444p10le in .$ext: no list of formats: $(cat err.txt)"
    home=$(sed -n 's/.*: use \.\([a-z0-9]*\) (-f \([a-z0-9]*\):yuv444p10le).*/\1 \2/p' err.txt)
    [ "$home" = "nut nut" ] || fail "yuv444p10le in .$ext: suggested '$home': $(cat err.txt)"
    for p in $list; do
        run_ok $c2 --threads 1 --output-composition ok_$p.$ext -f $mux:$p
        got=$(stream_field ok_$p.$ext v:0 pix_fmt)
        # MOV's 8-bit gray reads back as pal8 with a gray palette (the pixels: below);
        # Matroska's yuvj formats as yuv with the full range tagged.
        case $ext:$p:$got in
        *:$p:$p | mov:gray:pal8) ;;
        mkv:yuvj420p:yuv420p | mkv:yuvj422p:yuv422p)
            [ "$(stream_field ok_$p.$ext v:0 color_range)" = pc ] || fail "$ext:$p is not full range" ;;
        *) fail "$ext:$p reads back as '$got'" ;;
        esac
    done
done
# yuvj formats are full range: their samples were limited range (tagged so in .mkv, untagged
# bare frames read back with their levels squeezed: 8.3 steps off on average). Untagged and
# 120 lines: BT.601, FFmpeg's default matrix; against the same run's RGB (the mean: 0.99).
"$RVM" $c2 --threads 1 --output-composition - -f rawvideo:yuvj420p >full.yuv 2>err.txt ||
    fail "rawvideo:yuvj420p: $(cat err.txt)"
run_ok $c2 --threads 1 --output-composition full_ref.rgb
ffmpeg -nostdin -v error -f rawvideo -pix_fmt yuvj420p -s 160x120 -i full.yuv \
    -vf scale=in_range=pc,format=rgb24 -f rawvideo full.rgb || fail "cannot decode the yuvj420p frames"
"$PIXCMP" near8 full.rgb full_ref.rgb 1.5 64 >/dev/null ||
    fail "rawvideo:yuvj420p read as full range is not the picture: $("$PIXCMP" near8 full.rgb full_ref.rgb 1.5 64)"
run_ok $c2 --threads 1 --output-composition home.nut -f nut:yuv444p10le
[ "$(stream_field home.nut v:0 pix_fmt)" = yuv444p10le ] || fail "nut:yuv444p10le reads back as another"
# Grey past 8 bits, refused by Matroska: NUT holds it too.
run $c2 --output-alpha bad16.mkv -f matroska:gray16le
[ $RC -eq 2 ] && grep -q "not gray16le: use .nut (-f nut:gray16le)" err.txt ||
    fail "gray16le in .mkv: exit $RC, $(cat err.txt)"
for p in yuv420p nv12 gray16le; do
    run $c2 --output-composition bad.mov -f mov:$p
    [ $RC -eq 2 ] && [ ! -e bad.mov ] || fail "$p in .mov: exit $RC, $(cat err.txt)"
done
ffmpeg -nostdin -v error -i ok_bgra.mov -f rawvideo -pix_fmt rgb24 ok_bgra.rgb &&
    ffmpeg -nostdin -v error -i ok_rgba.avi -f rawvideo -pix_fmt rgb24 ok_rgba.rgb ||
    fail "cannot decode the .mov/.avi files"
[ -s ok_bgra.rgb ] && cmp -s ok_bgra.rgb rc.nut.rgb || fail "mov:bgra differs from the .nut file"
[ -s ok_rgba.rgb ] && cmp -s ok_rgba.rgb rc.nut.rgb || fail "avi:rgba differs from the .nut file"
run_ok $c2 --output-alpha ra.mov
# As rgb24: swscale's pal8 to gray rounds some values by one; the palette's colours are exact.
ffmpeg -nostdin -v error -i ra.mov -f rawvideo -pix_fmt rgb24 ra.mov.g &&
    ffmpeg -nostdin -v error -i ra.mkv -f rawvideo -pix_fmt rgb24 ra.mkv.g || fail "cannot decode ra"
[ -s ra.mov.g ] && cmp -s ra.mov.g ra.mkv.g || fail "the matte in .mov differs from the .mkv one"
ok "rawvideo in .mov/.avi/.mkv: every listed format reads back as itself, others refused naming one that holds them"
# NUT writes every format, but FFmpeg reads 34 of them back as another (the yuvj ones as yuv,
# their range lost; the others as rgb555le): refused up front (exit 2, nothing written), naming
# a container that holds the format when there is one. Each is written by FFmpeg and read back
# here, so a new FFmpeg that reads one back as itself fails here.
nut_bad="yuvj420p yuvj422p yuvj444p yuvj440p yuvj411p ya16be ya16le yuv440p10le yuv440p10be
    yuv440p12le yuv440p12be ayuv64le p010le p010be p016le p016be gbrpf32be gbrpf32le gbrapf32be
    gbrapf32le grayf32be grayf32le nv24 nv42 x2rgb10le x2bgr10le p210be p210le p410be p410le
    p216be p216le p416be p416le"
n=0
for p in $nut_bad; do
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=64x48:d=0.04 -frames:v 1 -pix_fmt $p \
        -c:v rawvideo -y ff_$p.nut || fail "ffmpeg cannot write $p into .nut"
    got=$(stream_field ff_$p.nut v:0 pix_fmt)
    [ "$got" != $p ] || fail "FFmpeg now reads nut:$p back as itself: allow it"
    run $c2 --output-alpha "bad ü.nut" -f nut:$p
    [ $RC -eq 2 ] && [ ! -e "bad ü.nut" ] && [ "$(wc -l <err.txt)" -eq 1 ] &&
        grep -q "^rvm: bad ü.nut: a .nut file holds $p frames under a tag FFmpeg reads back as another" err.txt ||
        fail "nut:$p (read back as $got): exit $RC, $(cat err.txt)"
    n=$((n + 1))
done
[ $n -eq 34 ] || fail "$n NUT formats checked, want 34"
run $c2 --output-composition - -f nut:yuvj420p
grep -q "use .mkv (-f matroska:yuvj420p)" err.txt || fail "nut:yuvj420p: no container named: $(cat err.txt)"
for p in yuv444p10le gray16le rgb48le; do
    run_ok $c2 --threads 1 --output-alpha ok_$p.nut -f nut:$p
    [ "$(stream_field ok_$p.nut v:0 pix_fmt)" = $p ] || fail "nut:$p reads back as another"
done
ok "rawvideo in .nut: the $n formats FFmpeg reads back as others refused up front; others read back as themselves"
done_all
