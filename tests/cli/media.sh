# Real-world media (issue 15): transport-stream start offsets, 33-bit wraps and clock jumps,
# odd sizes, anamorphic video, audio the container cannot hold, image names, EXIF
# orientation, size changes, HDR, interlacing, quality defaults and smaller cases. Every
# input is made here with ffmpeg; every output is checked with ffprobe/ffmpeg.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# A small test picture with a tone (VFR when $4 drops frames), as MPEG-TS with its clock at $2.
make_ts() { # OUT OFFSET SECONDS [AUDIO_DELAY]
    ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=96x72:rate=25" \
        -itsoffset "${4:-0}" -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$3" \
        -vf "select='not(eq(mod(n\,4)\,1))'" -vsync vfr -c:v libx264 -preset ultrafast \
        -c:a aac -output_ts_offset "$2" -f mpegts "$1" || fail "cannot make $1"
}
# Fails unless FILE's frame times strictly increase and no two are more than MAX s apart.
steady() { # FILE MAX
    pts_list "$1" | awk -v m="$2" 'NR > 1 { if ($1 <= p) { print "frame " NR " at " $1 " after " p; exit 1 }
        if ($1 - p > m) { print "gap of " $1 - p " s at frame " NR; exit 1 } } { p = $1 }' >gap.txt ||
        fail "$1: $(cat gap.txt)"
}
first_pts() { pts_list "$1" | head -n 1; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
fdur() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
astart() { ffprobe -v error -select_streams a:0 -show_entries packet=pts_time -of csv=p=0 "$1" | head -n 1 | tr -d ,; }

# ---- 1. Transport-stream start offsets: outputs start at 0, relative timing kept ----
make_ts off.ts 3600 2
make_ts late.ts 3600 2 0.5
n=$(pts_list off.ts | wc -l)
run_ok --input-source off.ts --output-composition off.mp4 --output-alpha off.mkv
for f in off.mp4 off.mkv; do
    same_timing off.ts $f
    near "$(fdur $f)" 2 0.1 || fail "$f lasts $(fdur $f) s for 2 s of video"
done
ok "TS starting at 3601.4 s: $n VFR frames from 0 at the input's relative times, 2 s long"
run_ok --input-source late.ts --output-composition late.mp4
same_timing late.ts late.mp4
near "$(astart late.mp4)" 0.5 0.03 || fail "late.mp4: the audio starts at $(astart late.mp4), not 0.5 s after the video"
ok "audio starting 0.5 s after the video stays 0.5 s after it"

# ---- 2. 33-bit wraps, forward and backward jumps: every frame, in order, evenly spaced ----
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=96x72:rate=25" -t 2 -c:v libx264 \
    -preset ultrafast -output_ts_offset 95441.3 wrap.ts || fail "cannot make wrap.ts"
for off in 10 508 100; do
    ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=96x72:rate=25" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 1 -c:v libx264 -preset ultrafast \
        -c:a aac -output_ts_offset $off seg$off.ts || fail "cannot make seg$off.ts"
done
cat seg10.ts seg508.ts >forward.ts
cat seg508.ts seg100.ts >backward.ts
for in in wrap forward backward; do
    run_ok --input-source $in.ts --output-composition $in.mp4 --output-alpha $in.mkv
    for f in $in.mp4 $in.mkv; do
        got=$(pts_list $f | wc -l)
        [ "$got" -eq 50 ] || fail "$f: $got frames play, the input has 50"
        near "$(first_pts $f)" 0 0.0005 || fail "$f starts at $(first_pts $f)"
        steady $f 0.0405
        near "$(fdur $f)" 2 0.1 || fail "$f lasts $(fdur $f) s"
    done
    playable $in.mp4
    ok "$in.ts: 50 frames from 0, 40 ms apart, 2 s, in .mp4 and .mkv"
done
near "$(ffprobe -v error -select_streams a:0 -show_entries stream=duration -of csv=p=0 forward.mp4)" 2 0.1 ||
    fail "forward.mp4: the audio does not last 2 s"
ok "forward jump: the audio is closed up too"
done_all
