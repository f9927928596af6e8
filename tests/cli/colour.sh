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

done_all
