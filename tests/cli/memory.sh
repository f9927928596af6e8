# Peak memory of the README's 1080p conversion: walk_1080p_tone.mp4 to an H.264 composition
# with its audio and an H.264 alpha video, default settings, within 250 MB (MiB, as the README
# counts) of resident memory at its peak (issue 14); the same at 4K (the clip scaled as the
# 4K input of docs/PERFORMANCE.md is made) within 500 MB (500,000,000 bytes, as the issue counts). The peak comes within the first second
# (the encoders' frames, the network's scratch memory and the frame buffers are all in place
# once the look-ahead is full: 297 MiB after 30 frames and after all 89 before the change), so
# 1.5 s of the clip is converted. Sixth argument "sanitized": memory under AddressSanitizer
# means nothing, skipped.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
PEAKRSS=$6
[ "$7" = sanitized ] && { echo "SKIP: peak memory is not measured under AddressSanitizer"; exit 77; }
need_shared

LIMIT_KIB=$((250 * 1024))
"$PEAKRSS" "$RVM" --disable-progress -i "$FOOTAGE/walk_1080p_tone.mp4" --duration 1.5 \
    --output-composition com.mp4 --output-alpha pha.mp4 >rss.txt 2>err.txt ||
    fail "the conversion failed: $(cat err.txt)"
peak=$(sed -n 's/^peak_rss_kib //p' rss.txt)
[ -n "$peak" ] || fail "no peak resident memory reported"
# The conversion did what the README says (so the figure is the real one's): both videos
# hold the 45 frames, the composition carries the audio.
for f in com.mp4 pha.mp4; do
    n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of csv=p=0 $f)
    [ "$n" = 45 ] || fail "$f holds $n frames, not 45"
done
[ "$(stream_field com.mp4 a:0 codec_name)" = aac ] || fail "com.mp4 has no AAC audio"
ok "1080p composition with audio + alpha: 45 frames each"
[ "$peak" -le "$LIMIT_KIB" ] ||
    fail "peak resident memory $((peak / 1024)) MiB ($peak KiB) is over $((LIMIT_KIB / 1024)) MiB"
ok "peak resident memory $((peak / 1024)) MiB ($peak KiB), within $((LIMIT_KIB / 1024)) MiB"

# 4K: the first 1.5 s scaled to 3840x2160 as docs/PERFORMANCE.md's 4K input is (bicubic, libx264
# veryfast CRF 20, audio copied), all of it converted. Its peak comes once the decoder holds
# its most pictures (frame ~26 of the full clip before the decoder waited for the pipeline's
# pictures, src/io/reader.c), within these 45 frames.
LIMIT4K_KIB=$((500000000 / 1024))
ffmpeg -v error -y -t 1.5 -i "$FOOTAGE/walk_1080p_tone.mp4" -vf scale=3840:2160:flags=bicubic \
    -c:v libx264 -preset veryfast -crf 20 -c:a copy walk_4k.mp4 ||
    fail "cannot make the 4K input"
"$PEAKRSS" "$RVM" --disable-progress -i walk_4k.mp4 --output-composition com4k.mp4 \
    --output-alpha pha4k.mp4 >rss4k.txt 2>err.txt ||
    fail "the 4K conversion failed: $(cat err.txt)"
peak=$(sed -n 's/^peak_rss_kib //p' rss4k.txt)
[ -n "$peak" ] || fail "no peak resident memory reported at 4K"
for f in com4k.mp4 pha4k.mp4; do
    n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of csv=p=0 $f)
    [ "$n" = 45 ] || fail "$f holds $n frames, not 45"
    [ "$(stream_field $f v:0 width)x$(stream_field $f v:0 height)" = 3840x2160 ] ||
        fail "$f is not 3840x2160"
done
[ "$(stream_field com4k.mp4 a:0 codec_name)" = aac ] || fail "com4k.mp4 has no AAC audio"
ok "4K composition with audio + alpha: 45 frames each"
[ "$peak" -le "$LIMIT4K_KIB" ] ||
    fail "4K: peak resident memory $((peak * 1024)) bytes ($((peak / 1024)) MiB) is over 500000000"
ok "4K: peak resident memory $((peak * 1024)) bytes ($((peak / 1024)) MiB), within 500000000"

# 4K 10-bit HEVC in HLG (BT.2020), what phones record: converted to RGB and tone-mapped to
# SDR, whose 16-bit RGB is converted and tone-mapped in bands of rows (src/io/reader.c,
# hdr_convert), not held as a whole 50 MB frame: ~632 million bytes, 680 million with the
# whole frame. Its decoder alone holds ~110 MB more than the H.264 input's (six 10-bit
# pictures of 25 MB with their motion tables, src/io/reader.c), and its frames reach the
# network as two RGB frames (25 MB each): the 500 million above is not met here
# (docs/PERFORMANCE.md). The peak comes once the decoder holds its most pictures and the
# encoders their look-ahead: the same in the first 0.5 s as in 3 s.
if ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libx265; then
    LIMITHLG_KIB=$((650000000 / 1024))
    ffmpeg -v error -y -t 0.5 -i "$FOOTAGE/walk_1080p_tone.mp4" \
        -vf scale=3840:2160:flags=bicubic,format=yuv420p10le -c:v libx265 -preset ultrafast \
        -x265-params log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc \
        -an hlg4k.mp4 || fail "cannot make the 4K HLG input"
    "$PEAKRSS" "$RVM" --disable-progress -i hlg4k.mp4 --output-composition comhlg.mp4 \
        --output-alpha phahlg.mp4 >rsshlg.txt 2>err.txt ||
        fail "the 4K HLG conversion failed: $(cat err.txt)"
    grep -q "HDR (HLG)" err.txt || fail "the 4K HLG input was not taken as HLG: $(cat err.txt)"
    peak=$(sed -n 's/^peak_rss_kib //p' rsshlg.txt)
    [ -n "$peak" ] || fail "no peak resident memory reported at 4K HLG"
    for f in comhlg.mp4 phahlg.mp4; do
        n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries \
            stream=nb_read_frames -of csv=p=0 $f)
        [ "$n" = 15 ] || fail "$f holds $n frames, not 15"
    done
    [ "$peak" -le "$LIMITHLG_KIB" ] ||
        fail "4K HLG: peak resident memory $((peak * 1024)) bytes ($((peak / 1024)) MiB) is over 650000000"
    ok "4K 10-bit HEVC HLG: peak resident memory $((peak * 1024)) bytes ($((peak / 1024)) MiB), within 650000000"
else
    echo "skipped: 4K HLG (ffmpeg has no libx265)"
fi
done_all
