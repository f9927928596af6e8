# rvm batch: a folder, a list and several inputs in one run; outputs named from templates;
# a bad file fails alone (one line, a summary, exit 1, a JSON report; 75 when every failure
# was transient); complete outputs are skipped on the next run and -y redoes them; --jobs runs
# conversions side by side; --progress-fd is the batch's one stream of JSON lines.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

mkdir in
ffmpeg -nostdin -v error -i "$SAMPLE" -vf scale=160:120 -frames:v 8 in/talk.mkv || fail "ffmpeg"
ffmpeg -nostdin -v error -ss 1 -i "$SAMPLE" -vf scale=160:120 -frames:v 6 -c:v libx264 \
    -pix_fmt yuv420p in/walk.mp4 || fail "ffmpeg"
echo "not a video" >in/broken.mp4
echo "notes" >in/README.txt
T="--output-alpha {name}_pha.mp4 --output-composition {name}_com.mp4"

# The batch's own stdout and stderr hold up nothing: here both are pipes full to the brim
# that nobody reads yet (as `rvm batch ... | sleep 1000`, or a terminal held with Ctrl-S).
# The conversions run and end (the report is written); the lines wait in the batch and come
# out whole and in order once a reader reads. The batch blocked at its first line, and with
# it every conversion (the report never came).
mkfifo held1 held2
exec 5<>held1 6<>held2
for f in held1 held2; do
    dd if=/dev/zero of=$f bs=4096 count=1000 oflag=nonblock 2>/dev/null
done
"$RVM" batch -i in --output-dir out $T --jobs 2 --report report.json >held1 2>held2 &
pid=$!
wait_for "[ -s report.json ]" $pid
exec 7<held1 8<held2
exec 5>&- 6>&-
tr -d '\000' <&7 >out.txt &
reader=$!
tr -d '\000' <&8 >err.txt
wait $reader
exec 7<&- 8<&-
wait $pid
RC=$?
[ "$(grep -c '^\[[1-3]/3\] in/[a-z]*[.]m[kp][v4]: done in ' out.txt)" -eq 2 ] &&
    [ "$(wc -l <out.txt)" -eq 2 ] || fail "the stdout lines held back: $(cat out.txt)"
[ $RC -eq 1 ] || fail "a batch with a broken file: exit $RC, want 1 ($(cat err.txt))"
[ "$(wc -l <err.txt)" -eq 3 ] || fail "want a line for README.txt, one for the failure and a summary: $(cat err.txt)"
grep -q "^rvm: batch: in: .*its 1 other file not converted: README.txt (" err.txt ||
    fail "no line names README.txt as not converted: $(cat err.txt)"
grep -q "^rvm: in/broken.mp4: .*not a video" err.txt || fail "failure line: $(cat err.txt)"
grep -q "^rvm: batch: 2 done, 0 skipped, 1 failed (in/broken.mp4)" err.txt || fail "summary: $(cat err.txt)"
ok "a broken file fails alone: $(head -n 1 err.txt)"
ok "the batch's stdout and stderr held full: the conversions ran on, the lines came after"
for n in talk walk; do
    for k in com pha; do
        [ -f out/${n}_$k.mp4 ] || fail "out/${n}_$k.mp4 is missing"
        playable out/${n}_$k.mp4
    done
    run_ok -i in/$n.* --output-alpha one_$n.mp4 --threads 1
    same_times one_$n.mp4 out/${n}_pha.mp4
done
[ ! -e out/broken_com.mp4 ] && [ ! -e out/README_pha.mp4 ] || fail "outputs for a broken or non-video file"
ok "outputs named from the templates, each the same frames at the same times as a single run"
[ "$(grep -c '"status":	"done"' report.json)" -eq 2 ] && [ "$(grep -c '"status":	"failed"' report.json)" -eq 1 ] \
    && grep -q '"failed":	1' report.json && grep -q '"error":	".*not a video' report.json \
    || fail "report: $(cat report.json)"
ok "JSON report with each input's status"
# A truncated input is done (the frames there are right) and its warning is in the report,
# for a program to read: it was "done" with nothing saying the outputs lack frames.
mkdir cut
ffmpeg -nostdin -v error -i "$SAMPLE" -vf scale=160:120 -t 2 -c:v libx264 whole.mkv || fail "ffmpeg"
head -c $(($(wc -c <whole.mkv) / 3)) whole.mkv >cut/cut.mkv
sub batch -i cut --output-dir cutout --output-alpha '{name}_pha.mp4' --report cut.json
[ $RC -eq 0 ] || fail "a truncated input: exit $RC ($(cat err.txt))"
grep -q '"status":	"done"' cut.json &&
    grep -q '"warnings":	\["the input ended early, at .* it is truncated; the outputs hold the [0-9]* frames that were there"\]' cut.json ||
    fail "a truncated input's report: $(cat cut.json)"
grep -q '"warnings"' report.json && fail "whole inputs' report has warnings: $(cat report.json)"
ok "a truncated input: done, its warning in the report"

# Videos with the extensions of DVDs, DV and camcorders, ASF: inputs of a folder (exit 3 "no
# video files" before); other files there are named in one line.
mkdir in2
for f in a.vob b.dv c.asf; do cp in/talk.mkv in2/$f; done
echo "audio" >in2/aud.m4a
echo "notes" >in2/notes.txt
sub batch -i in2 --output-dir out2 --output-alpha '{name}.mp4' --jobs 2 --threads 1
[ $RC -eq 0 ] && [ -f out2/a.mp4 ] && [ -f out2/b.mp4 ] && [ -f out2/c.mp4 ] ||
    fail "a folder of .vob, .dv, .asf: exit $RC, outputs $(ls -A out2 2>&1) ($(cat err.txt))"
