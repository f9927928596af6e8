# Audio is kept: copied into composition/foreground videos when the container holds it,
# re-encoded (Opus) for WebM; present with the input's duration; --no-audio drops it; the
# alpha matte never gets audio.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
need_shared

IN=$FOOTAGE/walk_1080p_tone.mp4
adur() { ffprobe -v error -select_streams a:0 -show_entries format=duration -of csv=p=0 "$1"; }
in_dur=$(ffprobe -v error -select_streams a:0 -show_entries stream=duration -of csv=p=0 "$IN")

run_ok --input-source "$IN" --input-resize 192 108 --output-composition com.mp4 \
    --output-foreground fgr.webm --output-alpha pha.mp4
[ "$(stream_field com.mp4 a:0 codec_name)" = aac ] || fail "com.mp4 has no AAC audio"
[ "$(stream_field fgr.webm a:0 codec_name)" = opus ] || fail "fgr.webm has no Opus audio"
[ -z "$(stream_field pha.mp4 a:0 codec_name)" ] || fail "the alpha matte got audio"
same_timing "$IN" com.mp4
same_timing "$IN" fgr.webm
for f in com.mp4 fgr.webm; do
    playable $f
    # The audio lasts as long as the input's (decoded samples, not header claims).
    d=$(ffmpeg -nostdin -v error -i $f -map 0:a -f null - -stats 2>&1 | tr '\r' '\n' |
        sed -n 's/.*time=\([0-9:.]*\).*/\1/p' | tail -n 1 |
        awk -F: '{ print $1 * 3600 + $2 * 60 + $3 }')
    awk -v a="$d" -v b="$in_dur" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.05) }' \
        || fail "$f: audio lasts $d s, the input's $in_dur s"
    ok "$f: audio of $d s (input $in_dur s), video at the input's times"
done
# Copied, not re-encoded: the very same packets.
ffmpeg -nostdin -v error -i "$IN" -map 0:a -c copy -f data - | md5sum >a_in.txt
ffmpeg -nostdin -v error -i com.mp4 -map 0:a -c copy -f data - | md5sum >a_out.txt
cmp -s a_in.txt a_out.txt || fail "com.mp4: the AAC packets differ from the input's"
ok "AAC stream copied bit for bit"
# MPEG-TS holds AAC, MP3 and AC-3 as they are (its muxer answers neither yes nor no when
# asked; every track was re-encoded): copied, they decode to the samples ffmpeg's own
# -c copy into .ts gives.
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=440:duration=2 \
    -f lavfi -i sine=frequency=660:duration=2 -map 0:v -map 1:a -map 2:a -t 1.3 \
    -vf scale=160:120 -c:v libx264 -c:a:0 aac -c:a:1 libmp3lame tracks.mkv ||
    fail "cannot make tracks.mkv"
run_ok --input-source tracks.mkv --output-composition com.ts
ffmpeg -nostdin -v error -i tracks.mkv -map 0 -c copy ff.ts || fail "ffmpeg -c copy into .ts"
for a in 0 1; do
    want=$(ffmpeg -nostdin -v error -i ff.ts -map 0:a:$a -f md5 -)
    got=$(ffmpeg -nostdin -v error -i com.ts -map 0:a:$a -f md5 -)
    [ -n "$want" ] && [ "$got" = "$want" ] ||
        fail "com.ts: audio track $a ($(stream_field com.ts a:$a codec_name)) is not the input's, copied"
done
ok "AAC and MP3 copied into MPEG-TS (the samples of ffmpeg -c copy)"

run_ok --input-source "$IN" --input-resize 192 108 --duration 1 --no-audio \
    --output-composition noaudio.mp4
[ -z "$(stream_field noaudio.mp4 a:0 codec_name)" ] || fail "--no-audio kept audio"
ok "--no-audio"

# MP3 below 16 kHz (MPEG-2.5, as old cameras record it) is outside the MP4 standard: FFmpeg's
# muxer refused it there (exit 75, "writing the header: Invalid argument"). It becomes AAC
# in .mp4 and is copied into .mov, which takes it.
ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=96x72:r=25:d=1 -f lavfi -i sine=f=440:r=11025:d=1 \
    -c:v libx264 -c:a libmp3lame mp3_11k.mkv || fail "cannot make the MP3 clip"
run_ok --input-source mp3_11k.mkv --output-composition mp3.mp4 --output-foreground mp3.mov
[ "$(stream_field mp3.mp4 a:0 codec_name),$(stream_field mp3.mp4 a:0 sample_rate)" = aac,11025 ] ||
    fail "mp3.mp4 audio: $(stream_field mp3.mp4 a:0 codec_name)"
[ "$(stream_field mp3.mov a:0 codec_name)" = mp3 ] || fail "mp3.mov audio: $(stream_field mp3.mov a:0 codec_name)"
playable mp3.mp4
playable mp3.mov
# .f4v and .psp are written by the same muxer, which refused it there too (exit 75).
for ext in f4v psp; do
    run_ok --input-source mp3_11k.mkv --output-composition mp3.$ext
    [ "$(stream_field mp3.$ext a:0 codec_name)" = aac ] || fail "mp3.$ext audio: $(stream_field mp3.$ext a:0 codec_name)"
    playable mp3.$ext
done
ok "MP3 at 11025 Hz: AAC in .mp4, copied into .mov; AAC in .f4v and .psp"

# Surround re-encoded stays surround, each channel in its place: 5.1 with side channels (as
# AC-3 and PCM carry it) became stereo in AAC and Opus. Channel k holds a 60 Hz tone at (k + 1) / 10: the levels rise channel by
# channel in the outputs as in the input.
lv="0.1*sin(2*PI*60*t)"
for k in 2 3 4 5 6; do lv="$lv|0.$k*sin(2*PI*60*t)"; done
ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=96x72:r=25:d=1 \
    -f lavfi -i "aevalsrc=$lv:c=5.1(side):s=48000:d=1" -c:v libx264 -c:a pcm_s16le s51.mov ||
    fail "cannot make the 5.1 clip"
run_ok --input-source s51.mov --output-composition s51.mp4 --output-foreground s51.webm
for f in s51.mp4 s51.webm; do
    [ "$(stream_field $f a:0 channel_layout)" = 5.1 ] || fail "$f audio is $(stream_field $f a:0 channel_layout)"
    ffmpeg -nostdin -i $f -map 0:a -af astats=measure_overall=none:measure_perchannel=RMS_level \
        -f null - 2>&1 | sed -n 's/.*RMS level dB: //p' >lv.txt
    [ "$(wc -l <lv.txt)" -eq 6 ] && awk 'NR > 1 && $1 <= p { bad = 1 } { p = $1 } END { exit bad }' lv.txt ||
        fail "$f: channel levels $(tr '\n' ' ' <lv.txt)"
done
ok "5.1 (side) re-encoded as 5.1 in AAC and Opus, channels in order"
done_all
