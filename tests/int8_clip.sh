#!/bin/sh
# Makes the int8 tests' 300-frame 1080p real clip: the four signing clips of ../shared/footage
# one after the other (cuts included), cropped to 16:9 and upscaled to 1920x1080 exactly as
# walk_1080p_tone.mp4 was made (footage/CATALOG.md), so the int8 tests see what the benchmark
# sees (1080p at ratio 0.25) on 300 real frames; walk_1080p_tone.mp4 alone has only 89.
# usage: int8_clip.sh FOOTAGE_DIR OUT.mp4   (exit 77 without ffmpeg or the footage)
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
footage=$1 out=$2
command -v ffmpeg >/dev/null 2>&1 || { echo "SKIP: ffmpeg is not installed"; exit 77; }
for c in again book sister walk; do
    [ -f "$footage/asl_gestures_$c.mkv" ] || { echo "SKIP: missing $footage/asl_gestures_$c.mkv"; exit 77; }
done
[ -s "$out" ] && { echo "$out is there"; exit 0; }
tmp="$out.part.mp4"
# lossless H.264 (qp 0, ultrafast): the frames are the crop and scale of the decoded clips,
# with no second generation of coding loss, and quick to make
ffmpeg -nostdin -v error -y \
    -i "$footage/asl_gestures_again.mkv" -i "$footage/asl_gestures_book.mkv" \
    -i "$footage/asl_gestures_sister.mkv" -i "$footage/asl_gestures_walk.mkv" \
    -filter_complex "[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0,crop=640:360:0:60,scale=1920:1080:flags=bicubic,format=yuv420p[v]" \
    -map "[v]" -frames:v 300 -c:v libx264 -preset ultrafast -qp 0 "$tmp" || { rm -f "$tmp"; echo "FAIL: ffmpeg"; exit 1; }
mv "$tmp" "$out"
echo "made $out"
