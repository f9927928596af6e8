#!/bin/sh
# The rvmmatte element against rvm_bench (the network alone) at the same size, ratio and
# threads, run alternately so that both see the same machine load:
#   videotestsrc (snow, FORMAT) ! queue ! rvmmatte output=OUTPUT ! fakesink
# Latency is buffer in to buffer out of rvmmatte, from GStreamer's own latency tracer
# (median over the frames after two warm-up frames); fps is frames out per second at
# rvmmatte's source pad (the queue decouples the source).
#   sh bench/gst_bench.sh BUILD_DIR [FRAMES] [ROUNDS]
# Prints one line per run and configuration.
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
BUILD=${1:?usage: gst_bench.sh BUILD_DIR [FRAMES] [ROUNDS]}
FRAMES=${2:-20}
ROUNDS=${3:-2}
export GST_PLUGIN_PATH="$BUILD/gst"
command -v gst-launch-1.0 >/dev/null || { echo "gst_bench: gst-launch-1.0 is not installed"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rvm-gst-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

element() { # W H RATIO FORMAT OUTPUT
    GST_TRACERS="latency(flags=element)" GST_DEBUG="GST_TRACER:7" GST_DEBUG_NO_COLOR=1 \
        gst-launch-1.0 -q videotestsrc num-buffers=$((FRAMES + 2)) pattern=snow ! \
        video/x-raw,width=$1,height=$2,format=$4,framerate=30/1 ! queue ! \
        rvmmatte name=m threads=2 downsample-ratio=$3 output=$5 ! fakesink 2>"$TMP/trace.txt" >/dev/null
    grep "element-latency, .*element=(string)m," "$TMP/trace.txt" |
        sed 's/.*time=(guint64)\([0-9]*\), ts=(guint64)\([0-9]*\).*/\1 \2/' | tail -n +3 >"$TMP/lat.txt"
    n=$(wc -l <"$TMP/lat.txt")
    median=$(cut -d' ' -f1 "$TMP/lat.txt" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] / 1e6}')
    fps=$(awk 'NR==1 {t0=$2} {t1=$2} END {if (NR > 1) printf "%.2f", (NR-1) / ((t1-t0) / 1e9); else print 0}' "$TMP/lat.txt")
    echo "rvmmatte ${1}x$2 ratio $3 $4 -> $5, 2 threads: $n frames, latency median ${median} ms, $fps fps"
}

network() { # W H RATIO
    line=$("$BUILD/bench/rvm_bench" --width "$1" --height "$2" --ratio "$3" --threads 2 --frames "$FRAMES")
    ms=$(echo "$line" | sed 's/.*"ms_per_frame_median": \([0-9.]*\).*/\1/')
    echo "rvm_bench ${1}x$2 ratio $3, 2 threads: $ms ms per frame (network alone)"
}

r=1
while [ $r -le "$ROUNDS" ]; do
    echo "# round $r ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    network 1280 720 0.4
    element 1280 720 0 I420 rgba
    element 1280 720 0 RGB alpha
    network 1920 1080 0.25
    element 1920 1080 0.25 I420 rgba
    element 1920 1080 0.25 RGB alpha
    r=$((r + 1))
done
