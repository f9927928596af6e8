# Real-world media, pictures and audio (issue 15): odd sizes, anamorphic video, audio the
# container cannot hold, image names, EXIF orientation, HDR, the quality default, ProRes
# colour tags. (media_timing.sh has the time and stream cases.) Every input is made here
# with ffmpeg; every output is checked with ffprobe/ffmpeg.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
# HDR inputs are made with the zscale filter (zimg), which Debian's ffmpeg has.
ffmpeg -hide_banner -filters 2>/dev/null | grep -q ' zscale ' || { echo "SKIP: ffmpeg has no zscale filter"; exit 77; }

near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
# The reader's swscale flags, for reference pictures made by ffmpeg's scale filter.
SWS=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp

# ---- 12. Odd sizes: H.264/HEVC in 4:2:0, padded by one column and row ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc=size=65x49:rate=25" -t 0.2 -c:v ffv1 odd.mkv ||
    fail "cannot make odd.mkv"
for codec in h264 hevc; do
    run_ok --input-source odd.mkv --codec $codec --crf 10 --output-composition odd_$codec.mp4 \
        --output-alpha odd_pha_$codec.mkv
    for f in odd_$codec.mp4 odd_pha_$codec.mkv; do
        got=$(ffprobe -v error -select_streams v:0 -show_entries stream=pix_fmt,profile,width,height -of csv=p=0 $f)
        case "$got" in
        *4:4:4* | *Rext*) fail "$f: $got: a profile most players cannot play" ;;
        "High,66,50,yuv420p" | "Main,66,50,yuv420p") ;;
        *) fail "$f: $got, want 4:2:0 at 66x50" ;;
        esac
        playable $f
    done
    # The padding repeats the last column and row (within the encoder's error).
    for edge in "crop=1:50:65:0 crop=1:50:64:0" "crop=66:1:0:49 crop=66:1:0:48"; do
        set -- $edge
        ffmpeg -nostdin -y -v error -i odd_$codec.mp4 -vf "format=gray,$1" -f rawvideo a.gray
        ffmpeg -nostdin -y -v error -i odd_$codec.mp4 -vf "format=gray,$2" -f rawvideo b.gray
        "$PIXCMP" near8 a.gray b.gray 2 12 >/dev/null || fail "odd_$codec.mp4: the padding ($1) is not the last pixels repeated"
    done
done
ok "65x49 input: H.264 High and HEVC Main 4:2:0 at 66x50, the last column and row repeated"

# ---- 5. Anamorphic video: the outputs keep the sample aspect, the network sees 16:9 ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc=size=180x144:rate=25" -t 0.2 -vf setsar=64/45 \
    -c:v libx264 -preset ultrafast ana.mp4 || fail "cannot make ana.mp4"
run_ok --input-source ana.mp4 --output-composition ana.mp4.mp4 --output-alpha ana.mkv \
    --output-foreground ana.mov
for f in ana.mp4.mp4 ana.mkv ana.mov; do
    got=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,sample_aspect_ratio,display_aspect_ratio -of csv=p=0 $f)
    [ "$got" = "180,144,64:45,16:9" ] || fail "$f: $got, want 180x144 at 64:45 (16:9)"
done
[ "$("$READDUMP" ana.mp4 d.rgb)" = "256x144 5" ] || fail "the network does not see 256x144"
ffmpeg -nostdin -y -v error -i ana.mp4 -vf scale=256:144:flags=$SWS,format=rgb24 -f rawvideo ref.rgb
"$PIXCMP" near8 d.rgb ref.rgb 0.5 8 >/dev/null || fail "the network's picture is not the input at 16:9"
ok "720x576-style 64:45 input: outputs 180x144 at 64:45 (16:9), the network sees 256x144"

# ---- 3. Audio the container cannot hold: Opus into .mov/.mp4 becomes AAC ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 1 -c:v libvpx-vp9 -deadline realtime \
    -c:a libopus opus.webm || fail "cannot make opus.webm"
run_ok --input-source opus.webm --output-composition opus.mov --output-foreground opus.mp4 \
    --output-alpha opus_pha.mov
