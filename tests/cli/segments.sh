# rvm plan / render / join: segments rendered out of order and joined equal a whole run
# (exactly, when the warm-up reaches back to the first frame), with the same frame count,
# timestamps and audio; every refusal is one line with its own exit code.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# A small clip with audio, made from the shipped sample (30 frames, 160x120, AAC tone).
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=440:duration=3 \
    -vf scale=160:120 -frames:v 30 -c:v libx264 -g 12 -pix_fmt yuv420p -c:a aac -shortest \
    in.mp4 || fail "cannot make the test clip"

# ---- exact: warm-up from the first frame makes every segment's state the whole run's ----
sub plan in.mp4 --segments 3 --warmup 1000 -o exact.plan
[ $RC -eq 0 ] || fail "plan: exit $RC: $(cat err.txt)"
grep -q '"frames":	30' exact.plan || fail "plan: frame count is not 30"
ok "plan of 30 frames in 3 segments"
for i in 2 0 1; do
    sub_ok render --plan exact.plan --index $i --output-type png_sequence --output-depth 16 \
        --output-alpha seg/pha --threads 1
done
sub_ok join --plan exact.plan --output-type png_sequence --output-depth 16 --output-alpha seg/pha
run_ok -i in.mp4 --output-type png_sequence --output-depth 16 --output-alpha whole/pha --threads 1
n=$(ls whole/pha | wc -l)
[ "$n" -eq 30 ] && [ "$(ls seg/pha | wc -l)" -eq 30 ] || fail "joined PNG sequence has $(ls seg/pha | wc -l) frames, want $n"
for f in whole/pha/*.png; do
    cmp -s "$f" "seg/pha/$(basename "$f")" || fail "joined frame $(basename "$f") differs from the whole run's"
done
ok "segments warmed up from frame 0, rendered out of order: every 16-bit alpha frame equals the whole run's"

# ---- counts of one are singular ("1 warm-up frames", "only 1 frames" were printed) ----
ffmpeg -nostdin -v error -i in.mp4 -frames:v 1 -an one.mp4 || fail "cannot make one.mp4"
sub plan one.mp4 --segments 2 -o one2.plan
grep -q 'the input has only 1 frame$' err.txt || fail "plan of 1 frame in 2: $(cat err.txt)"
sub_ok plan one.mp4 --segments 1 --warmup 1 -o one.plan
grep -q ': 1 frame in 1 segment (up to 1 frame each, 1 warm-up frame before each)' out.txt \
    || fail "plan of 1 frame: $(cat out.txt)"
sub_ok render --plan one.plan --index 0 --output-alpha one/pha.mp4
ffmpeg -nostdin -v error -i in.mp4 -frames:v 2 -an two.mp4 || fail "cannot make two.mp4"
sub_ok plan two.mp4 --segments 2 --warmup 1 -o two.plan
sub_ok render --plan two.plan --index 1 --output-alpha two/pha.mp4
grep -q 'after 1 warm-up frame)' out.txt || fail "render: $(cat out.txt)"
sub_ok join --plan one.plan --output-alpha one/pha.mp4
grep -q ': 1 frame from 1 part in' out.txt || fail "join: $(cat out.txt)"
ok "plan, render and join say 1 frame, 1 segment, 1 part"

# ---- video parts joined without re-encoding, with the input's audio ----
sub_ok plan in.mp4 --segments 3 --warmup 4 -o v.plan
FLAGS="--output-composition seg/com.mp4 --output-alpha seg/pha.mp4 --threads 1"
for i in 1 2 0; do sub_ok render --plan v.plan --index $i $FLAGS; done
[ -f seg/com.mp4.parts/00001.mp4 ] && [ -f seg/com.mp4.parts/00001.json ] || fail "no part or checksum file"
sub_ok join --plan v.plan $FLAGS
run_ok -i in.mp4 --output-composition whole/com.mp4 --output-alpha whole/pha.mp4 --threads 1
for f in com pha; do
    playable seg/$f.mp4
    same_times whole/$f.mp4 seg/$f.mp4
done
[ "$(stream_field seg/com.mp4 v:0 codec_name)" = h264 ] || fail "joined composition is not H.264"
# The audio is the input's, copied once: the same packets as the whole run's.
a1=$(ffmpeg -nostdin -v error -i whole/com.mp4 -map 0:a -c copy -f md5 -)
a2=$(ffmpeg -nostdin -v error -i seg/com.mp4 -map 0:a -c copy -f md5 -)
[ -n "$a1" ] && [ "$a1" = "$a2" ] || fail "joined audio differs from the whole run's ($a1 / $a2)"
[ -z "$(stream_field seg/pha.mp4 a:0 codec_name)" ] || fail "the alpha video got audio"
# Parts start with a keyframe: frames 0, 10 and 20 are keyframes of the joined file.
keys=$(ffprobe -v error -select_streams v:0 -show_entries frame=key_frame -of csv=p=0 seg/com.mp4 | tr -d ',' | sed '/^$/d' | awk '$1 == 1 { printf "%d,", NR - 1 }')
case "$keys" in 0,*10,*20,*) ;; *) fail "keyframes at $keys, want 0, 10 and 20 among them" ;; esac
# Pixels: the same video up to the encoder's work and the seams (8-bit alpha).
ffmpeg -nostdin -v error -i whole/pha.mp4 -f rawvideo -pix_fmt gray w.gray
ffmpeg -nostdin -v error -i seg/pha.mp4 -f rawvideo -pix_fmt gray s.gray
"$PIXCMP" near8 w.gray s.gray 1.0 255 >cmp.txt || fail "joined alpha is far from the whole run's: $(cat cmp.txt)"
ok "H.264 parts joined: same frame count, timestamps and audio packets as the whole run"

# An MKV whose video starts after 0 (the sample's first frame is at 0.033 s): the reader
# moves every timestamp back by it, the audio too; the join must do the same.
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=300:duration=2 -map 0:v -map 1:a \
    -frames:v 20 -c:v copy -c:a libopus -shortest late.mkv || fail "cannot make the MKV clip"
sub_ok plan late.mkv --segments 2 --warmup 2 -o late.plan
LFLAGS="--input-resize 160 120 --output-composition late/com.mkv --threads 1"
for i in 1 0; do sub_ok render --plan late.plan --index $i $LFLAGS; done
sub_ok join --plan late.plan $LFLAGS
run_ok -i late.mkv --input-resize 160 120 --output-composition late/whole.mkv --threads 1
same_times late/whole.mkv late/com.mkv
a1=$(ffprobe -v error -select_streams a:0 -show_entries packet=pts,dts -of csv=p=0 late/whole.mkv | md5sum)
a2=$(ffprobe -v error -select_streams a:0 -show_entries packet=pts,dts -of csv=p=0 late/com.mkv | md5sum)
[ "$a1" = "$a2" ] || fail "MKV starting late: joined audio timestamps differ from the whole run's"
ok "an MKV starting at 0.033 s: video and audio timestamps as the whole run's"

# ---- MPEG-TS: seeks by time land on any packet, so segments seek to keyframes by byte ----
# H.264 with B-frames and AAC, starting at 1.4 s as ffmpeg's transport streams do.
ffmpeg -nostdin -v error -stream_loop -1 -i "$SAMPLE" -f lavfi -i sine=frequency=500:duration=4 \
    -vf scale=160:120 -frames:v 60 -c:v libx264 -g 12 -bf 2 -pix_fmt yuv420p -c:a aac -shortest \
    -f mpegts in.ts || fail "cannot make the transport stream"
ffmpeg -nostdin -v error -i in.ts -map 0:v -c copy ts.mkv || fail "cannot remux the transport stream"
sub_ok plan in.ts --segments 3 --warmup 5 -o ts.plan
grep -q '"seek_byte"' ts.plan || fail "the transport stream's plan has no byte positions"
sub_ok plan ts.mkv --segments 3 --warmup 5 -o tsmkv.plan
# The same frames warmed up the same way give the same 16-bit alpha only if every segment of
# the transport stream decodes exactly the frames the MKV's seeks (by its index) give.
for i in 2 0 1; do
    sub_ok render --plan ts.plan --index $i --output-type png_sequence --output-depth 16 \
        --output-alpha ts/pha --threads 1
    sub_ok render --plan tsmkv.plan --index $i --output-type png_sequence --output-depth 16 \
        --output-alpha tsmkv/pha --threads 1
done
sub_ok join --plan ts.plan --output-type png_sequence --output-depth 16 --output-alpha ts/pha
sub_ok join --plan tsmkv.plan --output-type png_sequence --output-depth 16 --output-alpha tsmkv/pha
[ "$(ls ts/pha | wc -l)" -eq 60 ] || fail "transport stream: $(ls ts/pha | wc -l) joined frames, want 60"
for f in tsmkv/pha/*.png; do
    cmp -s "$f" "ts/pha/$(basename "$f")" || fail "transport stream: frame $(basename "$f") differs from the same frames in MKV"
done
ok "MPEG-TS segments (seeks to keyframes by byte) give the 16-bit alpha of the same stream in MKV"
TFLAGS="--output-composition ts/com.mp4 --output-alpha ts/pha.mp4 --threads 1"
for i in 1 2 0; do sub_ok render --plan ts.plan --index $i $TFLAGS; done
sub_ok join --plan ts.plan $TFLAGS
run_ok -i in.ts --output-composition ts/whole_com.mp4 --output-alpha ts/whole_pha.mp4 --threads 1
same_times ts/whole_com.mp4 ts/com.mp4
same_times ts/whole_pha.mp4 ts/pha.mp4
a1=$(ffmpeg -nostdin -v error -i ts/whole_com.mp4 -map 0:a -c copy -f md5 -)
a2=$(ffmpeg -nostdin -v error -i ts/com.mp4 -map 0:a -c copy -f md5 -)
[ -n "$a1" ] && [ "$a1" = "$a2" ] || fail "transport stream: joined audio differs from the whole run's"
ffmpeg -nostdin -v error -i ts/whole_pha.mp4 -f rawvideo -pix_fmt gray tsw.gray || fail "cannot decode ts/whole_pha.mp4"
ffmpeg -nostdin -v error -i ts/pha.mp4 -f rawvideo -pix_fmt gray tss.gray || fail "cannot decode ts/pha.mp4"
"$PIXCMP" near8 tsw.gray tss.gray 1.0 255 >cmp.txt || fail "transport stream: joined alpha is far from the whole run's: $(cat cmp.txt)"
ok "MPEG-TS parts joined: the whole run's frame count, timestamps and audio"
# A transport stream cut anywhere (a recording started mid-GOP): its first packets cannot be
# decoded, by a whole run or by a segment; the plan starts at the first frame decoded, as they do.
size=$(stat -c %s in.ts)
tail -c +$((size / 188 / 3 * 188 + 1)) in.ts >cut.ts
sub_ok plan cut.ts --segments 2 --warmup 3 -o cut.plan
CFLAGS="--output-alpha cut/pha.mp4 --threads 1"
for i in 1 0; do sub_ok render --plan cut.plan --index $i $CFLAGS; done
sub_ok join --plan cut.plan $CFLAGS
run_ok -i cut.ts --output-alpha cut/whole_pha.mp4 --threads 1
[ "$(pts_list cut/pha.mp4 | wc -l)" -eq "$(pts_list cut/whole_pha.mp4 | wc -l)" ] ||
    fail "a transport stream cut mid-GOP: $(pts_list cut/pha.mp4 | wc -l) joined frames, a whole run has $(pts_list cut/whole_pha.mp4 | wc -l)"
ok "a transport stream cut mid-GOP: planned from its first decoded frame, joined with the whole run's $(pts_list cut/pha.mp4 | wc -l) frames"

# ---- other codecs join without re-encoding ----
for spec in "prores mov" "ffv1 mkv" "vp9 webm"; do
    set -- $spec
    sub_ok render --plan v.plan --index 0 --codec $1 --output-composition c/$1.$2 --threads 1
    sub_ok render --plan v.plan --index 2 --codec $1 --output-composition c/$1.$2 --threads 1
    sub_ok render --plan v.plan --index 1 --codec $1 --output-composition c/$1.$2 --threads 1
    sub_ok join --plan v.plan --codec $1 --output-composition c/$1.$2
    run_ok -i in.mp4 --codec $1 --output-composition c/whole_$1.$2 --threads 1
    playable c/$1.$2
    same_times c/whole_$1.$2 c/$1.$2
    [ "$(stream_field c/$1.$2 v:0 codec_name)" = "$(stream_field c/whole_$1.$2 v:0 codec_name)" ] \
        || fail "$1: joined codec is $(stream_field c/$1.$2 v:0 codec_name)"
    ok "$1 parts joined in .$2"
done

# A transparent VP9 composition's parts carry alpha_mode=1 (WebM's mark that a stream has
# alpha): the joined file carries it too (it had none, and browsers showed it opaque).
for i in 0 1 2; do
    sub_ok render --plan v.plan --index $i --output-composition c/t.webm --background none --threads 1
done
sub_ok join --plan v.plan --output-composition c/t.webm --background none
[ "$(ffprobe -v error -select_streams v:0 -show_entries stream_tags=alpha_mode -of csv=p=0 c/t.webm)" = 1 ] \
    || fail "the joined transparent .webm has no alpha_mode tag"
ok "a transparent VP9 composition joined in .webm keeps alpha_mode 1"
# Bare frames (--codec rawvideo) in .mkv: the parts' FourCC (Y800 for the grey matte) is
# what Matroska describes them by; join dropped it and the muxer refused the output (exit 2).
for i in 0 1 2; do
    sub_ok render --plan v.plan --index $i --output-alpha c/raw.mkv --codec rawvideo --threads 1
done
sub_ok join --plan v.plan --output-alpha c/raw.mkv --codec rawvideo
run_ok -i in.mp4 --output-alpha c/whole_raw.mkv --codec rawvideo --threads 1
same_times c/whole_raw.mkv c/raw.mkv
ok "rawvideo matte parts joined in .mkv"

# ---- refusals: one line each, with the exit codes rvm --help lists ----
one_line() { # WHAT CODE PATTERN
    [ $RC -eq $2 ] || fail "$1: exit code $RC, want $2 ($(cat err.txt))"
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "$1: not one line: $(cat err.txt)"
    grep -q "^rvm: .*$3" err.txt || fail "$1: message is '$(cat err.txt)'"
    ok "$1: $(cat err.txt)"
}
sub render --plan v.plan --index 3 $FLAGS
one_line "index out of range" 2 "out of range.*0 to 2"
# AVI keeps no start time: parts after the first failed as 'not at its planned time' (exit 3).
sub render --plan v.plan --index 1 --output-alpha w.avi
one_line "render into .avi" 2 "AVI.*\.mkv"
# Parts go into a folder beside the output: stdout made a '-.parts' folder, exit 0, and
# join then failed with exit 75.
sub render --plan v.plan --index 1 --output-alpha - -f nut
one_line "render to stdout" 2 "render: --output-alpha -: .*files"
[ ! -e ./-.parts ] || fail "render to stdout made a '-.parts' folder"
sub render --plan v.plan --index 0 -i in.mp4 $FLAGS
one_line "input flag with a plan" 2 "the plan names the input"
# A codec the container cannot hold: named as given (not the hidden part), nothing made.
sub render --plan v.plan --index 0 --output-alpha bad/pha.mp4 --codec prores
one_line "render of prores into .mp4" 2 "render: bad/pha.mp4: a .mp4 file cannot hold prores"
sub join --plan v.plan --output-alpha bad/pha.mp4 --codec prores
one_line "join of prores into .mp4" 2 "join: bad/pha.mp4: a .mp4 file cannot hold prores"
# The rest of a conversion's output check too (rawvideo pixel formats a container does not
# read back as themselves, a transparent composition without alpha): the same line as a
# conversion's, not the hidden part's name nor 'every part missing' (exit 4).
run -i in.mp4 --output-alpha "bad/p ü.mkv" --codec rawvideo -f matroska:rgb24
conv_line=$(cat err.txt)
for cmd in "render --index 0" join; do
    sub $cmd --plan v.plan --output-alpha "bad/p ü.mkv" --codec rawvideo -f matroska:rgb24
    one_line "$cmd of rawvideo rgb24 into .mkv" 2 "${cmd%% *}: bad/p ü.mkv: a .mkv file holds uncompressed"
    [ "$(sed "s/^rvm: ${cmd%% *}: /rvm: /" err.txt)" = "$conv_line" ] ||
        fail "$cmd: '$(cat err.txt)' is not the conversion's '$conv_line'"
    sub $cmd --plan v.plan --output-composition bad/com.avi --codec rawvideo -f avi:rgb24
    one_line "$cmd of rawvideo rgb24 into .avi" 2 "${cmd%% *}: bad/com.avi: a .avi file stores packed 24-bit RGB"
done
# A render that fails later (a bad background) leaves no parts folder either.
sub render --plan v.plan --index 0 --output-composition bad/com.mp4 --background blurple
one_line "render with a bad background" 2 "blurple"
[ ! -e bad ] || fail "a refused render left $(find bad)"
ok "refused renders leave no folder"
# The plan's input as an output: render made every part (exit 0) and join called them
# missing (exit 4) before it refused the output. Both refuse it up front, also through
# another name, and so is a parts folder that is the input's; nothing is written.
sum_before=$(cksum <in.mp4)
for out in in.mp4 ./in.mp4 "$PWD/in.mp4"; do
    for cmd in "render --index 1" "render --index 1 -y" "join -y"; do
        sub $cmd --plan v.plan --output-composition "$out"
        one_line "$cmd --output-composition $out (the input)" 2 \
            "${cmd%% *}: --output-composition $out is the input.*refusing to write over it"
    done
done
[ ! -e in.mp4.parts ] && [ "$(cksum <in.mp4)" = "$sum_before" ] ||
    fail "a refused render of the input wrote $(ls -d in.mp4* )"
mkdir -p pin.mp4.parts && cp in.mp4 pin.mp4.parts/00001.mp4
sub_ok plan pin.mp4.parts/00001.mp4 --segments 2 -o pin.plan
sub render --plan pin.plan --index 1 --output-alpha pin.mp4
one_line "render whose parts folder holds the input" 2 "render: --output-alpha .*pin.mp4.parts holds the input"
# Plan: -o IN -y replaced the input video with the plan (exit 0).
for y in "" -y; do
    sub plan in.mp4 --segments 2 -o in.mp4 $y
    one_line "plan -o IN $y" 2 "plan: -o in.mp4 is the input.*refusing to write over it"
done
[ "$(cksum <in.mp4)" = "$sum_before" ] || fail "plan -o IN changed the input"
sub join --plan v.plan $FLAGS
one_line "join over the joined outputs without -y" 2 "exists (use -y to overwrite)"
rm seg/com.mp4.parts/00001.json
sub join --plan v.plan $FLAGS -y
one_line "join with a part missing" 4 "indices 1 .*missing"
sub_ok join --plan v.plan $FLAGS --missing
[ "$(cat out.txt)" = 1 ] || fail "--missing printed '$(cat out.txt)', want 1"
ok "--missing prints the index to render again"
sub_ok render --plan v.plan --index 1 $FLAGS
printf 'x' >>seg/pha.mp4.parts/00002.mp4
sub join --plan v.plan $FLAGS -y
one_line "join with a damaged part" 4 "indices 2 .*checksum"
sub_ok render --plan v.plan --index 2 $FLAGS -y
sub_ok render --plan v.plan --index 0 $FLAGS
grep -q "already complete" out.txt || fail "a complete part was rendered again"
ok "a complete part is not rendered again"
# A part of another plan of the same input.
sub_ok plan in.mp4 --segments 3 --warmup 4 -o other.plan
sub_ok render --plan other.plan --index 1 $FLAGS -y
sub join --plan v.plan $FLAGS -y
one_line "join with another plan's part" 4 "indices 1 .*another plan"
sub_ok render --plan v.plan --index 1 $FLAGS -y
sub join --plan v.plan --output-composition seg/com.mp4 --output-alpha seg/pha.mp4 --crf 20
one_line "join with other flags than the parts" 4 "rendered with --crf (not given), this run has 20"
sub_ok join --plan v.plan $FLAGS -y --remove-parts
[ ! -e seg/com.mp4.parts ] || fail "--remove-parts left $(ls seg/com.mp4.parts)"
ok "--remove-parts removes the parts after the join"
# -f is one of those flags: parts rendered into NUT and Matroska under one name were mixed,
# and the join failed with the muxer's vague line (exit 2). The part names both values.
FF="--output-alpha seg/f.nut --threads 1"
for i in 0 1 2; do sub_ok render --plan v.plan --index $i $FF; done
sub join --plan v.plan $FF -f nut
one_line "join -f nut of parts rendered without -f" 4 "rendered with --output-format (not given), this run has nut"
sub_ok render --plan v.plan --index 1 $FF -f matroska -y
sub join --plan v.plan $FF
one_line "join of a part rendered with -f matroska" 4 "indices 1 .*rendered with --output-format matroska, this run has (not given)"
sub_ok render --plan v.plan --index 1 $FF -y
# A join into a pipe whose reader closed it: no retry brings the reader back (exit 1, as a
# conversion's; it exited 75, which schedulers retry).
mkfifo seg/f.nut || fail "cannot make a FIFO"
(timeout 120 head -c 10 <seg/f.nut >/dev/null) &
sub join --plan v.plan $FF
wait
one_line "join into a FIFO whose reader closed it" 1 "join: seg/f.nut: writing: Broken pipe"
rm -f seg/f.nut
# The plan belongs to its input.
cp in.mp4 moved.mp4
sub_ok plan moved.mp4 --segments 2 -o moved.plan
touch -d '2001-01-01' moved.mp4
sub render --plan moved.plan --index 0 --output-alpha m/pha.mp4
one_line "render of a changed input" 3 "not the input this plan was made for"
sub plan - --segments 2 -o pipe.plan <in.mp4
one_line "plan of stdin" 3 "cannot be cut into segments"
mkfifo fifo
sub plan fifo --segments 2 -o fifo.plan
one_line "plan of a FIFO" 3 "cannot be cut into segments"
# A clock that jumps (two streams one after the other, the second 100 s later): a whole run
# closes the jump as it reads, which a segment after it cannot know; refused.
ffmpeg -nostdin -v error -i in.ts -c copy -output_ts_offset 100 -f mpegts later.ts \
    || fail "cannot make the second transport stream"
cat in.ts later.ts >jump.ts
sub plan jump.ts --segments 2 -o jump.plan
one_line "transport stream whose clock jumps" 3 "clock of this mpegts input jumps by [0-9.]* s after video frame 60.*remux"
sub plan in.mp4 --segments 31 -o many.plan
one_line "more segments than frames" 2 "only 30 frames"
sub plan in.mp4 --segments 2 -o v.plan
one_line "plan over an existing plan" 2 "exists"
echo '{"rvm_plan": 1}' >bad.plan
sub render --plan bad.plan --index 0 --output-alpha x.mp4
one_line "not a plan" 3 "not an rvm plan"

# ---- image folders are planned by file index ----
mkdir frames
ffmpeg -nostdin -v error -i in.mp4 -frames:v 12 frames/%03d.png
sub_ok plan frames --segments 2 --warmup 100 -o img.plan
for i in 1 0; do
    sub_ok render --plan img.plan --index $i --output-type png_sequence --output-alpha imgseg --threads 1
done
sub_ok join --plan img.plan --output-type png_sequence --output-alpha imgseg
run_ok -i frames --output-type png_sequence --output-alpha imgwhole --threads 1
for f in imgwhole/*.png; do
    cmp -s "$f" "imgseg/$(basename "$f")" || fail "image folder: joined frame $(basename "$f") differs"
done
ok "image folder planned by index: joined frames equal the whole run's"
# Damaged images (empty files) in it: the 4th, in segment 0's middle, and the 7th, segment
# 1's first (its part starts past it). Each render counts its own and keeps a part one image
# short (both were refused: 5 frames where the plan has 6, exit 3); the joins equal the whole
# run's: the PNG sequence numbered on as its, the video at its times.
cp -r frames dframes
: >dframes/004.png
: >dframes/007.png
sub_ok plan dframes --segments 2 --warmup 100 -o dimg.plan
for i in 1 0; do
    sub_ok render --plan dimg.plan --index $i --output-type png_sequence --output-alpha dimgseg --threads 1
    grep -q "^rvm: warning: 1 damaged image was skipped$" err.txt || fail "render $i of dframes: $(cat err.txt)"
    sub_ok render --plan dimg.plan --index $i --output-alpha dimgseg.mkv --threads 1
done
sub_ok join --plan dimg.plan --output-type png_sequence --output-alpha dimgseg
sub_ok join --plan dimg.plan --output-alpha dimgseg.mkv
run_ok -i dframes --output-type png_sequence --output-alpha dimgwhole --threads 1
run_ok -i dframes --output-alpha dimgwhole.mkv --threads 1
[ "$(ls dimgwhole | wc -l)" -eq 10 ] && [ "$(ls dimgseg | wc -l)" -eq 10 ] ||
    fail "dframes: joined $(ls dimgseg | wc -l) frames, whole $(ls dimgwhole | wc -l), want 10"
for f in dimgwhole/*.png; do
    cmp -s "$f" "dimgseg/$(basename "$f")" || fail "dframes: joined frame $(basename "$f") differs"
done
same_times dimgwhole.mkv dimgseg.mkv
ok "image folder with damaged images: each render counts its own, the joins equal the whole run (10 frames, times)"

# An image folder's rate as a ratio, as the conversion's --input-fps takes it (plan refused
# 24000/1001 while rvm took it).
sub_ok plan frames --segments 2 --input-fps 24000/1001 -o ntsc.plan
for i in 1 0; do sub_ok render --plan ntsc.plan --index $i --output-alpha ntsc.mp4 --threads 1; done
sub_ok join --plan ntsc.plan --output-alpha ntsc.mp4
[ "$(stream_field ntsc.mp4 v:0 avg_frame_rate)" = 24000/1001 ] ||
    fail "plan --input-fps 24000/1001: joined at $(stream_field ntsc.mp4 v:0 avg_frame_rate)"
[ "$(pts_list ntsc.mp4 | wc -l)" -eq 12 ] || fail "plan --input-fps 24000/1001: not 12 frames"
ok "plan --input-fps 24000/1001: an image folder joined at that rate"

# A render's and join's own --input-fps replaces the plan's, 30 as any other (30, the option's
# default, was taken for "not given": the parts and the join had the plan's 24 fps).
sub_ok plan frames --segments 2 --input-fps 24 -o fps24.plan
for i in 1 0; do
    sub_ok render --plan fps24.plan --index $i --output-alpha fps30.mp4 --input-fps 30 --threads 1
done
sub_ok join --plan fps24.plan --output-alpha fps30.mp4 --input-fps 30
[ "$(stream_field fps30.mp4 v:0 avg_frame_rate)" = 30/1 ] ||
    fail "render/join --input-fps 30 over a 24 fps plan: joined at $(stream_field fps30.mp4 v:0 avg_frame_rate)"
ok "render/join --input-fps 30 honoured over the plan's rate"

# An output named with a colon before any slash: its parts (take:2.mp4.parts/...) were opened
# as URLs of protocol "take" (render: "Protocol not found", exit 75, which a cluster retries).
for i in 1 0; do sub_ok render --plan img.plan --index $i --output-alpha take:2.mp4 --threads 1; done
sub_ok join --plan img.plan --output-alpha take:2.mp4
[ "$(pts_list ./take:2.mp4 | wc -l)" -eq 12 ] || fail "take:2.mp4: not 12 frames"
ok "render and join an output named take:2.mp4"

# render_interrupted PLAN CONDITION [WRAPPER...]: renders index 1 of PLAN with $LFLAGS (run
# by WRAPPER, a command that runs rvm as its child, if given), sends rvm SIGINT once CONDITION
# (on its --progress-fd lines, prog.txt) holds; its exit code in RC.
render_interrupted() {
    plan=$1
    cond=$2
    shift 2
    # Emptied first: the background shell truncates it only when it gets to run, and the
    # last render's "done":true line, read before that, let the stop come before rvm started.
    : >prog.txt
    "$@" "$RVM" render --plan "$plan" --index 1 $LFLAGS --progress-fd 3 >out.txt 2>err.txt 3>prog.txt &
    pid=$!
    wait_for "$cond" $pid
    target=$pid
    [ $# -eq 0 ] || target=$(pgrep -P $pid)
    kill -INT $target
    wait $pid
    RC=$?
}

# ---- a render stopped halfway keeps no part, says so, and is rendered again whole ----
ffmpeg -nostdin -v error -stream_loop 5 -i "$SAMPLE" -vf scale=320:240 -c:v libx264 -g 30 \
    -preset ultrafast long.mkv || fail "cannot make long.mkv"
sub_ok plan long.mkv --segments 2 --warmup 2 -o long.plan
LFLAGS="--output-alpha stop/pha.mp4 --threads 1"
render_interrupted long.plan "grep -q '\"frames\":[1-9][0-9]' prog.txt 2>/dev/null"
[ $RC -eq 130 ] || fail "an interrupted render: exit $RC, want 130 ($(cat err.txt))"
[ -z "$(ls -A stop/pha.mp4.parts)" ] || fail "an interrupted render left $(ls -A stop/pha.mp4.parts)"
# It used to say "interrupted: the outputs hold the N frames done", of a part it removed.
grep -q "^rvm: interrupted after [0-9]* of the segment's frames: its part is not kept" err.txt ||
    fail "the interrupted render's line: $(cat err.txt)"
ok "an interrupted render keeps no part and says so: $(cat err.txt)"
sub_ok join --plan long.plan --missing $LFLAGS
[ "$(cat out.txt)" = "0-1" ] || fail "join --missing after the interruption: $(cat out.txt)"
for i in 1 0; do sub_ok render --plan long.plan --index $i $LFLAGS; done
sub_ok join --plan long.plan $LFLAGS
[ "$(pts_list stop/pha.mp4 | wc -l)" -eq "$(pts_list long.mkv | wc -l)" ] ||
    fail "the join after the interruption holds $(pts_list stop/pha.mp4 | wc -l) frames"
ok "rendered again after the interruption and joined: every frame"
# A stop that comes once the segment's every frame is in and encoded, before the part is
# put in place, stopped nothing: the part is complete and kept, exit 0 with the conversion's
# line, as a conversion's late stop (signals.sh). It was removed, "interrupted after 15 of the
# segment's frames: its part is not kept", exit 130. The moment is held open (held_progress):
# waiting instead for x265's flush of held-back frames to outlast the polling missed it on a
# fast machine (exit 0 and no line: the stop came after the run).
ffmpeg -nostdin -v error -i "$SAMPLE" -vf scale=320:240 -frames:v 30 laststop.mkv || fail "ffmpeg"
sub_ok plan laststop.mkv --segments 2 --warmup 2 -o laststop.plan
LFLAGS="--output-alpha laststop/pha.mp4 --threads 1"
render_interrupted laststop.plan "grep -q '\"done\":true' prog.txt 2>/dev/null" held_progress prog.txt
[ $RC -eq 0 ] && [ "$(cat err.txt)" = "rvm: a stop came after the last frame: the outputs are complete (15 frames)" ] ||
    fail "a stop after the segment's last frame: exit $RC, $(cat err.txt)"
sub_ok join --plan laststop.plan --missing $LFLAGS
[ "$(cat out.txt)" = "0" ] || fail "join --missing after a late stop: $(cat out.txt) (0 wanted)"
sub_ok render --plan laststop.plan --index 0 $LFLAGS
sub_ok join --plan laststop.plan $LFLAGS
[ "$(pts_list laststop/pha.mp4 | wc -l)" -eq 30 ] || fail "the join after a late stop: $(pts_list laststop/pha.mp4 | wc -l) frames"
ok "a stop after the segment's last frame keeps its part (exit 0) and it joins"

# ---- a PNG join stopped halfway leaves the old sequence, or nothing ----
# strace stops the join at its 4th link, after 3 frames were put in (deterministic).
IJOIN="join --plan img.plan --output-type png_sequence --output-alpha imgseg"
stop_at_link() { # SIGNAL ARGS...
    sig=$1
    shift
    strace -f -qq -o /dev/null -e trace=link,linkat -e inject=link,linkat:signal=$sig:when=4 \
        "$RVM" "$@" >out.txt 2>err.txt
    RC=$?
}
rm -rf imgseg
stop_at_link KILL $IJOIN
[ $RC -eq 137 ] || fail "SIGKILL at the 4th link: exit $RC ($(cat err.txt))"
[ ! -e imgseg ] || fail "a join killed halfway left imgseg with $(ls imgseg | wc -l) frames"
ok "a PNG join killed halfway leaves no output folder"
# Over an older sequence (other pictures, and a file of the user's) with -y.
rm -rf imgseg && mkdir imgseg
ffmpeg -nostdin -v error -i frames/%03d.png -vf negate -start_number 0 imgseg/%04d.png
echo notes >imgseg/notes.txt
(cd imgseg && md5sum ./* >../old.md5)
stop_at_link TERM $IJOIN -y
[ $RC -eq 143 ] || fail "SIGTERM at the 4th link: exit $RC ($(cat err.txt))"
(cd imgseg && md5sum -c --quiet ../old.md5 >/dev/null 2>&1) || fail "a join stopped halfway changed the older sequence"
[ "$(ls -A imgseg | wc -l)" -eq 13 ] || fail "a join stopped halfway left $(ls -A imgseg | wc -l) files in imgseg, want 13"
[ -z "$(ls -A | grep '^\.imgseg')" ] || fail "a stopped join left $(ls -A | grep '^\.imgseg')"
sub_ok $IJOIN -y
for f in imgwhole/*.png; do
    cmp -s "$f" "imgseg/$(basename "$f")" || fail "joined frame $(basename "$f") over an older sequence differs"
done
[ "$(ls imgseg | wc -l)" -eq 13 ] && [ "$(cat imgseg/notes.txt)" = notes ] || fail "the join over an older sequence left $(ls imgseg)"
[ -z "$(ls -A | grep '^\.imgseg')" ] || fail "the join left $(ls -A | grep '^\.imgseg')"
ok "a PNG join stopped halfway keeps the older sequence; then -y replaces it whole (the user's file kept)"

# A transport stream of intra-refresh H.264 (its keyframes are recovery points): a segment
# whose warm-up starts on one seeks there, and the decoder holds the frames back until the
# picture has recovered, past the warm-up start. Reading then starts over from the first
# byte, where the jump back was taken for a clock jump to close ("no frame at timestamp
# ... has the input changed since it was planned?", exit 1).
ffmpeg -nostdin -v error -stream_loop 2 -i "$SAMPLE" -vf scale=96:72 -pix_fmt yuv420p \
    -c:v libx264 -x264-params intra-refresh=1:keyint=60 -an -f mpegts ir.ts || fail "cannot make ir.ts"
sub_ok plan ir.ts --segments 2 --warmup 0 -o ir0.plan
n=$(sed -n 's/.*"frames":[[:space:]]*\([0-9]*\).*/\1/p' ir0.plan | head -n 1)
ffprobe -v error -select_streams v -show_entries packet=pts,flags -of csv=p=0 ir.ts >irp.txt
# The second keyframe's index in presentation order, then a warm-up that starts on it.
k=$(awk -F, '$1 != "" && $2 ~ /K/ { print $1 }' irp.txt | sort -n | sed -n 2p)
k=$(awk -F, -v k="$k" '$1 != "" && $1 < k { n++ } END { print n + 0 }' irp.txt)
[ "$k" -gt 0 ] && [ "$k" -lt $((n / 2)) ] || fail "ir.ts: second keyframe at frame $k of $n"
sub_ok plan ir.ts --segments 2 --warmup $((n / 2 - k)) -o ir.plan
grep -q "\"warmup_start\":[[:space:]]*$k," ir.plan || fail "ir.plan: the warm-up does not start at frame $k"
render_join ir.plan 2 --output-alpha seg/ir.mkv --codec ffv1
run_ok -i ir.ts --output-alpha whole/ir.mkv --codec ffv1 --threads 1
same_times whole/ir.mkv seg/ir.mkv
ok "intra-refresh MPEG-TS: a segment whose warm-up starts on a recovery point (frame $k of $n)"

