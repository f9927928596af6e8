#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Seed corpus for fuzz_media: a few frames of the shared footage cut with FFmpeg into tiny
# files (64x48, 2-3 frames, each well under 50 KB) in the containers and codecs the reader
# meets in practice.
#   media_seeds.sh <out-dir> [<footage-dir>]
# <footage-dir> defaults to $RVM_SHARED_DIR/footage, else ../shared/footage beside the tree.
# A seed whose encoder this FFmpeg lacks is skipped (with a note); the script fails only when
# no seed at all could be made.
set -u
out=${1:?usage: media_seeds.sh <out-dir> [<footage-dir>]}
here=$(cd "$(dirname "$0")" && pwd)
footage=${2:-${RVM_SHARED_DIR:-$here/../../../shared}/footage}
src=$footage/asl_gestures_again.mkv
gif=$footage/preview_head-pose-face-detection-female.gif
av=$footage/walk_1080p_tone.mp4
command -v ffmpeg >/dev/null 2>&1 || { echo "media_seeds.sh: ffmpeg not found" >&2; exit 1; }
[ -f "$src" ] || { echo "media_seeds.sh: no footage at $src" >&2; exit 1; }
mkdir -p "$out" || exit 1

# Every seed starts 1 s in (a picture with a person in it), at 64x48, a few frames.
ff() { # <name> <input> <ffmpeg output options...>
    name=$1 in=$2
    shift 2
    if ffmpeg -nostdin -hide_banner -loglevel error -y -ss 1 -i "$in" "$@" "$out/$name" \
        2>"$out/.err" && [ -s "$out/$name" ]; then
        made=$((made + 1))
    else
        echo "media_seeds.sh: skipped $name: $(head -n 1 "$out/.err")" >&2
        rm -f "$out/$name"
    fi
}
made=0
small="scale=64:48,setsar=1"
ff h264.mkv "$src" -vf "$small" -frames:v 3 -an -c:v libx264 -preset ultrafast -crf 35 \
    -x264-params keyint=2 -pix_fmt yuv420p
# -t, not -frames:v: with a frame limit the muxer stops before any audio packet.
ff h264_aac.mp4 "$av" -vf "$small" -t 0.1 -c:v libx264 -preset ultrafast -crf 35 \
    -pix_fmt yuv420p -c:a aac -b:a 16k -ac 1 -ar 8000 -movflags +faststart
# Rotation metadata (a display matrix): FFmpeg 5 writes it from the "rotate" tag only when the
# stream is copied, so the picture is encoded first, then copied with the tag.
ff .upright.mp4 "$src" -vf "scale=48:64,setsar=1" -frames:v 2 -an -c:v libx264 \
    -preset ultrafast -crf 35 -pix_fmt yuv420p
if [ -f "$out/.upright.mp4" ]; then
    made=$((made - 1))
    for deg in 90 270; do
        ffmpeg -nostdin -hide_banner -loglevel error -y -i "$out/.upright.mp4" -c copy \
            -metadata:s:v:0 rotate=$deg "$out/rot$deg.mp4" && made=$((made + 1))
    done
    rm -f "$out/.upright.mp4"
fi
ff anim.gif "$gif" -vf "$small,fps=10" -frames:v 3 -loop 0
ff frame.png "$src" -vf "$small" -frames:v 1 -update 1
ff vp9.webm "$src" -vf "$small" -frames:v 3 -an -c:v libvpx-vp9 -deadline realtime -cpu-used 8 \
    -b:v 50k -pix_fmt yuv420p
ff prores_alpha.mov "$src" -vf "$small,format=yuva444p10le" -frames:v 2 -an -c:v prores_ks \
    -profile:v 4444 -qscale:v 31
ff mjpeg.avi "$src" -vf "$small" -frames:v 2 -an -c:v mjpeg -q:v 20 -pix_fmt yuvj420p
ff h264_10bit.mkv "$src" -vf "$small" -frames:v 2 -an -c:v libx264 -preset ultrafast \
    -crf 35 -pix_fmt yuv420p10le
rm -f "$out/.err"

# Nothing oversized: a seed above 50 KB would only slow every mutation down.
for f in "$out"/*; do
    [ -f "$f" ] || continue
    if [ "$(wc -c <"$f")" -gt 51200 ]; then
        echo "media_seeds.sh: dropped $(basename "$f"): larger than 50 KB" >&2
        rm -f "$f"
        made=$((made - 1))
    fi
done
[ "$made" -gt 0 ] || { echo "media_seeds.sh: no seeds made" >&2; exit 1; }
echo "media_seeds.sh: $made seeds in $out"