for f in opus.mov opus.mp4; do
    [ "$(stream_field $f a:0 codec_name)" = aac ] || fail "$f: audio is $(stream_field $f a:0 codec_name), want AAC"
    near "$(ffprobe -v error -select_streams a:0 -show_entries stream=duration -of csv=p=0 $f)" 1 0.05 ||
        fail "$f: the audio does not last 1 s"
    playable $f
done
ok "Opus from WebM: AAC in .mov and .mp4, 1 s"

# ---- 9. Image names without zero padding: natural order ----
mkdir nat
ffmpeg -nostdin -y -v error -f lavfi -i "color=c=black:s=16x16:r=25,format=gray,geq=lum='N*20'" \
    -frames:v 12 -start_number 1 nat/frame%d.png || fail "cannot make nat/"
[ "$("$READDUMP" nat d.rgb)" = "16x16 12" ] || fail "nat/: not 12 frames of 16x16"
od -An -v -tu1 -w768 d.rgb | awk 'NF { s = 0; for (i = 1; i <= NF; i++) s += $i; m = s / NF
    if (NR > 1 && m <= p) { print "frame " NR " (mean " m ") is not after frame " NR - 1 " (mean " p ")"; exit 1 } p = m }' >order.txt ||
    fail "frame1..frame12.png out of order: $(cat order.txt)"
ok "frame1.png ... frame12.png read in natural order"

# ---- 8. EXIF orientation, in a folder and a single JPEG ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc=size=96x72" -frames:v 1 -q:v 2 plain.jpg
# plain.jpg with an EXIF block (APP1, big-endian TIFF, one entry: Orientation = $1) after SOI.
exif_jpeg() { # ORIENTATION OUT
    { printf '\377\330\377\341\000\042Exif\000\000MM\000\052\000\000\000\010\000\001\001\022\000\003\000\000\000\001\000\00'"$1"'\000\000\000\000\000\000'
      tail -c +3 plain.jpg; } >"$2"
}
mkdir exif
for o in 6 5 3; do
    case $o in 6) vf=transpose=clock ;; 5) vf=transpose=cclock_flip ;; 3) vf=hflip,vflip ;; esac
    exif_jpeg $o exif_$o.jpg
    ffmpeg -nostdin -y -v error -i plain.jpg -vf "$vf" -pix_fmt rgb24 -f rawvideo ref.rgb
    want=$([ $o = 3 ] && echo 96x72 || echo 72x96)
    [ "$("$READDUMP" exif_$o.jpg d.rgb)" = "$want 1" ] || fail "exif_$o.jpg: not $want"
    "$PIXCMP" near8 d.rgb ref.rgb 2 40 >/dev/null || fail "exif_$o.jpg: not turned as ffmpeg's $vf"
    cp exif_$o.jpg exif/
done
run_ok --input-source exif_6.jpg --output-alpha exif6.png.mp4
[ "$(stream_field exif6.png.mp4 v:0 width)x$(stream_field exif6.png.mp4 v:0 height)" = 72x96 ] ||
    fail "exif_6.jpg: the output is not upright"
ok "EXIF orientations 6, 5 (mirrored) and 3 applied to single JPEGs"

# ---- 13. Default quality: constant quality; --output-video-mbps is the average bit rate ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=160x120:rate=25" -t 4 -c:v libx264 \
    -preset ultrafast -crf 10 busy.mp4 || fail "cannot make busy.mp4"
run_ok --input-source busy.mp4 --output-foreground q_default.mkv
ffmpeg -nostdin -v error -i q_default.mkv -map 0:v -c copy -f h264 - | grep -a -q 'rc=crf .*crf=18\.0' ||
    fail "the default is not constant quality (CRF 18)"
run_ok --input-source busy.mp4 --output-foreground q_rate.mkv --output-video-mbps 0.3
bytes=$(ffmpeg -nostdin -v error -i q_rate.mkv -map 0:v -c copy -f data - | wc -c)
near "$bytes" 150000 15000 || fail "--output-video-mbps 0.3 for 4 s gave $bytes bytes, want 150000 +-10%"
# The H.264 alpha video at constant quality: constant QP one above the CRF, no scene cuts
# (x264 then keeps no half-size copies of its pictures); a bit rate stays a bit rate.
run_ok --input-source busy.mp4 --output-alpha q_alpha.mkv
ffmpeg -nostdin -v error -i q_alpha.mkv -map 0:v -c copy -f h264 - >q_alpha.h264
grep -a -q 'rc=cqp .*qp=19 ' q_alpha.h264 && grep -a -q 'scenecut=0 ' q_alpha.h264 ||
    fail "the default alpha video is not at constant QP 19 without scene cuts"