# ---- damaged frames: the segmented job skips them as the whole run does ----
# An MJPEG AVI of 20 frames whose 4th, 6th and 14th frames cannot be decoded (their JPEG data
# zeroed: "No JPEG data found"): a whole run skips them with one warning. Segments [0,6),
# [6,13), [13,20), warmed up from frame 0: the 6th is segment 0's last and in segment 1's
# warm-up just before its start; the 14th is segment 2's first, just past segment 1's end
# (decoded there before the frame past it). The render of a segment holding one refused its
# part (4 frames where the plan has 6, exit 3) and join asked for it again, for ever. Each
# render now counts those its part lacks, once (segment 1's none), and the join equals the
# whole run: frame count, timestamps, every 16-bit alpha frame (the PNG sequence numbered on
# as the whole run's).
ffmpeg -nostdin -v error -i "$SAMPLE" -vf scale=160:120 -frames:v 20 -c:v mjpeg -q:v 3 -an dmg.avi ||
    fail "cannot make dmg.avi"
for n in 4 6 14; do
    pkt=$(ffprobe -v error -select_streams v:0 -show_entries packet=pos,size -of csv=p=0 dmg.avi | sed -n ${n}p)
    pos=${pkt#*,} size=${pkt%,*}
    head -c "$size" /dev/zero | dd of=dmg.avi bs=1 seek="$pos" conv=notrunc 2>/dev/null
done
run_ok -i dmg.avi --output-alpha whole/dmg.mkv --threads 1
grep -q "^rvm: warning: 3 damaged video frames or packets were skipped$" err.txt &&
    [ "$(pts_list whole/dmg.mkv | wc -l)" -eq 17 ] ||
    fail "the whole run of dmg.avi: $(pts_list whole/dmg.mkv | wc -l) frames, $(cat err.txt)"
run_ok -i dmg.avi --output-type png_sequence --output-depth 16 --output-alpha whole/dmgpng --threads 1
sub_ok plan dmg.avi --segments 3 --warmup 1000 -o dmg.plan
grep -q '"frames":	20' dmg.plan && [ "$(grep -c '"end":	\(6\|13\|20\)$' dmg.plan)" -eq 3 ] ||
    fail "dmg.plan does not hold the 20 frames in [0,6), [6,13), [13,20)"
for i in 2 0 1; do
    sub_ok render --plan dmg.plan --index $i --output-alpha seg/dmg.mkv --threads 1
    case $i in
    0) grep -q "^rvm: warning: 2 damaged video frames or packets were skipped$" err.txt ;;
    1) [ ! -s err.txt ] ;;
    2) grep -q "^rvm: warning: 1 damaged video frame or packet was skipped$" err.txt ;;
    esac && [ "$(grep -c . err.txt)" -le 1 ] || fail "render $i of dmg.avi: $(cat err.txt)"
    sub_ok render --plan dmg.plan --index $i --output-type png_sequence --output-depth 16 \
        --output-alpha seg/dmgpng --threads 1
