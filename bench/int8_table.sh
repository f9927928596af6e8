#!/bin/sh
# The int8 per-layer table of docs/INT8.md: for every layer that can run in int8, the error it
# adds when it alone is int8 (all others fp32) and its time in both precisions, on the int8
# tests' 1080p clip at ratio 0.25 (frames 246-272 by default: its hardest stretch), single
# thread, CPU time per call. Also the default mix's and the all-int8 figures on those frames.
#   bench/int8_table.sh BUILD_DIR [SHARED_DIR] [test_int8 options...]
# e.g. bench/int8_table.sh build ../shared --skip 0 --frames 300 (the whole clip: hours here)
#      bench/int8_table.sh build ../shared --golden ../shared/golden/official_256x192_r1
# The times are only comparable within one run; on a loaded machine they are CPU times, not
# wall times. The int8 kernels used are the best set the CPU runs (AVX2 without VNNI).
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
build=$1
shared=${2:-$(dirname "$0")/../../shared}
shift 2 2>/dev/null || shift $#
clip=$build/tests/int8_clip_1080p.mp4
case " $* " in
*" --golden "*) set -- --table --threads 1 "$@" ;;
*)
    sh "$(dirname "$0")/../tests/int8_clip.sh" "$shared/footage" "$clip" >/dev/null
    set -- --clip "$clip" --ratio 0.25 --skip 246 --frames 27 --table --threads 1 "$@" ;;
esac
exec "$build/tests/test_int8" "$shared/models/rvm_mobilenetv3_from_tfjs.pth" "$@"
