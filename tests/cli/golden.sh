# End to end against the official model: the golden cases' input frames, written as PNGs,
# go through the command; its 16-bit PNG alpha and foreground must match the official
# outputs (the golden README's tolerances: 99.99% within 1e-3, all within 1e-2).
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
need_shared
GOLDEN=$SHARED/golden

# Raw samples of a .npy file (the header length is at bytes 8-9).
npy_data() {
    hl=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')
    tail -c +$((10 + hl + 1)) "$1"
}

check_case() { # CASE RATIO|auto [rvm options...]
    case=$1 ratio=$2
    shift 2
    dir=$GOLDEN/$case
    [ -f "$dir/input.npy" ] || fail "missing $dir"
    w=$(sed -n 's/.*"width": *\([0-9]*\).*/\1/p' "$dir/meta.json")
    h=$(sed -n 's/.*"height": *\([0-9]*\).*/\1/p' "$dir/meta.json")
    rm -rf in pha fgr ./*.raw
    mkdir in
    npy_data "$dir/input.npy" | ffmpeg -nostdin -v error -f rawvideo -pix_fmt rgb24 \
        -s ${w}x$h -i - -start_number 0 in/%04d.png || fail "cannot write $case frames"
    r=
    [ "$ratio" = auto ] || r="--downsample-ratio $ratio"
    run_ok --input-source in $r --output-type png_sequence --output-depth 16 \
        --output-alpha pha --output-foreground fgr "$@"
    ffmpeg -nostdin -v error -i pha/%04d.png -f rawvideo -pix_fmt gray16le pha.raw
    ffmpeg -nostdin -v error -i fgr/%04d.png -f rawvideo -pix_fmt rgb48le fgr.raw
    # The golden foreground is planar [T,3,H,W]; ours interleaved: compare as planes.
    npy_data "$dir/fgr.npy" >fgr_planar.raw
    frames=$(ls in | wc -l)
    : >fgr_gold.raw
    t=0
    while [ $t -lt "$frames" ]; do
        # Interleave the three planes of frame t with FFmpeg (gbrp order is G, B, R).
        plane=$((w * h * 2))
        dd if=fgr_planar.raw bs=$plane skip=$((3 * t)) count=1 2>/dev/null >r.raw
        dd if=fgr_planar.raw bs=$plane skip=$((3 * t + 1)) count=1 2>/dev/null >g.raw
        dd if=fgr_planar.raw bs=$plane skip=$((3 * t + 2)) count=1 2>/dev/null >b.raw
        cat g.raw b.raw r.raw | ffmpeg -nostdin -v error -f rawvideo -pix_fmt gbrp16le \
            -s ${w}x$h -i - -f rawvideo -pix_fmt rgb48le - >>fgr_gold.raw
        t=$((t + 1))
    done
    npy_data "$dir/pha.npy" >pha_gold.raw
    "$PIXCMP" close pha.raw pha_gold.raw || fail "$case: alpha differs from the official"
    "$PIXCMP" close fgr.raw fgr_gold.raw || fail "$case: foreground differs from the official"
    ok "$case ($frames frames, ratio $ratio): alpha and foreground match the official"
}

# The shipped model (TF.js int8, the same weights as rvm_mobilenetv3_from_tfjs.pth).
check_case official_fgf_320x240_r0.5 0.5
check_case official_fgf_640x480_auto auto
check_case official_256x192_r1 1
check_case official_fgf_480x270_r0.375 0.375
# The PyTorch checkpoint the golden data was made with, given as the official flags do.
check_case official_fgf_320x240_r0.5 0.5 --variant mobilenetv3 \
    --checkpoint "$SHARED/models/rvm_mobilenetv3_from_tfjs.pth" --device cpu
# Deep guided filter and ResNet50 (random weights in the official layout).
gunzip -c "$SHARED/models/rvm_mobilenetv3_random.pth.gz" >mnv3.pth
gunzip -c "$SHARED/models/rvm_resnet50_random.pth.gz" >r50.pth
check_case random_mnv3_dgf_333x199_r0.37 0.37 --checkpoint mnv3.pth --variant mobilenetv3
check_case random_r50_dgf_320x180_r0.5 0.5 --checkpoint r50.pth --variant resnet50
done_all
