# Colour tagging of inputs and outputs: SDR BT.2020 input is converted to BT.709 like HDR
# input is (it came out desaturated); ICC profiles of images reach the image outputs; a
# background image's transparency. Inputs are made from the sample by ffmpeg (zscale).
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

ffmpeg -hide_banner -filters 2>/dev/null | grep -q " zscale " || { echo "SKIP: ffmpeg has no zscale"; exit 77; }

# PSNR (dB) of A against B, all frames: ffmpeg's psnr filter.
psnr() {
    ffmpeg -nostdin -v info -i "$1" -i "$2" -lavfi "[0:v][1:v]psnr" -f null - 2>&1 |
        sed -n 's/.*PSNR .* average:\([0-9.inf]*\).*/\1/p' | tail -n 1
}

# The same 6 frames in BT.709 and, converted by zimg, in SDR BT.2020 (lossless FFV1, so only
# the colours differ): 10-bit 4:4:4 tagged bt2020-10, and 8-bit 4:2:0 tagged bt709 (the
# transfers are one curve), which the reader would otherwise take its fast way.
ffmpeg -nostdin -v error -y -i "$SAMPLE" -frames:v 6 -vf "scale=320:240,format=yuv444p10le" \
    -color_primaries bt709 -color_trc bt709 -colorspace bt709 -c:v ffv1 o709.mkv || fail "cannot make o709.mkv"