done
sub_ok join --plan dmg.plan --output-alpha seg/dmg.mkv
[ ! -s err.txt ] || fail "join of dmg.avi's parts: $(cat err.txt)"
same_times whole/dmg.mkv seg/dmg.mkv
sub_ok join --plan dmg.plan --output-type png_sequence --output-depth 16 --output-alpha seg/dmgpng
[ "$(ls seg/dmgpng | wc -l)" -eq 17 ] && [ "$(ls whole/dmgpng | wc -l)" -eq 17 ] ||
    fail "PNG sequences of dmg.avi: joined $(ls seg/dmgpng | wc -l) frames, whole $(ls whole/dmgpng | wc -l)"
for f in whole/dmgpng/*.png; do
    cmp -s "$f" "seg/dmgpng/$(basename "$f")" || fail "dmg.avi: joined frame $(basename "$f") differs from the whole run's"
done
# From a pipe (not seeked: the frames before --start are decoded and dropped) from the 7th
# frame on, just after the damaged 6th: the outputs lack the 14th only.
run_ok -i - --start 0.2 --output-alpha dmgstart.mkv <dmg.avi
grep -q "^rvm: warning: 1 damaged video frame or packet was skipped$" err.txt &&
    [ "$(grep -c . err.txt)" -eq 1 ] && [ "$(pts_list dmgstart.mkv | wc -l)" -eq 13 ] ||
    fail "dmg.avi from the 7th frame: $(pts_list dmgstart.mkv | wc -l) frames, $(cat err.txt)"
# Likewise a --duration ending just before the damaged 6th frame (decoded before the 7th
# ends the run): "2 damaged ..." was said of outputs lacking the 4th only.
run_ok -i dmg.avi --duration 0.16 --output-alpha dmgdur.mkv
grep -q "^rvm: warning: 1 damaged video frame or packet was skipped$" err.txt &&
    [ "$(grep -c . err.txt)" -eq 1 ] && [ "$(pts_list dmgdur.mkv | wc -l)" -eq 4 ] ||
    fail "dmg.avi's first 0.16 s: $(pts_list dmgdur.mkv | wc -l) frames, $(cat err.txt)"
ok "damaged frames at a segment's middle, end and start: each render counts its own once, the join equals the whole run (17 frames, times, 16-bit alpha)"
# A part short by frames its render did not see damaged is still refused: its checksum
# file claiming 2 damaged frames, or none, where the render saw 1.
cp seg/dmg.mkv.parts/00002.json dmg2.json
for d in 0 2; do
    sed "s/\"damaged\":[[:space:]]*1,/\"damaged\":	$d,/" dmg2.json >seg/dmg.mkv.parts/00002.json
    cmp -s dmg2.json seg/dmg.mkv.parts/00002.json && fail "no damaged count in $(cat dmg2.json)"
    sub join --plan dmg.plan --output-alpha seg/dmg.mkv -y
    one_line "a part short by a frame its checksum file calls damaged $d times" 4 "indices 2 .*wrong frame count"
done
cp dmg2.json seg/dmg.mkv.parts/00002.json
ok "a part whose checksum file accounts for other than its damaged frames is refused (wrong frame count)"

# ---- names near the folder's limit (255 bytes) ----
# A plan's temporary .NAME.<hex> (18 bytes more) and a render's <output>.parts (6 more) passed
# the limit for names a folder takes ("File name too long", exit 75): then shortened as the
# outputs' hidden names are (first bytes cut between UTF-8 characters, '~', a hash), the same
# for every render and the join.
mkdir longn
LP=longn/$(printf 'p%.0s' $(seq 245)).plan
sub_ok plan in.mp4 --segments 2 --warmup 2 -o "$LP"
LO=longn/$(printf '\303\274%.0s' $(seq 124)).mkv
for i in 1 0; do sub_ok render --plan "$LP" --index $i --output-alpha "$LO" --threads 1; done
parts=$(ls longn | grep '\.parts$')
[ "$(echo "$parts" | wc -l)" -eq 1 ] && [ -f "longn/$parts/00000.mkv" ] && [ -f "longn/$parts/00001.json" ] ||
    fail "the renders into a 252-byte name left: $(ls -a longn)"
ls -a longn | iconv -f UTF-8 -t UTF-8 >/dev/null || fail "the parts folder's name was cut inside a character"
sub_ok join --plan "$LP" --output-alpha "$LO" --remove-parts
[ "$(pts_list "$LO" | wc -l)" -eq 30 ] || fail "the joined 252-byte output does not hold the 30 frames"
[ "$(ls -A longn | wc -l)" -eq 2 ] || fail "left beside the plan and the output: $(ls -A longn)"
ok "a 250-byte plan name and a 252-byte output name: planned, rendered into a shortened parts folder, joined"
# A name over the folder's limit (256 bytes) can only fail at the rename, after the whole job
# (exit 75, retried for ever by a scheduler): refused first, exit 2, nothing done.
L256=$(printf 'a%.0s' $(seq 252)).mkv
run -i in.mp4 --output-alpha "longn/$L256"
one_line "a conversion into a 256-byte name" 2 "a name of 256 bytes is longer than its folder takes (255)"
sub plan in.mp4 --segments 2 --warmup 2 -o "longn/$L256"
one_line "a plan into a 256-byte name" 2 "plan: -o .*a name of 256 bytes"
sub render --plan "$LP" --index 0 --output-alpha "longn/$L256"
one_line "a render into a 256-byte name" 2 "a name of 256 bytes"
sub join --plan "$LP" --output-alpha "longn/$L256"
one_line "a join into a 256-byte name" 2 "a name of 256 bytes"
[ "$(ls -A longn | wc -l)" -eq 2 ] || fail "the refused 256-byte names left: $(ls -A longn)"
# A plan into a folder that is not there, or under a file, is the argument's mistake: exit 2,
# naming the folder, before the input is scanned (exit 75, as a failed write, before). A
# render under a file likewise, named as given with "render:" (it named its hidden part).
sub plan in.mp4 --segments 2 -o "no dir/x.plan"
one_line "a plan into a missing folder" 2 "plan: -o no dir/x.plan: cannot write in no dir: no such folder$"
sub plan in.mp4 --segments 2 -o in.mp4/sub/x.plan
one_line "a plan under a file" 2 "plan: -o in.mp4/sub/x.plan: cannot write in in.mp4: not a folder$"
sub render --plan v.plan --index 0 --output-alpha in.mp4/sub/pha.mp4
one_line "a render under a file" 2 "render: --output-alpha in.mp4/sub/pha.mp4: cannot write in in.mp4: not a folder$"
[ ! -e "no dir" ] && [ -f in.mp4 ] || fail "the refused plans left something"
done_all
