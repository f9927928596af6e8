# A part that does not fit on its disk is an error (exit 75, transient), never a short part;
# the plain conversion too. Needs root (a 1 MB tmpfs).
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: a full disk is made with mount -t tmpfs, which needs root"; exit 77; }
mkdir full
mount -t tmpfs -o size=1M tmpfs full 2>/dev/null || { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
trap 'umount "$WORK/full"; rm -rf "$WORK"' EXIT

# 640x480 lossless FFV1 frames (~70 KB each): 24 of them do not fit in 1 MB.
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 24 -c:v libx264 -pix_fmt yuv420p in.mp4 \
    || fail "cannot make the test clip"
sub plan in.mp4 --segments 1 --warmup 0 -o f.plan
[ $RC -eq 0 ] || fail "plan: $(cat err.txt)"
sub render --plan f.plan --index 0 --codec ffv1 --output-composition full/com.mkv --threads 1
[ $RC -eq 75 ] || fail "render onto a full disk: exit $RC, want 75 ($(cat err.txt))"
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: .*No space left" err.txt \
    || fail "render onto a full disk: message '$(cat err.txt)'"
[ -z "$(ls -A full/com.mkv.parts)" ] || fail "a failed render left files: $(ls -A full/com.mkv.parts)"
ok "render onto a full disk: $(cat err.txt)"
sub join --plan f.plan --codec ffv1 --output-composition full/com.mkv
[ $RC -eq 4 ] || fail "join after a full disk: exit $RC, want 4"
ok "join names the part missing"
"$RVM" --disable-progress -i in.mp4 --codec ffv1 --output-composition full/plain.mkv \
    --threads 1 >out.txt 2>err.txt
RC=$?
[ $RC -eq 75 ] && [ ! -e full/plain.mkv ] || fail "conversion onto a full disk: exit $RC ($(cat err.txt))"
ok "a conversion onto a full disk: exit 75, no output"
done_all