run_ok --input-source busy.mp4 --output-alpha q_alpha0.mkv --crf 0
ffmpeg -nostdin -v error -i q_alpha0.mkv -map 0:v -c copy -f h264 - |
    LC_ALL=C grep -a -q 'rc=cqp .*qp=0[^0-9]' ||
    fail "--crf 0 does not give a lossless alpha video"
run_ok --input-source busy.mp4 --output-alpha q_alpha_rate.mkv --output-video-mbps 0.3
ffmpeg -nostdin -v error -i q_alpha_rate.mkv -map 0:v -c copy -f h264 - | grep -a -q 'rc=abr ' ||
    fail "--output-video-mbps does not give the alpha video a bit rate"
ok "default CRF 18 (alpha: QP 19); --output-video-mbps 0.3 gives $bytes bytes in 4 s"

# ---- 6. HDR: PQ and HLG BT.2020 are tone-mapped to SDR BT.709, tagged so, one line ----
# A colour graded in SDR (a brown hoodie, 150,105,39), carried in HDR by zimg with SDR white
# at HDR reference white (203 cd/m2), comes back as it was.
for t in smpte2084 arib-std-b67; do
    ffmpeg -nostdin -y -v error -f lavfi -i "color=c=0x966927:s=64x48:r=25" -frames:v 3 \
        -vf "format=gbrpf32le,zscale=tin=bt709:pin=bt709:min=gbr:rin=full:t=$t:p=bt2020:m=bt2020nc:r=tv:npl=203,format=yuv420p10le" \
        -c:v ffv1 -color_trc $t -color_primaries bt2020 -colorspace bt2020nc -color_range tv \
        hdr_$t.mkv || fail "cannot make hdr_$t.mkv"
    [ "$("$READDUMP" hdr_$t.mkv d.rgb)" = "64x48 3" ] || fail "hdr_$t.mkv: not 3 frames"
    px=$(od -An -tu1 -j $(((24 * 64 + 32) * 3)) -N3 d.rgb)
    tol=$([ $t = smpte2084 ] && echo 4 || echo 12)
    echo $px | awk -v t=$tol '{ if ($1 < 150 - t || $1 > 150 + t || $2 < 105 - t || $2 > 105 + t || $3 < 39 - t || $3 > 39 + t) exit 1 }' ||
        fail "hdr_$t.mkv: the hoodie is $px, want 150 105 39 (within $tol)"
    run_ok --input-source hdr_$t.mkv --output-composition hdr_$t.mp4
    got=$(ffprobe -v error -select_streams v:0 -show_entries stream=color_transfer,color_primaries,pix_fmt -of csv=p=0 hdr_$t.mp4)
    [ "$got" = "yuv420p,bt709,bt709" ] || fail "hdr_$t.mp4: $got, want SDR BT.709 tags"
    [ "$(grep -c '^rvm: the input is HDR.*tone-mapped to SDR' err.txt)" -eq 1 ] ||
        fail "hdr_$t.mkv: no line saying it is tone-mapped: $(cat err.txt)"
    ok "HDR $t: the hoodie comes back as $px, the output is SDR BT.709, one line says so"
done

# ---- 14. ProRes outputs carry the colour tags H.264 outputs do ----
ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=96x72:rate=25" -t 0.2 -c:v libx264 \
    -preset ultrafast -color_primaries bt709 -color_trc bt709 -colorspace bt709 whole.mp4 ||
    fail "cannot make whole.mp4"
run_ok --input-source whole.mp4 --codec prores --output-composition pr.mov
got=$(ffprobe -v error -select_streams v:0 -show_entries stream=color_space,color_primaries,color_transfer -of csv=p=0 pr.mov)
[ "$got" = "bt709,bt709,bt709" ] || fail "pr.mov: colour tags $got, want bt709 (as H.264 outputs)"
ok "ProRes: tagged BT.709"
done_all
