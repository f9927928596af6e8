#!/bin/sh
# int8 against fp32 on the 300-frame real clip at 1080p, ratio 0.25 (tests/int8_clip.sh):
# per frame, the quality rule of docs/INT8.md; prints the frames beyond it and the worst
# figures, and exits 1 if any frame is beyond it (today: none of 300 with the default mix;
# 11 with 7-bit weights and 8-bit activations).
#   bench/int8_quality.sh BUILD_DIR [SHARED_DIR] [test_int8 options: --set-int8 L,.. --skip N --frames N ...]
# ~2 minutes of CPU; 6-30 minutes on a loaded 2-core machine.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
build=$1
shared=${2:-$(dirname "$0")/../../shared}
shift 2 2>/dev/null || shift $#
clip=$build/tests/int8_clip_1080p.mp4
sh "$(dirname "$0")/../tests/int8_clip.sh" "$shared/footage" "$clip" >/dev/null
exec "$build/tests/test_int8" "$shared/models/rvm_mobilenetv3_from_tfjs.pth" --clip "$clip" --ratio 0.25 --frames 300 "$@"