grep -q "^rvm: batch: in2: .*its 2 other files not converted: aud.m4a, ... (" err.txt ||
    fail "no line names the files left out: $(cat err.txt)"
ok "a folder of .vob, .dv, .asf converted; $(grep 'not converted' err.txt)"

# Folders named with a trailing slash (as the shell's Tab completes them): the paths in the
# lines, the report and the outputs' names are joined with one slash ("slashin//talk.mkv").
mkdir slashin
cp in/talk.mkv in/broken.mp4 slashin/
sub batch -i slashin/ --output-dir slashout/ --output-alpha {name}_pha.mp4 --report slash.json
[ $RC -eq 1 ] && grep -q "^rvm: slashin/broken.mp4: " err.txt && [ -f slashout/talk_pha.mp4 ] &&
    grep -q '"slashin/talk.mkv"' slash.json ||
    fail "folders with a trailing slash: exit $RC ($(cat err.txt out.txt slash.json))"
! grep -q "//" err.txt out.txt slash.json || fail "doubled slashes: $(cat err.txt out.txt slash.json)"
ok "folders named with a trailing slash: $(head -n 1 err.txt)"
# --flag=VALUE for the batch's own flags, as the conversion's flags take it (--jobs=2 was
# refused; --output-alpha={name}_pha.mp4 went to each conversion as it stood).
sub batch --input-source=in/talk.mkv --output-dir=eqout --output-alpha={name}_pha.mp4 \
    --jobs=2 --threads=1 --report=eq.json
[ $RC -eq 0 ] && [ -f eqout/talk_pha.mp4 ] && [ -f eq.json ] && [ -z "$(find eqout -name '*{name}*')" ] ||
    fail "batch flags as --flag=VALUE: exit $RC ($(cat err.txt; ls -A eqout 2>&1))"
same_times one_talk.mp4 eqout/talk_pha.mp4
ok "the batch's flags as --flag=VALUE"
# A stdout that takes no line (a full disk: /dev/full) loses the "done" lines: the batch
# says so on stderr and exits 75, as a conversion does on such a stdout (it exited 0).
"$RVM" batch -i in/talk.mkv --output-dir fullout --output-alpha {name}_pha.mp4 --threads 1 \
    >/dev/full 2>err.txt
RC=$?
[ $RC -eq 75 ] && [ -f fullout/talk_pha.mp4 ] &&
    grep -q "^rvm: batch: stdout: writing: No space left on device; 1 line of it lost$" err.txt ||
    fail "a batch with its stdout on /dev/full: exit $RC, $(cat err.txt)"
ok "a batch whose stdout is full: exit 75, $(tail -n 1 err.txt)"
# --report was written over whatever it named once the batch ended: its own input (exit 0,
# the video now JSON), with or without -y. Refused up front as every output is (the input,
# an existing file without -y), written under a hidden name; an earlier report is replaced
# without -y (a retried batch writes its report again).
mkdir rep && cp in/talk.mkv rep/a.mkv && sum=$(cksum <rep/a.mkv)
for y in "" -y; do
    sub batch -i rep --output-dir repout --output-alpha '{name}_pha.mp4' --report rep/a.mkv $y
    [ $RC -eq 2 ] && [ "$(cksum <rep/a.mkv)" = "$sum" ] && [ ! -e repout/a_pha.mp4 ] &&
        grep -q "^rvm: batch: --report rep/a.mkv is the input .*refusing to write over it" err.txt ||
        fail "--report naming the input $y: exit $RC ($(cat err.txt); $(head -c 60 rep/a.mkv))"
done
ok "--report naming the input refused: $(cat err.txt)"
echo "notes" >notes.json
sub batch -i rep --output-dir repout --output-alpha '{name}_pha.mp4' --report notes.json
[ $RC -eq 2 ] && [ "$(cat notes.json)" = notes ] && [ ! -e repout/a_pha.mp4 ] &&
    grep -q "^rvm: batch: --report notes.json exists (use -y to overwrite)" err.txt ||
    fail "--report over a file without -y: exit $RC ($(cat err.txt); $(cat notes.json))"
sub batch -i rep --output-dir repout --output-alpha '{name}_pha.mp4' --report notes.json -y
[ $RC -eq 0 ] && grep -q '"done":	1' notes.json && [ -z "$(ls -A | grep '^\.notes')" ] ||
    fail "--report over a file with -y: exit $RC ($(cat err.txt); $(cat notes.json); $(ls -A))"
sub batch -i rep --output-dir repout --output-alpha '{name}_pha.mp4' --report notes.json
[ $RC -eq 0 ] && grep -q '"skipped":	1' notes.json ||
    fail "--report over an earlier report: exit $RC ($(cat err.txt); $(cat notes.json))"
ok "--report over a file only with -y, over an earlier report without"

