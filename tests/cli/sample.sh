# The README's main job on the clip shipped in samples/ (needs nothing from ../shared):
# composition and alpha videos with the input's frames and timestamps.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

[ -f "$SAMPLE" ] || fail "missing $SAMPLE"
run_ok --input-source "$SAMPLE" --input-resize 160 120 \
    --output-composition com.mp4 --output-alpha pha.mp4
[ ! -s err.txt ] || fail "a successful run printed: $(cat err.txt)"
for f in com.mp4 pha.mp4; do
    playable $f
    same_timing "$SAMPLE" $f
    [ "$(stream_field $f v:0 width)x$(stream_field $f v:0 height)" = 160x120 ] || fail "$f size"
    ok "$f: 77 frames at the input's times"
done
ls -a | grep -q rvm-part && fail "a temporary file was left behind"
ok "no temporary files left"

# x264 writes its settings into the stream. The default: veryfast (subme=2) with a 1-frame
# look-ahead for a composition (issue 14: 6 MB a frame at 1080p), no B-frames, one thread;
# --preset NAME gets the preset's own settings.
x264_opt() { grep -a -o " $2=[0-9]*" "$1" | head -n 1 | cut -d= -f2; }
[ "$(x264_opt com.mp4 subme)/$(x264_opt com.mp4 rc_lookahead)/$(x264_opt com.mp4 bframes)/$(x264_opt com.mp4 threads)" = 2/1/0/1 ] \
    || fail "default x264 settings: subme/rc_lookahead/bframes/threads = $(x264_opt com.mp4 subme)/$(x264_opt com.mp4 rc_lookahead)/$(x264_opt com.mp4 bframes)/$(x264_opt com.mp4 threads)"
# The composition searches motion with the diamond (issue 14: veryfast's hexagon was ~40% of
# its encoding time at 1080p for 0.015 dB), the matte keeps veryfast's hexagon, and
# --preset veryfast is the preset itself (the hexagon).
x264_word() { grep -a -o " $2=[a-z]*" "$1" | head -n 1 | cut -d= -f2; }
[ "$(x264_word com.mp4 me)/$(x264_word pha.mp4 me)" = dia/hex ] \
    || fail "default motion search: composition/alpha = $(x264_word com.mp4 me)/$(x264_word pha.mp4 me), want dia/hex"
run_ok --input-source "$SAMPLE" --input-resize 96 72 --duration 0.5 --preset veryfast \
    --output-composition veryfast.mp4
[ "$(x264_word veryfast.mp4 me)/$(x264_opt veryfast.mp4 rc_lookahead)" = hex/10 ] \
    || fail "--preset veryfast: me/rc_lookahead = $(x264_word veryfast.mp4 me)/$(x264_opt veryfast.mp4 rc_lookahead)"
run_ok --input-source "$SAMPLE" --input-resize 96 72 --duration 0.5 --preset medium \
    --output-alpha medium.mp4
[ "$(x264_opt medium.mp4 subme)/$(x264_opt medium.mp4 rc_lookahead)/$(x264_opt medium.mp4 bframes)" = 7/40/3 ] \
    || fail "--preset medium: subme/rc_lookahead/bframes = $(x264_opt medium.mp4 subme)/$(x264_opt medium.mp4 rc_lookahead)/$(x264_opt medium.mp4 bframes)"
playable medium.mp4
ok "x264 settings: the lean veryfast default (diamond search for the composition), --preset veryfast and medium"

# The default background is the official green (120,255,155): a corner far from the person.
ffmpeg -nostdin -v error -i com.mp4 -frames:v 1 -vf "crop=8:8:0:0" -f rawvideo -pix_fmt rgb24 corner.rgb
set -- $(od -An -tu1 -N3 corner.rgb)
[ $(( ($1 - 120) * ($1 - 120) + ($2 - 255) * ($2 - 255) + ($3 - 155) * ($3 - 155) )) -lt 48 ] \
    || fail "background corner is $1,$2,$3, not near 120,255,155"
ok "green background"

# --help lists every flag of the official converter.
"$RVM" --help >help.txt || fail "--help failed"
for flag in --variant --checkpoint --device --input-source --input-resize --downsample-ratio \
    --output-type --output-composition --output-alpha --output-foreground --output-video-mbps \
    --seq-chunk --num-workers --disable-progress --threads --background --codec --crf \
    --output-depth --input-fps --start --duration --no-audio --overwrite --preset; do
    grep -q -- "$flag" help.txt || fail "--help does not mention $flag"
done
ok "--help lists the flags"

# The official command line works as written (with the shipped model's variant).
run_ok --variant mobilenetv3 --device cpu --input-source "$SAMPLE" --input-resize 96 72 \
    --output-type video --output-foreground fgr.mp4 --output-video-mbps 4 --seq-chunk 1 \
    --num-workers 0 --duration 0.5
[ "$(pts_list fgr.mp4 | wc -l)" -eq 15 ] || fail "--duration 0.5 at 30 fps should give 15 frames"
ok "official flags accepted"
done_all