run_ok -i o709.mkv --output-composition c709.nut
[ ! -s err.txt ] || fail "o709.mkv: $(cat err.txt)"
for v in bt2020-10:yuv444p10le bt709:yuv420p; do
    trc=${v%:*} pf=${v#*:}
    ffmpeg -nostdin -v error -y -i o709.mkv \
        -vf "zscale=tin=bt709:pin=bt709:min=bt709:t=$trc:p=bt2020:m=bt2020nc:r=tv,format=$pf" \
        -color_primaries bt2020 -color_trc $trc -colorspace bt2020nc -c:v ffv1 o2020.mkv || fail "cannot make o2020.mkv ($v)"
    run_ok -y -i o2020.mkv --output-composition c2020.nut
    grep -q "^rvm: the input is SDR with BT.2020 primaries: its colours are converted to BT.709" err.txt ||
        fail "$v: no line says the colours are converted: $(cat err.txt)"
    # (Raw RGB compositions.) Read as BT.709, as before: 41.2 dB (4:4:4), 40.6 (4:2:0);
    # converted: 56.6, 49.0 (8-bit 4:2:0 loses more).
    p=$(psnr c2020.nut c709.nut)
    awk -v p="$p" 'BEGIN { exit !(p > 46) }' || fail "SDR BT.2020 ($v): composition $p dB against the BT.709 run's, want > 46"
    ok "SDR BT.2020 ($v) converted: composition $p dB against the BT.709 run's"
done

# SD primaries (BT.601's) are not converted (close to BT.709's; the fast 4:2:0 path stays):
# the YUV outputs are tagged with the input's, where they were tagged BT.709.
for pri in bt470bg smpte170m; do
    ffmpeg -nostdin -v error -y -i "$SAMPLE" -frames:v 3 -vf "scale=320:240,format=yuv420p" \
        -color_primaries $pri -color_trc smpte170m -colorspace $pri -c:v ffv1 sd.mkv || fail "cannot make sd.mkv"
    run_ok -y -i sd.mkv --output-composition sd_com.mp4 --output-foreground sd_fgr.mkv
    for f in sd_com.mp4 sd_fgr.mkv; do
        [ "$(stream_field $f v:0 color_primaries)" = $pri ] ||
            fail "$f from $pri input: tagged primaries $(stream_field $f v:0 color_primaries)"
    done
    ok "$pri input: the outputs are tagged $pri primaries"
done
run_ok -y -i o709.mkv --output-composition c709.mp4
[ "$(stream_field c709.mp4 v:0 color_primaries)" = bt709 ] || fail "BT.709 input: $(stream_field c709.mp4 v:0 color_primaries)"

# Uncompressed YUV in NUT and AVI: neither container stores the colour matrix, so the
# frames have the one untagged video is read with (BT.601 for SD: this 320x240;
# they were BT.709, which FFmpeg read 8.3 levels too red on average); one line names it.
# Read as FFmpeg reads them, they are the composition, and not read as BT.709; .mkv tags
# the matrix and the matte has none: no line.
run_ok -y -i o709.mkv --output-composition c709.rgb
for v in nut:yuv444p avi:yuv420p; do
    run_ok -y -i o709.mkv --output-composition craw.out --output-alpha araw.out --codec rawvideo -f $v
    name=$(echo ${v%%:*} | tr a-z A-Z)
    [ "$(grep -c "^rvm: warning: craw.out: $name cannot say which colour matrix its YUV frames have: they are BT.601" err.txt)" = 1 ] ||
        fail "$v: no line (or not one) says the matrix is not stored: $(cat err.txt)"
    grep -q "araw.out" err.txt && fail "$v: a line about the matte: $(cat err.txt)"
    ffmpeg -nostdin -v error -y -i craw.out -vf scale=flags=accurate_rnd+full_chroma_int,format=rgb24 \
        -f rawvideo got.rgb || fail "cannot read craw.out ($v)"
    "$PIXCMP" near8 got.rgb c709.rgb 1 40 >cmp.txt || fail "$v read as FFmpeg reads it (BT.601): $(cat cmp.txt)"
    ffmpeg -nostdin -v error -y -i craw.out -vf scale=in_color_matrix=bt709:flags=accurate_rnd+full_chroma_int,format=rgb24 \
        -f rawvideo got.rgb || fail "cannot read craw.out ($v)"
    ! "$PIXCMP" near8 got.rgb c709.rgb 1 40 >/dev/null || fail "$v read as BT.709 matches too"
    ok "$v: one line says the matrix is not stored; read as FFmpeg reads it: $(cat cmp.txt)"
done
# Y4M, bare frames and uncompressed NUT are converted with the matrix untagged video is
# read with (rvm's reader, mpv: BT.601 for SD, BT.709 for HD), not always
# BT.709: a colourful 640x480 composition read back by rvm was 8.0 steps off on average
# (max 31) against the same run's RGB (.rgb), now 0.34 (12); 1280x720: 0.33 (29) before and
# after. At 640x480 FFmpeg (BT.601 at every size) reads the Y4M right too: 8.0 -> 0.68.
for s in 640x480 1280x720; do
    ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=$s:d=0.24,hue=s=2.5,gblur=sigma=6" -c:v ffv1 \
        vivid.mkv || fail "cannot make vivid.mkv ($s)"
    run_ok -y -i vivid.mkv --background 255,0,0 --output-composition vivid.rgb
    for o in vivid.y4m vivid.yuv vivid.nut; do
        run_ok -y -i vivid.mkv --background 255,0,0 --output-composition $o \
            $([ $o = vivid.nut ] && echo "--codec rawvideo -f nut:yuv420p")
        f=$o
        if [ $o = vivid.yuv ]; then
            # Bare frames say no size: rvm's reader reads them from a NUT wrapping them unchanged.
            ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt yuv420p -s $s -i vivid.yuv -c:v rawvideo \
                -f nut vivid_yuv.nut || fail "cannot wrap vivid.yuv ($s)"
            f=vivid_yuv.nut
        fi
        "$READDUMP" $f got.rgb >/dev/null || fail "rvm's reader cannot read $o ($s)"
        "$PIXCMP" near8 got.rgb vivid.rgb 1 35 >cmp.txt || fail "$s $o read back by rvm: $(cat cmp.txt)"
        ok "$s $o read back by rvm: $(cat cmp.txt)"
    done
    if [ $s = 640x480 ]; then
        ffmpeg -nostdin -v error -y -i vivid.y4m -f rawvideo -pix_fmt rgb24 got.rgb || fail "cannot read vivid.y4m"
        "$PIXCMP" near8 got.rgb vivid.rgb 1.5 35 >cmp.txt || fail "$s vivid.y4m read by FFmpeg (BT.601): $(cat cmp.txt)"
        ok "$s vivid.y4m read by FFmpeg (BT.601): $(cat cmp.txt)"
    fi
done
run_ok -y -i o709.mkv --output-composition craw.mkv --codec rawvideo -f matroska:yuv420p
[ ! -s err.txt ] || fail "matroska:yuv420p: $(cat err.txt)"
[ "$(stream_field craw.mkv v:0 color_space)" = bt709 ] || fail "craw.mkv: tagged $(stream_field craw.mkv v:0 color_space)"
ok "matroska:yuv420p: tagged bt709, no line"
# The refusal of YUV in .mov names .mkv, which says the matrix (it named .nut).
run -y -i o709.mkv --output-composition craw.mov --codec rawvideo -f mov:yuv420p
[ $RC -eq 2 ] && grep -q "not yuv420p: use .mkv (-f matroska:yuv420p)" err.txt ||
    fail "mov:yuv420p: exit $RC, $(cat err.txt)"
ok "mov:yuv420p refused, naming .mkv"

# A background picture with transparency: its see-through parts are put over black (its
# alpha was dropped: a half-transparent red was used as opaque red), with one line; an
# opaque picture with an alpha channel says nothing. The corner pixel (the person's matte is
# 0 there) of the first frame of the composition.
corner() { od -An -tu1 -N3 "$1"; }
for v in rgba:red@0.5:128 ya8:white@0.0:0 rgba:red:255; do
    pf=${v%%:*} rest=${v#*:} col=${rest%:*} want=${rest##*:}
    ffmpeg -nostdin -v error -y -f lavfi -i "color=c=$col:s=320x240,format=rgba" -frames:v 1 \
        -vf "format=$pf" bg.png || fail "cannot make bg.png ($v)"
    run_ok -y -i o709.mkv --background bg.png --output-composition cbg.rgb
    set -- $(corner cbg.rgb)
    [ $(($1 - want)) -le 3 ] && [ $((want - $1)) -le 3 ] && [ "$2" -le 3 ] ||
        fail "$v background: the corner is $*, want $want 0 0 (within 3)"
    if [ "$want" = 255 ]; then
        [ ! -s err.txt ] || fail "opaque $v background: $(cat err.txt)"
    else
        grep -q "^rvm: warning: --background bg.png has transparency: its see-through parts are put over black" err.txt ||
            fail "$v background: no line says it is put over black: $(cat err.txt)"
    fi
    ok "$v background: corner $*"
done
# Pictures whose alpha swscale's own blend skipped or got wrong: a palette PNG's tRNS and
# ProRes 4444 (yuva444p12) kept their see-through colours (255 where 128 is right), YUV
# with alpha went towards Y = 0, below black (118). They are put over black as FFmpeg's
# overlay filter puts them (within 1: its rounding).
ffmpeg -nostdin -v error -y -f lavfi -i "color=c=white@0.5:s=320x240,format=rgba" -frames:v 2 \
    -vf format=yuva444p10le -c:v prores_ks -profile:v 4444 bg_prores.mov || fail "cannot make bg_prores.mov"
ffmpeg -nostdin -v error -y -f lavfi -i "color=c=white@0.5:s=320x240,format=rgba" -frames:v 2 \
    -vf format=yuva420p -c:v ffv1 bg_yuva.mkv || fail "cannot make bg_yuva.mkv"
if command -v python3 >/dev/null 2>&1; then
    # Palette (colour type 3): index 0 red with tRNS alpha 128 (the left half), 1 opaque blue.
    python3 - bg_pal.png <<'PY' || fail "cannot make bg_pal.png"
import struct, sys, zlib
w, h = 320, 240
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
rows = b''.join(b'\0' + bytes([0] * (w // 2) + [1] * (w - w // 2)) for _ in range(h))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 3, 0, 0, 0))
    + chunk(b'PLTE', bytes([255, 0, 0, 0, 0, 255])) + chunk(b'tRNS', bytes([128]))
    + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
PY
fi
# over_black BG [DECODER]: the corner of the composition over BG is FFmpeg's overlay of BG's
# first picture on black (decoded by DECODER when named), within 1 step, with the line.
over_black() {
    ffmpeg -nostdin -v error -y -f lavfi -i color=black:s=320x240 ${2:+-c:v $2} -i $1 \
        -filter_complex "[0][1]overlay=format=auto,format=rgb24" -frames:v 1 -f rawvideo want.rgb || fail "cannot overlay $1"
    run_ok -y -i o709.mkv --background $1 --output-composition cbg.rgb
    set -- $1 $(corner cbg.rgb) $(corner want.rgb)
    [ $(($2 - $5)) -le 1 ] && [ $(($5 - $2)) -le 1 ] && [ $(($3 - $6)) -le 1 ] && [ $(($6 - $3)) -le 1 ] &&
        [ $(($4 - $7)) -le 1 ] && [ $(($7 - $4)) -le 1 ] ||
        fail "$1 background: the corner is $2 $3 $4, FFmpeg's overlay on black $5 $6 $7"
    grep -q "^rvm: warning: --background $1 has transparency" err.txt ||
        fail "$1 background: no line says it is put over black: $(cat err.txt)"
    ok "$1 background over black: corner $2 $3 $4, FFmpeg's overlay $5 $6 $7"
}
for bg in bg_prores.mov bg_yuva.mkv bg_pal.png; do
    [ -f $bg ] && over_black $bg
done
# A transparent VP9 WebM (rvm's own transparent composition): its alpha is beside the
# picture (alpha_mode 1), which only libvpx's decoder reads; FFmpeg's own dropped it and the
# see-through parts kept their colours (255 where 128 is right).
if ffmpeg -hide_banner -decoders 2>/dev/null | grep -q " libvpx-vp9 "; then
    ffmpeg -nostdin -v error -y -f lavfi -i "color=c=white@0.5:s=320x240,format=rgba" -frames:v 2 \
        -vf format=yuva420p -c:v libvpx-vp9 bg_vp9.webm || fail "cannot make bg_vp9.webm"
    over_black bg_vp9.webm libvpx-vp9
fi

# An input picture's ICC profile (an Adobe RGB JPEG, a phone's Display P3 photo) goes to
# the composition and foreground images (PNG's iCCP), byte for byte; not to the matte. The
# input: a PNG given an iCCP chunk by python3 (any bytes: FFmpeg passes them on unread).
if command -v python3 >/dev/null 2>&1; then
    ffmpeg -nostdin -v error -y -i "$SAMPLE" -frames:v 1 -vf scale=160:120 plain.png || fail "cannot make plain.png"
    python3 - plain.png icc.png icc.bin <<'PY' || fail "cannot make icc.png"
import struct, sys, zlib
png = open(sys.argv[1], 'rb').read()
icc = bytes((i * 37 + 11) % 256 for i in range(600))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR (length, type, 13 bytes, CRC)
out = png[:ihdr_end] + chunk(b'iCCP', b'test\0\0' + zlib.compress(icc)) + png[ihdr_end:]
open(sys.argv[2], 'wb').write(out)
open(sys.argv[3], 'wb').write(icc)
PY
    # iccof PNG OUT: the profile a PNG's iCCP holds (no output: none).
    iccof() {
        python3 - "$1" "$2" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
i = 8
while i < len(d):
    n, t = struct.unpack('>I4s', d[i:i + 8])
    if t == b'iCCP':
        body = d[i + 8:i + 8 + n]
        open(sys.argv[2], 'wb').write(zlib.decompress(body[body.index(b'\0') + 2:]))
    i += 12 + n
PY
    }
    run_ok -y -i icc.png --output-composition icc_com.png --output-foreground icc_fgr.png --output-alpha icc_pha.png
    for f in icc_com icc_fgr; do
        rm -f got.bin
        iccof $f.png got.bin
        cmp -s got.bin icc.bin || fail "$f.png does not carry the input's ICC profile"
    done
    rm -f got.bin
    iccof icc_pha.png got.bin
    [ ! -f got.bin ] || fail "the matte carries the input's ICC profile"
    rm -f seq/0000.png
    run_ok -y -i icc.png --output-type png_sequence --output-composition seq
    iccof seq/0000.png got.bin
    cmp -s got.bin icc.bin || fail "a PNG sequence's composition does not carry the input's ICC profile"
    ok "the input's ICC profile is in the composition and foreground PNGs, byte for byte, not in the matte"
    # JPEG (APP2) too: FFmpeg reads it back as the frame's profile.
    run_ok -y -i icc.png --output-composition icc_com.jpg --background 0,0,0
    ffprobe -v error -show_frames icc_com.jpg | grep -A3 "side_data_type=ICC profile" | grep -q "^size=600$" ||
        fail "icc_com.jpg does not carry the input's ICC profile"
    ok "and in a JPEG composition"
fi

done_all