# A --background that is no colour fails every conversion the same way: refused once before
# any (exit 2, one line), not once per input.
sub batch -i in/talk.mkv --output-dir bgout --output-composition {name}_com.mp4 --background blurple
[ $RC -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: batch: --background blurple: not a colour" err.txt \
    && [ ! -e bgout/talk_com.mp4 ] || fail "a batch with --background blurple: exit $RC: $(cat err.txt)"
ok "a batch with no colour refused at once: $(cat err.txt)"
# A template naming more than the folder takes (255 bytes) failed each input at its rename,
# after its conversion, exit 75 (retried for ever): refused at once.
sub batch -i in/talk.mkv --output-dir longt --output-alpha "{name}$(printf 'a%.0s' $(seq 256)).mp4"
[ $RC -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "is longer than its folder takes (255)" err.txt \
    && [ ! -e longt ] || fail "a 256-byte template: exit $RC, $(cat err.txt)"
ok "a template over the folder's limit refused at once: exit 2"
# The name is the template expanded, not the template: {name} + 247 bytes + .mp4 is 257 bytes,
# but talk + 247 bytes + .mp4 is 255, which the folder takes (refused as the template's 257
# before); and the refusal names the expanded name (with {name}: it named the template).
A247=$(printf 'a%.0s' $(seq 247))
sub batch -i in/talk.mkv --output-dir longt --output-alpha "{name}$A247.mp4" --threads 1
[ $RC -eq 0 ] && [ -f "longt/talk$A247.mp4" ] || fail "a 257-byte template of a 255-byte name: exit $RC, $(cat err.txt)"
sub batch -i in/walk.mp4 --output-dir longt --output-alpha "{name}b$A247.mp4"
[ $RC -eq 2 ] && [ "$(cat err.txt)" = "rvm: batch: --output-alpha longt/walkb$A247.mp4: a name of 256 bytes is longer than its folder takes (255)" ] ||
    fail "a 256-byte expanded name: exit $RC, $(cat err.txt)"
ok "a template's name is checked once expanded, and named so: $(cut -c1-60 err.txt)..."

# A folder's sub-folders of images are inputs too, named after the sub-folder, with or
# without videos beside them; a sub-folder without images is not converted, and one line
# says so.
mkdir -p withsub/shots withsub/notes/deeper seqs/shotA seqs/shotB
cp in/walk.mp4 withsub/
ffmpeg -nostdin -v error -i in/talk.mkv -frames:v 2 withsub/shots/%03d.png
echo "notes" >withsub/notes/README.txt
cp in/walk.mp4 withsub/notes/deeper/
sub batch -i withsub --output-dir subout --output-alpha {name}_pha.mp4
[ $RC -eq 0 ] && [ -f subout/walk_pha.mp4 ] && [ -f subout/shots_pha.mp4 ] ||
    fail "folder with sub-folders: exit $RC, outputs $(ls subout) ($(cat err.txt))"
[ ! -e subout/notes_pha.mp4 ] && [ ! -e subout/deeper_pha.mp4 ] ||
    fail "a sub-folder without images was converted: $(ls subout)"
grep -q "^rvm: batch: withsub: 1 sub-folder without images not converted" err.txt ||
    fail "no line says the sub-folder was not converted: $(cat err.txt)"
ok "a folder's videos and image-sequence sub-folders: $(head -n 1 err.txt)"
# A sub-folder of images that also holds a video is one image sequence (which reads images
# only), and images beside a folder's videos are no input: each is said in one line naming
# what is left out (both were dropped without a word, the batch saying '2 done').
cp in/walk.mp4 withsub/shots/extra.mp4
cp withsub/shots/001.png withsub/cover.png
sub batch -i withsub --output-dir mixout --output-alpha {name}_pha.mp4
[ $RC -eq 0 ] && [ -f mixout/walk_pha.mp4 ] && [ -f mixout/shots_pha.mp4 ] && [ "$(ls mixout | wc -l)" -eq 2 ] ||
    fail "a sub-folder of images with a video: exit $RC, outputs $(ls mixout) ($(cat err.txt))"
grep -q "^rvm: batch: withsub/shots: one image sequence (its images); its 1 video not converted: extra.mp4 (" err.txt ||
    fail "no line names the video of the image sub-folder: $(cat err.txt)"
grep -q "^rvm: batch: withsub: its videos and sub-folders of images are inputs; its 1 image not converted: cover.png (" err.txt ||
    fail "no line names the folder's own image: $(cat err.txt)"
grep -q "2 done, 0 skipped, 0 failed" err.txt || fail "summary: $(cat err.txt)"
# The same named with a trailing slash (both skipped now): the line naming the sub-folder
# has one slash in it, as the inputs' paths (it said withsub//shots).
sub batch -i withsub/ --output-dir mixout --output-alpha {name}_pha.mp4
grep -q "^rvm: batch: withsub/shots: one image sequence (its images); its 1 video not converted" err.txt &&
    ! grep -q "//" err.txt || fail "withsub/ (a trailing slash): $(cat err.txt)"
rm withsub/shots/extra.mp4 withsub/cover.png
ok "what a folder of inputs leaves out is named: $(grep 'not converted: ' err.txt | tr '\n' ' ')"
ffmpeg -nostdin -v error -i in/talk.mkv -frames:v 3 seqs/shotA/%04d.png
ffmpeg -nostdin -v error -i in/walk.mp4 -frames:v 2 "seqs/shotB/frame %d.jpg"
sub batch -i seqs --output-dir seqout --output-alpha {name}_pha.mp4 --input-fps 24
[ $RC -eq 0 ] && [ "$(wc -l <err.txt)" -eq 1 ] ||
    fail "a folder of image sequences: exit $RC ($(cat err.txt))"
grep -q "2 done, 0 skipped, 0 failed" err.txt || fail "a folder of image sequences: $(cat err.txt)"
for n in shotA shotB; do
    run_ok -i seqs/$n --input-fps 24 --output-alpha one_$n.mp4 --threads 1
    same_times one_$n.mp4 seqout/${n}_pha.mp4
done
ok "a folder of image-sequence folders: one input each, named after it"
# With an image of its own beside them (a cover), the folder is one image sequence, as the
# README has it: one line says that its image sub-folders were not converted (the batch said
# only "1 done").
cp seqs/shotA/0001.png seqs/cover.png
sub batch -i seqs --output-dir strayout --output-alpha {name}_pha.mp4 --input-fps 24
[ $RC -eq 0 ] && [ -f strayout/seqs_pha.mp4 ] && [ ! -e strayout/shotA_pha.mp4 ] ||
    fail "a folder of image sequences and an image: exit $RC, $(ls strayout) ($(cat err.txt))"
grep -q "^rvm: batch: seqs: one image sequence (its own images); its 2 sub-folders of images not converted" err.txt ||
    fail "no line says the image sub-folders were not converted: $(cat err.txt)"
rm seqs/cover.png
ok "a folder of image sequences with an image of its own: $(head -n 1 err.txt)"

# Resume: complete outputs are skipped; a missing one is made again; -y redoes everything.
touch -d '2001-01-01' out/talk_com.mp4
rm out/walk_pha.mp4
sub batch -i in/talk.mkv -i in/walk.mp4 --output-dir out $T
[ $RC -eq 0 ] || fail "resume: exit $RC ($(cat err.txt))"
grep -q "1 done, 1 skipped, 0 failed" err.txt || fail "resume summary: $(cat err.txt)"
[ -z "$(find out/talk_com.mp4 -newer in/talk.mkv)" ] || fail "a complete output was converted again"
[ -f out/walk_pha.mp4 ] || fail "the missing output was not made again"
ok "resume: $(cat err.txt)"
sub batch -i in/talk.mkv -i in/walk.mp4 --output-dir out $T -y
grep -q "2 done, 0 skipped" err.txt && [ -n "$(find out/talk_com.mp4 -newer in/talk.mkv)" ] \
    || fail "-y: $(cat err.txt)"
ok "-y converts complete ones again"

# The exit code says what a scheduler needs (README's table): 75 (retry) when every failure
# was transient, as outputs being written by another run are; a retried batch skips what is
# done. Any failure that would fail again the same way (a broken file, 3) makes it 1.
if command -v flock >/dev/null 2>&1; then
    mkdir tr
    exec 8>tr/.talk_pha.mp4.rvm-lock 9>tr/.walk_pha.mp4.rvm-lock
    flock 8 && flock 9 || fail "flock"
    sub batch -i in/talk.mkv -i in/walk.mp4 --output-dir tr --output-alpha {name}_pha.mp4 \
        --threads 1 --report tr.json
    [ $RC -eq 75 ] && [ "$(grep -c '"exit_code":	75' tr.json)" -eq 2 ] ||
        fail "every failure transient: exit $RC, want 75 ($(cat err.txt))"
    ok "every failure transient: exit 75: $(tail -n 1 err.txt)"
    sub batch -i in/talk.mkv -i in/broken.mp4 --output-dir tr --output-alpha {name}_pha.mp4 \
        --threads 1
    [ $RC -eq 1 ] || fail "a transient and a lasting failure: exit $RC, want 1 ($(cat err.txt))"
    ok "a transient and a lasting failure: exit 1: $(tail -n 1 err.txt)"
    exec 8>&- 9>&-
    sub batch -i in/talk.mkv -i in/walk.mp4 --output-dir tr --output-alpha {name}_pha.mp4 \
        --threads 1
    [ $RC -eq 0 ] && grep -q "2 done, 0 skipped, 0 failed" err.txt ||
        fail "the retry once the other runs ended: exit $RC ($(cat err.txt))"
    ok "the retry converts them: $(tail -n 1 err.txt)"
fi

# --progress-fd N: the batch's own progress, one stream of whole JSON lines whatever --jobs:
# each conversion's lines naming its input, where the batch stands, each input's end and a
# last line for the batch; the conversions do not write into N themselves.
sub batch -i in/walk.mp4 --output-dir pg --output-alpha {name}_pha.mp4 --threads 1
[ $RC -eq 0 ] || fail "batch of in/walk.mp4: exit $RC ($(cat err.txt))"
"$RVM" batch -i in/talk.mkv -i in/walk.mp4 -i in/broken.mp4 --output-dir pg \
    --output-alpha {name}_pha.mp4 --jobs 2 --threads 2 --progress-fd 3 3>progress.txt \
    >/dev/null 2>err.txt
RC=$?
[ $RC -eq 1 ] || fail "batch --progress-fd: exit $RC ($(cat err.txt))"
# (Read with python3's json; without python3, only the lines' kinds are checked.)
command -v python3 >/dev/null 2>&1 || python3() {
    [ "$(grep -c '^{"event":"progress","input":"in/talk.mkv",' progress.txt)" -ge 1 ] &&
        [ "$(grep -c '^{"event":' progress.txt)" -eq "$(wc -l <progress.txt)" ] &&
        tail -n 1 progress.txt | grep -q '^{"event":"batch","done":1,"skipped":1,"failed":1,'
}
python3 - progress.txt <<'PY' || fail "batch --progress-fd: $(cat progress.txt)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]  # every line whole JSON
assert all("event" in l for l in lines), "a line that is not the batch's"
ev = lambda e: [l for l in lines if l["event"] == e]
assert lines[-1] == {**lines[-1], "event": "batch", "done": 1, "skipped": 1, "failed": 1,
                     "not_started": 0, "exit_code": 1}, lines[-1]
ends = {l["input"]: l for l in ev("input")}
assert ends["in/talk.mkv"]["status"] == "done" and ends["in/talk.mkv"]["exit_code"] == 0
assert ends["in/broken.mp4"]["status"] == "failed" and ends["in/broken.mp4"]["exit_code"] == 3
assert "not a video" in ends["in/broken.mp4"]["error"]
assert ends["in/walk.mp4"]["status"] == "skipped"
assert sorted(l["finished"] for l in ev("input") if "finished" in l) == [1, 2]
talk = [l for l in ev("progress") if l["input"] == "in/talk.mkv"]
assert talk and talk[-1]["done"] and talk[-1]["frames"] == 8 and talk[-1]["inputs"] == 2
assert lines.index(talk[-1]) < lines.index(ends["in/talk.mkv"])  # its frames, then its end
PY
ok "batch --progress-fd: $(wc -l <progress.txt) JSON lines, the last $(tail -n 1 progress.txt)"
# A reader of --progress-fd that reads nothing for a while (stopped, busy) holds up neither
# the batch nor its conversions: the lines wait in the batch, an input's progress lines
# replaced by its latest, and the reader gets them once it reads. 400 skipped inputs with
# long names (spaces, unicode) are ~100 KB of lines, more than a pipe holds: the batch
# blocked there, before converting anything.
mkdir "sk ü" skout
u=$(printf 'ü%.0s' $(seq 1 90))
for i in $(seq 100 499); do
    : >"sk ü/clip $i $u.mp4"
    : >"skout/clip $i ${u}_pha.mp4"
done
mkfifo fifo
(until [ -e go ]; do sleep 0.1; done; cat >progress2.txt) <fifo &
reader=$!
"$RVM" batch -i "sk ü" -i in/talk.mkv --output-dir skout --output-alpha {name}_pha.mp4 \
    --threads 1 --progress-fd 3 3>fifo >out.txt 2>err.txt &
pid=$!
wait_for "grep -q '^rvm: batch: 1 done, 400 skipped, 0 failed' err.txt" $pid
touch go
wait $pid
RC=$?
wait $reader
[ $RC -eq 0 ] || fail "batch with a reader that waits: exit $RC ($(cat err.txt))"
[ "$(grep -c '^{"event":"input","input":"sk ü/clip [0-9]* [^"]*[.]mp4","status":"skipped"}$' progress2.txt)" -eq 400 ] &&
    [ "$(grep -c '^{"event":' progress2.txt)" -eq "$(wc -l <progress2.txt)" ] &&
    [ "$(grep -c '^{"event":"progress","input":"in/talk.mkv",.*"frames":8,.*"done":true' progress2.txt)" -eq 1 ] &&
    [ "$(grep -c '^{"event":"progress"' progress2.txt)" -eq 1 ] &&
    tail -n 1 progress2.txt | grep -q '^{"event":"batch","done":1,"skipped":400,"failed":0,' ||
    fail "the lines a waiting reader got: $(grep -v skipped progress2.txt)"
ok "a reader that waits holds up nothing and gets every line: $(wc -l <progress2.txt) lines, $(grep -c '"progress"' progress2.txt) of progress"
# Ctrl-C while the batch waits at its end for a reader that takes nothing is a stop: exit 130
# (the exit code chosen before, 0, was kept).
exec 5<>fifo
"$RVM" batch -i "sk ü" --output-dir skout --output-alpha {name}_pha.mp4 --progress-fd 3 \
    3>fifo >out.txt 2>err.txt &
pid=$!
wait_for "grep -q '^rvm: batch: 0 done, 400 skipped, 0 failed' err.txt" $pid
kill -INT $pid
wait $pid
RC=$?
exec 5>&-
[ $RC -eq 130 ] && grep -q "^rvm: batch: --progress-fd 3: its reader took nothing for [0-9]* s; the last [0-9]* lines were not written" err.txt ||
    fail "Ctrl-C in the end wait for a reader that took nothing: exit $RC ($(cat err.txt))"
ok "Ctrl-C in the end wait: exit 130, $(tail -n 1 err.txt)"
sub batch -i in/talk.mkv --output-dir pg --output-alpha {name}_pha.mp4 --progress-fd=7
[ $RC -eq 2 ] && grep -q "^rvm: batch: --progress-fd 7: not an open file descriptor" err.txt ||
    fail "batch --progress-fd=7 (closed): exit $RC ($(cat err.txt))"
ok "a closed descriptor refused: $(cat err.txt)"

# An interrupted batch: the conversion stops cleanly, but its outputs hold only the frames
# done, so they must not be in place (the next run would skip the input as complete); the
# next run converts it again, whole.
ffmpeg -nostdin -v error -stream_loop 5 -i "$SAMPLE" -vf scale=320:240 -c:v libx264 \
    -preset ultrafast long.mkv || fail "ffmpeg"
# under_way DIR [FLAGS]: a batch of long.mkv into DIR, in the background ($pid), once its
# conversion ($child) has written its first frames (its progress says so; waiting for the
# outputs to grow by a size took minutes under the sanitizers).
under_way() {
    dir=$1
    shift
    rm -f way.txt
    "$RVM" batch -i long.mkv --output-dir "$dir" $T --threads 1 --progress-fd 3 "$@" \
        3>way.txt >out.txt 2>err.txt &
    pid=$!
    wait_for "grep -q '\"frames\":[1-9]' way.txt 2>/dev/null" $pid
    child=$(pgrep -P $pid)
    [ -n "$child" ] || fail "no conversion under the batch"
}
# ended CHILD: waits until the process has ended, or is a zombie nobody reaps yet (the test
# may run under a PID 1 that does not, or its parent is stopped) whose other threads have
# ended too: a killed process's first thread can be a zombie while the others still hold its
# files (the outputs' locks; a sanitizer build failed here: a run started at that moment is
# told to retry, exit 75, as it should be).
ended() {
    wait_for "[ ! -e /proc/$1 ] || { grep -q '^State:.*Z' /proc/$1/status &&
              [ \"\$(ls /proc/$1/task 2>/dev/null | wc -l)\" -le 1 ]; }" $$
}
# stop_batch DIR SIGNAL: a batch of long.mkv into DIR gets SIGNAL once its first frames are
# written; RC is its exit code.
stop_batch() {
    under_way "$1" --report "$1.json"
    kill -"$2" $pid
    wait $pid
    RC=$?
}
stop_batch stop INT
[ $RC -eq 130 ] || fail "interrupted batch: exit $RC, want 130 ($(cat err.txt))"
[ ! -e stop/long_com.mp4 ] && [ ! -e stop/long_pha.mp4 ] ||
    fail "an interrupted batch left outputs in place: $(ls -A stop) ($(cat err.txt))"
grep -q "^rvm: long.mkv: .*unfinished outputs were removed" err.txt ||
    fail "no line says the unfinished outputs were removed: $(cat err.txt)"
# The report agrees: its error does not say the outputs hold the frames done.
grep -q '"error":	"interrupted after .* frames: the unfinished outputs were removed' stop.json &&
    grep -q '"outputs_removed":	true' stop.json ||
    fail "the report of an interrupted batch: $(cat stop.json)"
ok "an interrupted batch leaves no output in place: $(grep removed err.txt)"
sub batch -i long.mkv --output-dir stop $T --threads 1
grep -q "1 done, 0 skipped" err.txt || fail "after the interruption: $(cat err.txt)"
# (Against the input's own times: a whole single run of long.mkv, the slowest step under the
# sanitizers, has them too.)
same_timing long.mkv stop/long_pha.mp4
same_timing long.mkv stop/long_com.mp4
ok "the next batch run converts the interrupted input again, whole"
# A closed terminal (SIGHUP) stops the batch the same way, instead of killing it alone.
stop_batch hup HUP
[ $RC -eq 129 ] && grep -q "^rvm: batch: 0 done, 0 skipped, 1 failed" err.txt ||
    fail "SIGHUP to a batch: exit $RC, no summary ($(cat err.txt))"
[ ! -e hup/long_com.mp4 ] && [ ! -e hup/long_pha.mp4 ] ||
    fail "a batch stopped by SIGHUP left outputs in place: $(ls -A hup)"
ok "SIGHUP stops a batch as Ctrl-C does: $(tail -n 1 err.txt)"
# A stop that comes once every frame is in (here while x264's placebo preset encodes the 30
# frames it held back) stops nothing: the outputs are complete and put in place, the input
# counts as done (they were removed: the next run converted it again), and the batch, which
# it stopped nothing of, exits 0 as the conversion does (it exited 130).
ffmpeg -nostdin -v error -i "$SAMPLE" -vf scale=320:240 -frames:v 30 late.mkv || fail "ffmpeg"
rm -f way.txt
"$RVM" batch -i late.mkv --output-dir late $T --threads 1 --preset placebo --report late.json \
    --progress-fd 3 3>way.txt >out.txt 2>err.txt &
pid=$!
wait_for "grep -q '\"frames\":30,' way.txt 2>/dev/null" $pid
kill -INT $pid
wait $pid
RC=$?
[ $RC -eq 0 ] && [ -f late/late_com.mp4 ] && [ -f late/late_pha.mp4 ] &&
    grep -q "^rvm: batch: 1 done, 0 skipped, 0 failed" err.txt &&
    grep -q '"status":	"done"' late.json ||
    fail "a stop after the last frame: exit $RC, $(ls -A late) ($(cat err.txt))"
grep -q "^rvm: late.mkv: a stop came after the last frame: the outputs are complete (30 frames)" err.txt ||
    fail "no line says the stop came after the last frame: $(cat err.txt)"
[ "$(pts_list late/late_com.mp4 | wc -l)" -eq 30 ] && [ "$(pts_list late/late_pha.mp4 | wc -l)" -eq 30 ] ||
    fail "the outputs kept after a late stop do not hold the 30 frames"
ok "a stop after the last frame keeps the complete outputs: $(grep 'after the last' err.txt)"

# The report carries a failed conversion's own last line, also when its unfinished outputs
# were removed: a conversion stopped by the file size limit (it stops by itself, exit 153).
(ulimit -f 100; "$RVM" batch -i long.mkv --output-dir fsz $T --threads 1 --report fsz.json >out.txt 2>err.txt)
RC=$?
[ $RC -eq 1 ] && [ ! -e fsz/long_com.mp4 ] && [ ! -e fsz/long_pha.mp4 ] ||
    fail "file size limit: exit $RC, outputs $(ls -A fsz) ($(cat err.txt))"
grep -q '"error":	"stopped at the file size limit (ulimit -f)' fsz.json && grep -q '"outputs_removed":	true' fsz.json ||
    fail "the report lost the conversion's own error: $(cat fsz.json)"
! grep -q "killed by signal" err.txt || fail "a conversion that stopped itself is said killed: $(cat err.txt)"
ok "report of a conversion stopped at the file size limit: $(grep '"error"' fsz.json)"
# Killed outright (SIGKILL), a conversion printed no last line: its line and the report say
# so. SIGKILL is what the OOM killer sends: transient (75, a scheduler retries the batch).
# The batch's cgroup's OOM kill count (memory.events, memory.oom_control; here a file named
# by RVM_CGROUP_MEMORY_EVENTS) tells the OOM killer's from someone's kill -9: two conversions
# side by side, the count rises by one, one is killed, then the other.
ln long.mkv o1.mkv && ln long.mkv o2.mkv || fail "ln"
echo "oom_kill 0" >events
rm -f way.txt
RVM_CGROUP_MEMORY_EVENTS=$WORK/events "$RVM" batch -i o1.mkv -i o2.mkv --output-dir kill9 $T \
    --jobs 2 --threads 2 --report kill9.json --progress-fd 3 3>way.txt >out.txt 2>err.txt &
pid=$!
wait_for "grep -q '\"input\":\"o1.mkv\".*\"frames\":[1-9]' way.txt 2>/dev/null &&
          grep -q '\"input\":\"o2.mkv\".*\"frames\":[1-9]' way.txt" $pid
c1=$(pgrep -P $pid -f 'o1[.]mkv')
c2=$(pgrep -P $pid -f 'o2[.]mkv')
[ -n "$c1" ] && [ -n "$c2" ] || fail "no conversions under the batch"
printf 'oom 1\noom_kill 1\n' >events
kill -KILL $c1
wait_for "grep -q '^rvm: o1.mkv: killed' err.txt" $pid
kill -KILL $c2
wait $pid
RC=$?
[ $RC -eq 75 ] || fail "conversions killed by SIGKILL: batch exit $RC, want 75 ($(cat err.txt))"
grep -q "^rvm: o1.mkv: killed by the kernel's OOM killer (SIGKILL; the cgroup's OOM kill count rose" err.txt &&
    grep -q "^rvm: o2.mkv: killed by signal 9 (SIGKILL, not by the OOM killer" err.txt &&
    grep -q '"error":	"killed by the kernel.s OOM killer' kill9.json &&
    grep -q '"error":	"killed by signal 9 (SIGKILL, not by the OOM killer' kill9.json ||
    fail "conversions killed by SIGKILL: $(cat err.txt) $(cat kill9.json)"
# Nothing in place (hidden files only): the report says the outputs are not there (it said
# they were, from the exit code).
[ "$(grep -c '"outputs_removed":	true' kill9.json)" -eq 2 ] && [ -z "$(ls kill9)" ] ||
    fail "the report of killed conversions: $(ls -A kill9) $(cat kill9.json)"
ok "conversions killed by SIGKILL: exit 75, $(grep "killed by" err.txt | tr '\n' ' ')"
# A conversion stopped halfway by a signal of its own (not the batch's) removes its
# unfinished outputs itself, while it holds their locks. The batch removed them once the
# conversion had ended, and so also what another run put in place meanwhile: here the
# batch is held (SIGSTOP) from the conversion's end until another output is in place.
# Stopped once its first frames are written (its progress says so: cheap under sanitizers).
mkdir race
"$RVM" batch -i long.mkv --output-dir race $T --threads 1 --progress-fd 3 3>race.txt \
    --report race.json >out.txt 2>err.txt &
pid=$!
wait_for "grep -q '\"frames\":[1-9]' race.txt 2>/dev/null" $pid
child=$(pgrep -P $pid)
[ -n "$child" ] || fail "no conversion under the batch"
kill -STOP $pid
kill -INT $child
ended $child
echo "another run's output" >race/long_pha.mp4
kill -CONT $pid
wait $pid
RC=$?
[ "$(cat race/long_pha.mp4 2>&1)" = "another run's output" ] ||
    fail "the batch removed an output another run put in place: exit $RC ($(cat err.txt))"
# A stop that is not the batch's (`pkill -INT -f 'rvm -i'` from another shell) says nothing
# against the input: transient, exit 75 (it was 1, as for a broken file, and a scheduler gave
# up on the batch).
[ $RC -eq 75 ] && [ ! -e race/long_com.mp4 ] &&
    grep -q "^rvm: long.mkv: interrupted after .* frames: the unfinished outputs were removed" err.txt &&
    grep -q "^rvm: long.mkv: stopped by SIGINT from outside the batch: counted as transient" err.txt ||
    fail "a conversion stopped by a signal of its own: exit $RC, $(ls -A race) ($(cat err.txt))"
# The report says what is there once it ended (it said 'removed' from the exit code): here
# another run's output.
grep -q '"error":	"interrupted after .* (SIGINT from outside the batch: counted as transient' race.json &&
    grep -q '"outputs_removed":	false' race.json ||
    fail "the report of a conversion stopped from outside: $(cat race.json)"
ok "a stopped conversion removes its own unfinished outputs, not another run's; a stop from outside is transient: $(grep interrupted err.txt)"
# The batch itself killed outright (SIGKILL): its conversion dies with it, leaving hidden
# files only. Left running, it put its outputs in place unrecorded and held their locks, so
# that the batch started again at once failed the input ("being written by another run").
under_way batch9
kill -KILL $pid
wait $pid
ended $child
[ ! -e batch9/long_com.mp4 ] && [ ! -e batch9/long_pha.mp4 ] ||
    fail "the conversion of a killed batch ran on and put its outputs in place: $(ls -A batch9)"
sub batch -i long.mkv --output-dir batch9 $T --threads 1
[ $RC -eq 0 ] && grep -q "1 done, 0 skipped, 0 failed" err.txt ||
    fail "the batch again after SIGKILL: exit $RC ($(cat err.txt))"
[ -z "$(find batch9 -name '.*rvm-*')" ] || fail "leftovers of the killed batch: $(ls -A batch9)"
same_timing long.mkv batch9/long_pha.mp4
ok "a batch killed by SIGKILL takes its conversion with it; run again, it converts the input whole"
# --disable-progress given to the batch: each conversion has it once on its command line
# (the batch adds it anyway; it was passed on too).
"$RVM" batch --disable-progress -i long.mkv --output-dir batchdp $T --threads 1 >out.txt 2>err.txt &
pid=$!
# Its output begun: the conversion runs (exec'd, not the batch's fork).
wait_for "[ -n \"\$(find batchdp -name '.*.rvm-part' 2>/dev/null)\" ]" $pid
child=$(pgrep -P $pid)
n=$(tr '\0' '\n' <"/proc/$child/cmdline" | grep -c -x -e --disable-progress)
kill -TERM $pid
wait $pid
[ "$n" -eq 1 ] || fail "a conversion of rvm batch --disable-progress has it $n times"
ok "rvm batch --disable-progress: once on a conversion's command line"

# A list file naming a video and an image folder; PNG sequences, one folder per input.
mkdir frames
ffmpeg -nostdin -v error -i in/talk.mkv -frames:v 4 frames/%03d.png
printf '# inputs\n%s\n\n%s\n' "$WORK/in/walk.mp4" "$WORK/frames" >list.txt
sub batch --list list.txt --output-dir png --output-type png_sequence --output-alpha '{name}/pha' --jobs 2
[ $RC -eq 0 ] || fail "list: exit $RC ($(cat err.txt))"
[ "$(ls png/walk/pha | wc -l)" -eq 6 ] && [ "$(ls png/frames/pha | wc -l)" -eq 4 ] \
    || fail "PNG outputs: $(ls -R png)"
sub batch --list list.txt --output-dir png --output-type png_sequence --output-alpha '{name}/pha'
grep -q "0 done, 2 skipped" err.txt || fail "complete PNG sequences were not skipped: $(cat err.txt)"
ok "list file with a video and an image folder: one PNG folder each, skipped when complete"

# Refusals before anything runs: one line, exit 2. Templates are checked as each conversion
# checks its outputs (uncompressed pixel formats per container, Y4M's, image formats'): a
# template every conversion would refuse failed once per input.
mkdir other
cp in/walk.mp4 other/talk.mp4
for args in "-i in/talk.mkv -i other/talk.mp4 --output-dir o $T|the same name" \
            "-i in/talk.mkv --output-dir o --output-alpha pha.mp4|{name}" \
            "-i in/talk.mkv --output-dir o $T --no-such-flag|unknown option" \
            "-i in/talk.mkv $T|--output-dir" \
            "-i in/talk.mkv --output-dir o --codec rawvideo --output-composition {name}.asf|{name}.asf: a .asf file cannot hold uncompressed" \
            "-i in/talk.mkv --output-dir o -f yuv4mpegpipe:rgb24 --output-alpha {name}.y4m|{name}.y4m: a .y4m file holds gray, .* not rgb24" \
            "-i in/talk.mkv --output-dir o --output-composition {name}.pgm|{name}.pgm: a .pgm image is grey only" \
            "-i in/talk.mkv --output-dir o --output-alpha {name}.mp4 --output-composition {name}.mp4|--output-composition and --output-alpha name the same path"; do
    sub batch ${args%|*}
    [ $RC -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q -- "${args#*|}" err.txt \
        || fail "batch ${args%|*}: exit $RC, $(cat err.txt)"
    ok "refused: $(cat err.txt)"
done
[ ! -e o ] || fail "a refused batch made its output folder"

# An output named as its input ({name}.mkv beside the inputs) is not a complete output to
# skip (it was: '0 done, 1 skipped', exit 0): the conversion refuses it, the input intact.
mkdir self
cp in/talk.mkv self/
sub batch -i self --output-dir self --output-alpha "{name}.mkv"
[ $RC -eq 1 ] && grep -q "is the input" err.txt && cmp -s in/talk.mkv self/talk.mkv \
    || fail "batch writing its output over its input: exit $RC, $(cat err.txt)"
ok "an output named as its input is refused, not skipped: $(head -n 1 err.txt)"
done_all
