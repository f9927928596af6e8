# Every bad input or setting: one line on stderr starting "rvm: ", a non-zero exit that is
# not a crash (< 128), and no output left behind; inputs are never written over.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# expect_error "what" rvm-args... (outputs are named out.* or out/)
expect_error() {
    what=$1
    shift
    rm -rf out.mp4 out
    run "$@"
    [ $RC -ne 0 ] || fail "$what: exit code 0"
    [ $RC -lt 128 ] || fail "$what: died with exit code $RC (a crash?)"
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "$what: stderr is not one line: $(cat err.txt)"
    grep -q '^rvm: ' err.txt || fail "$what: stderr does not start with 'rvm: ': $(cat err.txt)"
    [ ! -e out.mp4 ] && ! ls -a | grep -q rvm-part || fail "$what: an output was left behind"
    [ ! -d out ] || [ -z "$(ls out)" ] || fail "$what: frames were left in out/"
    ok "$what -> $(cat err.txt)"
}

# The exit code README's table gives it: 2 for the flags' or arguments' mistake (an output
# that exists without -y, two outputs on one path, a colour that is none: the same on every
# retry), 3 for a bad input file, 1 (which a cluster retries) for nothing of these.
expect_code() {
    [ $RC -eq $1 ] || fail "$2: exit code $RC, want $1 ($(cat err.txt))"
}

S="--input-source $SAMPLE --input-resize 64 48"
cp "$SAMPLE" in.mkv
sum_before=$(md5sum <in.mkv)

expect_error "missing input" --input-source missing.mp4 --output-alpha out.mp4
# A missing file with a colon in its name is missing, not "Protocol not found" (FFmpeg has no
# protocol "take"; an existing take:2.mkv is read as a file, see inputs.sh).
expect_error "missing input take:2.mkv" --input-source take:2.mkv --output-alpha out.mp4
grep -qx "rvm: take:2.mkv: no such file or folder" err.txt || fail "take:2.mkv: $(cat err.txt)"
expect_error "output is the input" --input-source in.mkv --output-alpha in.mkv -y
expect_code 2 "output is the input"
expect_error "output is the input via ./" --input-source in.mkv --output-composition ./in.mkv -y
expect_code 2 "output is the input via ./"
# A file where an output's folder should be: the name's mistake, exit 2 (it was 1).
expect_error "a file as the output's folder" --input-source in.mkv --output-alpha in.mkv/out.mp4
expect_code 2 "a file as the output's folder"
grep -qx "rvm: --output-alpha in.mkv/out.mp4: in.mkv is not a folder" err.txt ||
    fail "a file as the output's folder: $(cat err.txt)"
ln -s in.mkv link.mkv
expect_error "output is a link to the input" --input-source in.mkv --output-alpha link.mkv -y
expect_code 2 "output is a link to the input"
[ "$(md5sum <in.mkv)" = "$sum_before" ] || fail "the input was modified"
ok "the input is untouched"
echo keep >exists.mp4
expect_error "existing output without -y" $S --output-alpha exists.mp4
expect_code 2 "existing output without -y"
# a local file that is an HLS playlist naming another local file: it would read that file
printf '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3,\nfile://%s/in.mkv\n#EXT-X-ENDLIST\n' "$PWD" > playlist.bin
expect_error "a playlist that reads other files" --input-source playlist.bin --output-alpha out.mp4
# a stream that starts small and then grows past the 16384-per-side limit
ffmpeg -v error -f lavfi -i color=c=red:s=64x48 -frames:v 1 -f mjpeg small.mjpeg
ffmpeg -v error -f lavfi -i color=c=blue:s=20000x16 -frames:v 1 -f mjpeg wide.mjpeg
cat small.mjpeg wide.mjpeg > grow.mjpeg
expect_error "a frame above the size limit mid-stream" --input-source grow.mjpeg --output-alpha out.mp4
# a GIF header and nothing else: FFmpeg probes it as a GIF with no picture size; the line
# names the file, as every other bad input's does (a batch or rvm serve shows it alone)
printf 'GIF89a garbage' >fake.gif
expect_error "a GIF with no picture size" --input-source fake.gif --output-alpha out.mp4
grep -q '^rvm: fake.gif: ' err.txt || fail "the bad GIF's line does not name it: $(cat err.txt)"
# An animated WebP, which FFmpeg 5.1 cannot decode (its decoder skips the ANIM and ANMF
# chunks: "no valid frame size"), is named as such with a way around it; alone, in a folder of
# images and as a background. A still WebP is read as before.
ffmpeg -v error -f lavfi -i testsrc=s=64x48:r=10 -frames:v 4 -c:v libwebp_anim -loop 0 anim.webp \
    || fail "cannot make an animated WebP"
ffmpeg -v error -f lavfi -i testsrc=s=64x48 -frames:v 1 -c:v libwebp still.webp || fail "cannot make a WebP"
if ffprobe -v error -show_entries stream=width -of csv=p=0 anim.webp 2>/dev/null | grep -q '[1-9]'; then
    ok "this FFmpeg reads animated WebP: nothing to say about it"
else
    expect_error "an animated WebP" --input-source anim.webp --output-alpha out.mp4
    grep -q "^rvm: anim.webp: animated WebP cannot be decoded by this FFmpeg ([0-9.]*); convert it to a video first, e.g. with ImageMagick and ffmpeg: mkdir frames && convert anim.webp -coalesce frames/%04d.png && ffmpeg -framerate RATE -i frames/%04d.png -pix_fmt yuv420p video.mp4$" err.txt \
        || fail "animated WebP: $(cat err.txt)"
    expect_code 3 "an animated WebP"
    mkdir webps && cp still.webp webps/0000.webp && cp anim.webp webps/0001.webp
    expect_error "an animated WebP in a folder" --input-source webps --output-alpha out.mp4
    grep -q "^rvm: webps/0001.webp: animated WebP cannot be decoded" err.txt || fail "animated WebP in a folder: $(cat err.txt)"
    expect_error "an animated WebP background" $S --output-composition out.mp4 --background anim.webp
    grep -q "^rvm: background: anim.webp: animated WebP cannot be decoded" err.txt || fail "animated WebP background: $(cat err.txt)"
    # The advice works for a background: a video (it advised a folder of frames, which
    # --background refuses).
    grep -q "convert it to a video first" err.txt && ! grep -q "reads the folder" err.txt ||
        fail "animated WebP background's advice: $(cat err.txt)"
fi
run_ok --input-source still.webp --output-alpha still_pha.png
[ "$(stream_field still_pha.png v:0 width)" = 64 ] || fail "a still WebP: no 64-pixel-wide matte"
ok "a still WebP is read"
for r in 0 -1 1.5 nan inf abc ""; do
    expect_error "--downsample-ratio '$r'" $S --output-alpha out.mp4 --downsample-ratio "$r"
done
expect_error "no output" $S
expect_error "no input" --output-alpha out.mp4
expect_error "unknown option" $S --output-alpha out.mp4 --frobnicate
# ffmpeg's -o (rvm plan's plan file) was only "unknown option '-o' (see rvm --help)"; so were
# -o=out.mp4 and --output=out.mp4 still.
for o in "-o out.mp4" "--output out.mp4" "-o=out.mp4" "--output=out.mp4"; do
    flag=${o%%[ =]*}
    # shellcheck disable=SC2086
    expect_error "$o" $S $o
    grep -qx "rvm: unknown option '$flag': name each output by what it holds, --output-composition, --output-alpha or --output-foreground (see rvm --help)" err.txt ||
        fail "$o: $(cat err.txt)"
    expect_code 2 "$o"
done
# rvm render and join (and batch) take the conversion's flags: their lines pointed to rvm --help,
# not to their own help, which names their output flags.
sub plan in.mkv --segments 2 -o errs.plan
[ $RC -eq 0 ] || fail "rvm plan: $(cat err.txt)"
for c in "render:-o:render --plan errs.plan --index 0 -o out.mp4" \
    "join:--output:join --plan errs.plan --output=out.mp4" \
    "batch:-o:batch -i in.mkv --output-dir out --output-alpha {name}.mp4 -o=out.mp4"; do
    cmd=${c%%:*} flag=${c#*:} args=${c#*:*:}
    flag=${flag%%:*}
    # shellcheck disable=SC2086
    sub $args
    [ $RC -eq 2 ] && grep -qx -- "rvm: $cmd: unknown option '$flag': name each output by what it holds, --output-composition, --output-alpha or --output-foreground (see rvm $cmd --help)" err.txt ||
        fail "rvm $args: exit $RC, $(cat err.txt)"
    "$RVM" $cmd --help | grep -q -- "--output-composition|--output-alpha|--output-foreground" ||
        fail "rvm $cmd --help does not name the output flags"
    ok "rvm $args -> $(cat err.txt)"
done
rm -rf errs.plan out
# A .gif output was "a .gif file cannot hold h264 video (try .mp4 or .mkv)", as if another
# --codec would do; so was an .apng output (the apng muxer takes APNG pictures only): the line
# says to write a PNG sequence and join it with ffmpeg, which is tried below (the APNG keeps the
# composition's alpha).
GIF_LINE="^rvm: out.gif: GIF output is not supported .*: write a video (.mp4, .mkv, .webm) or --output-type png_sequence, and make the GIF from that"
APNG_LINE="^rvm: out.apng: APNG output is not supported: write --output-type png_sequence (PNGs, with alpha) and make the APNG from that (ffmpeg -framerate FPS -i FOLDER/%04d.png -plays 0 out.apng)\$"
for ext in gif apng; do
    for f in --output-composition --output-alpha; do
        rm -f out.$ext
        expect_error "$f out.$ext" $S $f out.$ext
        grep -q "$([ $ext = gif ] && echo "$GIF_LINE" || echo "$APNG_LINE")" err.txt ||
            fail "$f out.$ext: $(cat err.txt)"
        [ ! -e out.$ext ] || fail "$f out.$ext: out.$ext was made"
        expect_code 2 "$f out.$ext"
    done
done
rm -rf apng_seq
sub_ok $S --duration 0.2 --output-type png_sequence --output-composition apng_seq
ffmpeg -nostdin -v error -framerate 25 -i apng_seq/%04d.png -plays 0 out.apng ||
    fail "the advised ffmpeg command does not make an APNG of the PNG sequence"
[ "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,pix_fmt,nb_read_frames -of csv=p=0 out.apng)" = "apng,rgba,$(ls apng_seq | wc -l)" ] ||
    fail "the APNG made as advised: $(ffprobe -v error -show_streams out.apng | grep -E 'codec_name|pix_fmt')"
rm -rf apng_seq out.apng
ok "the APNG advice: a PNG sequence joined by ffmpeg is an RGBA APNG of every frame"
expect_error "missing option value" $S --output-alpha out.mp4 --input-resize 10
expect_error "bad resize" $S --output-alpha out.mp4 --input-resize 0 10
expect_error "unknown precision" $S --output-alpha out.mp4 --precision fp16
# int8 runs where the CPU has int8 dot products (VNNI), and is one clear error elsewhere
if grep -qw -e avx512_vnni -e avx_vnni /proc/cpuinfo; then
    rm -rf out.mp4
    run_ok $S --output-alpha out.mp4 --precision int8
    ok "--precision int8 on a CPU with VNNI"
else
    expect_error "--precision int8 without VNNI" $S --output-alpha out.mp4 --precision int8
    grep -q VNNI err.txt || fail "the int8 error does not say what is missing: $(cat err.txt)"
fi
expect_error "huge resize" $S --output-alpha out.mp4 --input-resize 20000 10
expect_error "two outputs on one file" $S --output-alpha out.mp4 --output-foreground ./out.mp4
expect_code 2 "two outputs on one file"
expect_error "unknown container" $S --output-alpha out.xyz
expect_error "codec the container cannot hold" $S --output-alpha out.mp4 --codec prores
expect_error "vp9 in .mov (listed by the muxer, refused by its header)" $S --output-alpha out.mov --codec vp9
[ $RC -eq 2 ] && grep -q "cannot hold vp9" err.txt || fail "vp9 in .mov: exit code $RC, want 2 (a usage error): $(cat err.txt)"
rm -f out.mov
expect_error "h264 in .mpg" $S --output-alpha out.mpg
grep -q "a \.mpg file cannot hold h264" err.txt || fail "h264 in .mpg: $(cat err.txt)"
# A muxer's other extensions are named as the output has them: the psp muxer's are
# "mp4,psp", and a .psp was "a .mp4 file"; without one (-f psp to stdout), the muxer's name.
expect_error "rawvideo in .psp" $S --output-alpha out.psp --codec rawvideo
expect_code 2 "rawvideo in .psp"
grep -qx "rvm: out.psp: a .psp file cannot hold rawvideo video (try .nut or .mkv)" err.txt ||
    fail "rawvideo in .psp: $(cat err.txt)"
expect_error "rawvideo in -f psp to stdout" $S --output-alpha - -f psp --codec rawvideo
grep -qx "rvm: -: a .psp file cannot hold rawvideo video (try .nut or .mkv)" err.txt ||
    fail "rawvideo in -f psp to stdout: $(cat err.txt)"
expect_error "unknown codec" $S --output-alpha out.mp4 --codec vp8
expect_error "transparent h264" $S --output-composition out.mp4 --background none
expect_error "bad background" $S --output-composition out.mp4 --background blurple
expect_code 2 "bad background"
expect_error "bad colour" $S --output-composition out.mp4 --background 300,0,0
expect_code 2 "bad colour"
# A colour with an alpha (#RRGGBBAA, NAME@0.5) came out opaque without a word.
for c in '#ff000080' 'red@0.5'; do
    expect_error "see-through colour $c" $S --output-composition out.mp4 --background "$c"
    grep -q 'see-through' err.txt || fail "$c: $(cat err.txt)"
    expect_code 2 "see-through colour $c"
done
for c in '#12345' '#GGG' bikeshed Random; do
    expect_error "not a colour: $c" $S --output-composition out.mp4 --background "$c"
    expect_code 2 "not a colour: $c"
done
# The colour forms --help, the man page and README list are one list (--help lacked #RGB).
forms_help=$("$RVM" --help | tr -s ' \n' '  ' | sed -n 's/.*--background BG colour (\([^)]*\)).*/\1/p')
forms_man=$(tr -s ' \n' '  ' <"$SRC/doc/rvm.1.in" | sed -n 's/.*background " BG" A colour (\([^)]*\)).*/\1/p')
forms_readme=$(sed -n 's/.*\*\*Backgrounds\*\*: a colour (\([^;]*\);.*/\1/p' "$SRC/README.md" | tr -d '`')
[ -n "$forms_help" ] && [ "$forms_help" = "$forms_man" ] && [ "$forms_help" = "$forms_readme" ] ||
    fail "colour forms: --help '$forms_help', man '$forms_man', README '$forms_readme'"
ok "colour forms the same in --help, the man page and README: $forms_help"
mkdir -p sub
echo keep >sub/exists.png
expect_error "existing image in a sub-folder without -y" $S --output-alpha sub/exists.png --duration 0.001
expect_code 2 "existing image in a sub-folder without -y"
# A missing background file is a bad input (3), as a missing input is; named as missing.
expect_error "missing background" $S --output-composition out.mp4 --background beach.jpg
expect_code 3 "missing background"
grep -qx 'rvm: --background beach.jpg: no such file' err.txt || fail "missing background: $(cat err.txt)"
run_ok $S --duration 0.1 --output-composition opaque.mp4 --background '#ff0000ff'
ok "an opaque #RRGGBBAA is a colour"
# Every colour form README lists is the colour it names: CSS's short #RGB (refused before)
# and #RGBA (opaque only, as #RRGGBBAA), names, 0xRRGGBB, R,G,B; the same picture as
# #RRGGBB (one frame, PNG: exact).
run_ok $S --duration 0.001 --output-composition red.png --background '#ff0000'
for c in '#F00' '#f00' '#F00F' '#F00@1' red 0xFF0000 255,0,0 '#FF0000FF' RED; do
    rm -f form.png
    run_ok $S --duration 0.001 --output-composition form.png --background "$c"
    cmp -s form.png red.png || fail "--background '$c' is not the picture '#ff0000' gives"
done
run_ok $S --duration 0.001 --output-composition green.png --background '#0A0'
run_ok $S --duration 0.001 --output-composition green2.png --background '#00AA00'
cmp -s green.png green2.png && ! cmp -s green.png red.png || fail "#0A0 is not #00AA00"
ok "#F00, #f00, #F00F, red, 0xFF0000, 255,0,0, #FF0000FF, RED: the picture of #ff0000; #0A0 that of #00AA00"
for c in '#F008' '#0000' '#F00@0.5'; do
    expect_error "see-through short colour $c" $S --output-composition out.mp4 --background "$c"
    grep -q 'see-through' err.txt || fail "$c: $(cat err.txt)"
    expect_code 2 "see-through short colour $c"
done
expect_error "16-bit video" $S --output-alpha out.mp4 --output-depth 16
expect_error "crf and mbps" $S --output-alpha out.mp4 --crf 20 --output-video-mbps 2
# x264 and x265 take a CRF of 0 to 51: H.264 by default (.mp4) or asked for was clamped to 51
# unsaid (x264's SEI said crf=51.0), while --codec hevc was refused; vp9 (.webm) takes 63.
expect_error "crf 60 for the default h264" $S --output-alpha out.mp4 --crf 60
expect_code 2 "crf 60 for the default h264"
grep -qx "rvm: --crf 60: h264 takes 0 to 51 (vp9 0 to 63)" err.txt || fail "crf 60: $(cat err.txt)"
expect_error "crf 52 for h264" $S --output-alpha out.mp4 --crf 52 --codec h264
expect_error "crf 52 for hevc" $S --output-alpha out.mp4 --crf 52 --codec hevc
sub_ok $S --duration 0.1 --output-alpha out_crf.webm --crf 60
rm -f out_crf.webm
# --crf 100 was refused as "expected a whole number from 0 to 63" whatever the codec (not hevc's
# range, no codec named): the line names the output's codec and its range, or, for the codecs
# without --crf (which ignore it), every codec's.
for c in "hevc out.mp4:hevc takes 0 to 51 (vp9 0 to 63)" \
    "vp9 out.webm:vp9 takes 0 to 63 (h264 and hevc 0 to 51)" \
    "auto out.webm:vp9 takes 0 to 63 (h264 and hevc 0 to 51)" \
    "ffv1 out.mkv:no codec takes it: h264 and hevc take 0 to 51, vp9 0 to 63 (ffv1 has no --crf)" \
    "prores out.mov:no codec takes it: h264 and hevc take 0 to 51, vp9 0 to 63 (prores has no --crf)"; do
    set -- ${c%%:*}
    codec=$1 out=$2
    [ $codec = auto ] && set -- || set -- --codec $codec
    rm -f "$out"
    run $S --output-alpha "$out" "$@" --crf 100
    [ $RC -eq 2 ] && grep -qx "rvm: --crf 100: ${c#*:}" err.txt && [ ! -e "$out" ] ||
        fail "--crf 100 for $codec: exit $RC, $(cat err.txt)"
done
ok "--crf 100: the codec and its range named"
# One --crf (or --output-video-mbps) serves every output; outputs without it ignore it. When
# every output did (ffv1, prores, rawvideo, images) it was silent, while png_sequence refused
# it: now a warning in both cases, none when an output takes it (and it reaches that one).
quality_warning() { # WHAT WANT-STDERR rvm-args...: a run that succeeds with that stderr
    what=$1 want=$2
    shift 2
    run $S --duration 0.1 -y "$@"
    [ $RC -eq 0 ] && [ "$(cat err.txt)" = "$want" ] ||
        fail "$what: exit $RC, stderr '$(cat err.txt)', want '$want'"
    ok "$what -> ${want:-no warning}"
}
quality_warning "--crf 20 with ffv1" \
    "rvm: warning: --crf 20 applies to none of the outputs (ffv1): only h264, hevc and vp9 take it" \
    --codec ffv1 --output-alpha q_a.mkv --output-foreground q_f.mkv --crf 20
quality_warning "--crf 20 with prores and rawvideo" \
    "rvm: warning: --crf 20 applies to none of the outputs (prores, rawvideo): only h264, hevc and vp9 take it" \
    --background none --output-composition q_c.mov --output-alpha q_a.nut --crf 20
quality_warning "--output-video-mbps 2 with a PNG sequence" \
    "rvm: warning: --output-video-mbps 2 applies to none of the outputs (PNG sequence): only h264, hevc and vp9 take it" \
    --output-type png_sequence --output-alpha q_seq --output-composition q_seqc --output-video-mbps 2
[ -f q_seq/0000.png ] && [ -f q_seqc/0000.png ] || fail "png_sequence with --output-video-mbps: no frames"
quality_warning "--crf 20 with a PNG sequence" \
    "rvm: warning: --crf 20 applies to none of the outputs (PNG sequence): only h264, hevc and vp9 take it" \
    --output-type png_sequence --output-alpha q_seq2 --crf 20
quality_warning "--crf 20 with prores and h264" "" \
    --background none --output-composition q_c2.mov --output-foreground q_f.mp4 --crf 20
ffmpeg -nostdin -v error -i q_f.mp4 -map 0:v -c copy -f h264 - | grep -a -q 'rc=crf .*crf=20\.0' ||
    fail "--crf 20 with prores and h264: the h264 foreground was not encoded at CRF 20"
expect_error "--crf 100 with a PNG sequence" $S --output-type png_sequence --output-alpha out --crf 100
grep -qx "rvm: --crf 100: no codec takes it: h264 and hevc take 0 to 51, vp9 0 to 63 (an image has no --crf)" err.txt ||
    fail "--crf 100 with a PNG sequence: $(cat err.txt)"
rm -rf q_*
# --input-fps on a video was ignored without a word: one line says so (the video keeps its
# timing: not refused, a batch's flags may cover videos and image folders alike).
sub_ok $S --duration 0.1 --output-alpha out_fps.mp4 --input-fps 10
grep -qx "rvm: --input-fps applies to image folders only: this video keeps its own timing" err.txt &&
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "--input-fps on a video: $(cat err.txt)"
sub_ok $S --duration 0.1 --output-alpha out_fps.mp4 -y
! grep -q "input-fps" err.txt || fail "--input-fps said though not given: $(cat err.txt)"
rm -f out_fps.mp4
# A single still image (a PNG: FFmpeg's image reader, not a folder of one as a JPEG) was called
# "this video" in that line, and in the refusal of a --start past it.
ffmpeg -nostdin -v error -i "$SAMPLE" -frames:v 1 -vf scale=64:48 still.png
sub_ok --input-source still.png --output-alpha out_still.png --input-fps 10
grep -qx "rvm: --input-fps applies to image folders only: a single image is one frame, whatever the rate" err.txt &&
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "--input-fps on an image: $(cat err.txt)"
rm -f out_still.png
expect_error "--start past a single image" --input-source still.png --output-alpha out.mp4 --start 1
expect_code 2 "--start past a single image"
grep -qx "rvm: --start 1 is past the image: a single image is one frame, at 0 s" err.txt ||
    fail "--start past an image: $(cat err.txt)"
# --threads above the library's most (256) is refused, by a conversion and rvm batch alike
# (1024 was taken and run as 256); more than the CPUs online runs with one warning line
# (--threads 256 on 2 cores took ~9x the CPU time of --threads 2 without a word).
expect_error "--threads 257" $S --output-alpha out.mp4 --threads 257
expect_code 2 "--threads 257"
grep -qx "rvm: --threads 257: expected a whole number from 0 to 256" err.txt ||
    fail "--threads 257: $(cat err.txt)"
mkdir -p thr_in && sub batch -i thr_in --output-dir thr_out --output-alpha '{name}.mp4' --threads 257
[ $RC -eq 2 ] && grep -qx "rvm: batch: --threads 257: expected a whole number from 0 to 256" err.txt ||
    fail "batch --threads 257: exit $RC, $(cat err.txt)"
# The CPUs a run can use are its affinity's (taskset, Slurm, a cpuset), not all online.
# (nproc counts the affinity; a cgroup CPU limit below it would lower rvm's count: the library
# test checks that part.)
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
if [ "$cpus" -lt 256 ]; then
    s=s; [ "$cpus" -eq 1 ] && s=""
    them=them; [ "$cpus" -eq 1 ] && them=it
    sub_ok $S --duration 0.1 --output-alpha out_thr.mp4 --threads $((cpus + 1))
    grep -qx "rvm: warning: --threads $((cpus + 1)) is more than the $cpus CPU$s this run can use: the threads take turns on $them, slower than --threads $cpus" err.txt &&
        [ "$(wc -l <err.txt)" -eq 1 ] || fail "--threads $((cpus + 1)) on $cpus CPUs: $(cat err.txt)"
    sub_ok $S --duration 0.1 --output-alpha out_thr.mp4 --threads $cpus -y
    [ ! -s err.txt ] || fail "--threads $cpus on $cpus CPUs: $(cat err.txt)"
    rm -f out_thr.mp4
    ok "--threads above the CPUs this run can use: one warning line"
fi
if command -v taskset >/dev/null && [ "$cpus" -gt 1 ]; then
    taskset -c 0 "$RVM" --disable-progress $S --duration 0.1 --output-alpha out_thr.mp4 \
        --threads 2 >out.txt 2>err.txt
    [ $? -eq 0 ] && grep -qx "rvm: warning: --threads 2 is more than the 1 CPU this run can use: the threads take turns on it, slower than --threads 1" err.txt ||
        fail "--threads 2 under taskset -c 0: $(cat err.txt)"
    rm -f out_thr.mp4
    ok "--threads 2 on one CPU of the affinity (taskset): one warning line"
else
    echo "skip: taskset or a second CPU missing: the affinity's CPU count is not checked"
fi
expect_error "device cuda" $S --output-alpha out.mp4 --device cuda
# A checkpoint that cannot be used fails the same on every retry: not exit 1 (which a
# cluster retries) but 2 for a flag's mistake and 3 for a missing or damaged file.
expect_error "wrong variant" $S --output-alpha out.mp4 --variant resnet50
expect_code 2 "wrong variant"
expect_error "missing checkpoint" $S --output-alpha out.mp4 --checkpoint missing.pth
expect_code 3 "missing checkpoint"
echo "not a model" >bad.pth
expect_error "bad checkpoint" $S --output-alpha out.mp4 --checkpoint bad.pth
expect_code 3 "bad checkpoint"
# ... said before the input is opened: a FIFO input with no writer blocked the run (the model
# loads beside the opening) before a missing or damaged checkpoint was reported; one that
# starts like a checkpoint (a zip) but fails to load, or the other network, was said only
# once the input had data: with a writer that sends nothing (a slow pipe), never.
mkfifo nowriter
printf 'PK\003\004not a checkpoint' >fakezip.pth
for ck in "--checkpoint missing.pth" "--checkpoint bad.pth" "--checkpoint fakezip.pth" \
          "--variant resnet50"; do
    for writer in none silent; do
        [ $writer = none ] || exec 3<>nowriter # a writer that writes nothing
        timeout 60 "$RVM" --disable-progress --input-source nowriter --output-alpha out.mp4 \
            $ck >out.txt 2>err.txt
        RC=$?
        [ $writer = none ] || exec 3>&-
        [ $RC -ne 124 ] || fail "FIFO input ($writer writing), $ck: blocked on the input"
        case $ck in --variant*) want=2 ;; *) want=3 ;; esac
        expect_code $want "FIFO input ($writer writing), $ck"
        grep -q "^rvm: cannot load the model: " err.txt && [ "$(wc -l <err.txt)" -eq 1 ] ||
            fail "FIFO input ($writer writing), $ck: $(cat err.txt)"
    done
done
rm -f nowriter fakezip.pth
ok "a bad --checkpoint is said before a FIFO input is opened"
# A checkpoint holding a NaN (a diverged training run, a damaged file) is refused at load,
# naming the tensor, rather than giving finite outputs where PyTorch gives NaN.
# (python3 writes the zip; without it, or the shared models, this check is left out.)
if [ -f "$SHARED/models/rvm_mobilenetv3_random.pth.gz" ] && command -v python3 >/dev/null 2>&1; then
    gunzip -c "$SHARED/models/rvm_mobilenetv3_random.pth.gz" >random.pth
    python3 - random.pth nan.pth <<'PY' || fail "could not write nan.pth"
import struct, sys, zipfile
src = zipfile.ZipFile(sys.argv[1])
big = max((i for i in src.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as dst:
    for i in src.infolist():
        data = src.read(i)
        if i is big:  # the largest storage, a float32 conv weight: its 10th value
            data = data[:36] + struct.pack("<f", float("nan")) + data[40:]
        dst.writestr(i.filename, data)
PY
    expect_error "checkpoint with a NaN" $S --output-alpha out.mp4 --checkpoint nan.pth
    expect_code 3 "checkpoint with a NaN"
    grep -q "tensor '.*' holds a non-finite value (NaN" err.txt || fail "NaN checkpoint: $(cat err.txt)"
    ok "a checkpoint with a NaN is refused: $(cat err.txt)"
fi
# RVM_MODEL_DIR names the model's own folder (the one holding model.json). Named models/
# above it, it gave the TF.js reader's error about that folder; naming no folder, it was
# passed over for another model; and a build copied elsewhere said "the shipped model was not
# found (set RVM_MODEL_DIR)" without saying which folder to name. Each wrong one: what it
# named, what that lacks, the folder to name (the one inside when it is there).
model=$SRC/models/rvm_mobilenetv3_tfjs_int8
mkdir empty_folder && echo "not a model" >a_file
for dir in "$SRC/models" "$SRC/models/" "$WORK/empty_folder" "$WORK/no-such-folder" "$WORK/a_file"; do
    lack="holds no model.json" suggest=.../share/rvm/models/rvm_mobilenetv3_tfjs_int8
    case $dir in
    "$SRC/models"*) suggest=$model ;;
    *no-such-folder) lack="does not exist" ;;
    *a_file) lack="is not a folder" ;;
    esac
    export RVM_MODEL_DIR="$dir"
    expect_error "RVM_MODEL_DIR=$dir" $S --output-alpha out.mp4
    [ "$(cat err.txt)" = "rvm: cannot load the model: RVM_MODEL_DIR=$dir $lack: name the model's folder, e.g. $suggest" ] ||
        fail "RVM_MODEL_DIR=$dir: $(cat err.txt)"
    expect_code 3 "RVM_MODEL_DIR=$dir"
done
unset RVM_MODEL_DIR
rm -rf empty_folder a_file
mkdir copied && cp "$RVM" copied/rvm
in_tree_rvm=$RVM
RVM=$WORK/copied/rvm
run $S --output-alpha out.mp4
if [ $RC -eq 0 ]; then
    echo "skip: the configured prefix holds a model, so a copied build finds one"
else
    expect_error "a copied build without RVM_MODEL_DIR" $S --output-alpha out.mp4
    [ "$(cat err.txt)" = "rvm: cannot load the model: the shipped model was not found: set RVM_MODEL_DIR to the model's folder (the one holding model.json, e.g. .../share/rvm/models/rvm_mobilenetv3_tfjs_int8)" ] ||
        fail "a copied build without RVM_MODEL_DIR: $(cat err.txt)"
    expect_code 3 "a copied build without RVM_MODEL_DIR"
fi
export RVM_MODEL_DIR="$model"
run_ok $S --output-alpha out.mp4
unset RVM_MODEL_DIR
ok "a copied build runs with RVM_MODEL_DIR naming the model's folder"
RVM=$in_tree_rvm
rm -rf copied out.mp4
mkdir tfjs_empty
expect_error "TF.js folder without a model" $S --output-alpha out.mp4 --checkpoint tfjs_empty
expect_code 3 "TF.js folder without a model"
# --start past the input's end is the option's mistake (2), whether the container's declared
# duration shows it at once (60 s) or only its frames do: the sample's last frame is at
# 2.533 s (from its first), its container declares 2.567 s.
expect_error "start past the end" $S --output-alpha out.mp4 --start 60
expect_code 2 "start past the end"
expect_error "start past the last frame" $S --output-alpha out.mp4 --start 2.55
expect_code 2 "start past the last frame"
grep -q "^rvm: --start 2.55 is past the input's last frame (at 2.53" err.txt ||
    fail "start past the last frame: $(cat err.txt)"
# A --duration shorter than a frame, between two frames (the sample is 30 fps: frames at 1.000
# and 1.034 s from its first), holds none: the option's mistake too, and not "past the last frame" (it was
# said so, with the frame before --start as the last). An image folder's the same.
expect_error "window between two frames" $S --output-alpha out.mp4 --start 1.01 --duration 0.001
expect_code 2 "window between two frames"
grep -q "^rvm: --start 1.01 --duration 0.001 holds no frame (the next one is at 1.03[34] s)" err.txt ||
    fail "window between two frames: $(cat err.txt)"
mkdir frames3 && ffmpeg -nostdin -v error -f lavfi -i color=s=64x48 -frames:v 3 frames3/%d.png ||
    fail "cannot make frames3"
expect_error "image window between two frames" --input-source frames3 --input-fps 10 --output-alpha out.mp4 --start 0.01 --duration 0.01
expect_code 2 "image window between two frames"
grep -q "^rvm: --start 0.01 --duration 0.01 holds no frame (the next one is at 0.100 s, at 10 fps)" err.txt ||
    fail "image window between two frames: $(cat err.txt)"
expect_error "negative start" $S --output-alpha out.mp4 --start -1
expect_error "bad time" $S --output-alpha out.mp4 --duration abc
# A folder nothing can be made in is the output name's mistake (exit 2; it was 1): no retry
# helps (a read-only file system and a 0555 folder for root: safety_root.sh).
if [ "$(id -u)" -eq 0 ]; then
    # root writes anywhere a mode allows nothing; /proc takes no new files.
    expect_error "unwritable folder" $S --output-alpha /proc/rvm-out.mp4
    # It named the lock file (cannot create /proc/.rvm-out.mp4.rvm-lock: No such file or
    # directory): the output and its folder, in the user's terms.
    grep -qx "rvm: --output-alpha /proc/rvm-out.mp4: cannot write in /proc: its file system takes no new files" err.txt ||
        fail "unwritable folder: $(cat err.txt)"
else
    mkdir ro && chmod 555 ro
    expect_error "unwritable folder" $S --output-alpha ro/out.mp4
    grep -q "^rvm: --output-alpha ro/out.mp4: cannot write in ro: Permission denied" err.txt ||
        fail "unwritable folder: $(cat err.txt)"
fi
expect_code 2 "unwritable folder"
# What FFmpeg's muxer or encoder refuses (EINVAL) is the flags' combination, not a failed
# write: exit 2, not 75 (which schedulers retry), with FFmpeg's reason.
expect_error "a .psp without audio" $S --output-composition out.psp
expect_code 2 "a .psp without audio"
grep -q "^rvm: out.psp: FFmpeg's psp muxer refuses this output: PSP mode need one video and one audio stream" err.txt ||
    fail "a .psp without audio: $(cat err.txt)"
expect_error "VP9 in .ismv" $S --output-composition out.ismv --codec vp9
expect_code 2 "VP9 in .ismv"
expect_error "a bit rate x264 cannot meet" $S --output-alpha out.mp4 --output-video-mbps 0.0001
expect_code 2 "a bit rate x264 cannot meet"
# Below 1 kbit/s (x264 counts whole kbit/s) was FFmpeg's "bitrate not specified" once the
# input was open: refused up front, naming the smallest rate.
expect_error "a bit rate below 1 kbit/s" $S --output-alpha out.mp4 --output-video-mbps 0.0009
expect_code 2 "a bit rate below 1 kbit/s"
grep -qx "rvm: --output-video-mbps 0.0009: below the smallest bit rate the encoders take, 0.001 (1 kbit/s)" err.txt ||
    fail "a bit rate below 1 kbit/s: $(cat err.txt)"
# Uncompressed packed RGB in .asf: FFmpeg's muxer refuses it at the header without a word
# (the run ended "invalid combination of codec, tracks and settings" after opening the input
# and loading the network); now the writer's check says why before anything runs.
expect_error "rawvideo rgb24 in .asf" $S --output-composition out.asf --codec rawvideo
expect_code 2 "rawvideo rgb24 in .asf"
grep -q "^rvm: out.asf: a .asf file cannot hold uncompressed rgb24 frames" err.txt ||
    fail "rawvideo rgb24 in .asf: $(cat err.txt)"
[ ! -e out.asf ] || fail "rawvideo rgb24 in .asf: out.asf was left"
# YUV4MPEG holds YUV and grey only, no RGB.
expect_error "rgb24 in .y4m" $S --output-composition out.y4m --output-format yuv4mpegpipe:rgb24
expect_code 2 "rgb24 in .y4m"
grep -q "^rvm: out.y4m: a .y4m file holds gray, yuv420p.* not rgb24" err.txt || fail "rgb24 in .y4m: $(cat err.txt)"
expect_error "H.264 in .y4m" $S --output-composition out.y4m --codec h264
expect_code 2 "H.264 in .y4m"
# Segments into .y4m: Y4M has no timestamps, so join called every part after the first
# broken (exit 4 after all the rendering); refused by render up front.
sub plan "$SAMPLE" --segments 2 --warmup 1 -o y4m.plan
[ $RC -eq 0 ] || fail "plan for the .y4m render: $(cat err.txt)"
sub render --plan y4m.plan --index 0 --output-alpha out.y4m
[ $RC -eq 2 ] && grep -q "segments cannot be rendered into .y4m" err.txt && [ "$(wc -l <err.txt)" -eq 1 ] ||
    fail "render into .y4m: exit $RC, $(cat err.txt)"
[ ! -e out.y4m.parts ] || fail "render into .y4m: out.y4m.parts was left"
ok "render into .y4m -> $(cat err.txt)"
# Named otherwise, Y4M by -f (its parts were Y4M files named .nut: render exit 0, join exit
# 4), and bare frames (a .yuv part was not read back: exit 75 after the rendering): refused
# up front alike.
sub render --plan y4m.plan --index 0 --output-alpha out.nut -f yuv4mpegpipe:gray
[ $RC -eq 2 ] && grep -q "segments cannot be rendered into Y4M (-f yuv4mpegpipe)" err.txt &&
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "render -f yuv4mpegpipe: exit $RC, $(cat err.txt)"
[ ! -e out.nut.parts ] || fail "render -f yuv4mpegpipe: out.nut.parts was left"
ok "render -f yuv4mpegpipe -> $(cat err.txt)"
sub render --plan y4m.plan --index 0 --output-alpha out.yuv
[ $RC -eq 2 ] && grep -q "segments cannot be rendered into bare frames" err.txt &&
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "render into .yuv: exit $RC, $(cat err.txt)"
[ ! -e out.yuv.parts ] || fail "render into .yuv: out.yuv.parts was left"
ok "render into .yuv -> $(cat err.txt)"
sub join --plan y4m.plan --output-alpha out.nut -f yuv4mpegpipe
[ $RC -eq 2 ] && grep -q "segments cannot be rendered into Y4M" err.txt ||
    fail "join -f yuv4mpegpipe: exit $RC, $(cat err.txt)"
# A container FFmpeg lacks: refused before a part that exists is called complete.
sub render --plan y4m.plan --index 0 --output-alpha out.nut -f nosuchformat
[ $RC -eq 2 ] && grep -q "nosuchformat: this FFmpeg has no such container" err.txt ||
    fail "render -f nosuchformat: exit $RC, $(cat err.txt)"
# A downsample ratio that leaves the network no pixels (8 * 0.064 < 1) is the request's:
# exit 2 before the conversion, naming a ratio and a size that work (it was exit 1, "the
# network failed", after the outputs were opened).
expect_error "a ratio leaving no pixels" --input-source $SAMPLE --input-resize 8000 8 --output-alpha out.mp4
expect_code 2 "a ratio leaving no pixels"
grep -qx "rvm: frames of 8000x8: downsample ratio 0.064 leaves no pixels of their 8-pixel side (use --downsample-ratio 0.125 or more, or --input-resize 8000 16)" err.txt ||
    fail "a ratio leaving no pixels: $(cat err.txt)"
expect_error "an explicit ratio leaving no pixels" $S --downsample-ratio 0.01 --output-alpha out.mp4
expect_code 2 "an explicit ratio leaving no pixels"
# Both sides fail at 0.01 (64 too): the size named grows both (it said 64 100, which failed
# alike); each suggestion converts.
grep -q "use --downsample-ratio 0.021 or more, or --input-resize 100 100)" err.txt ||
    fail "an explicit ratio leaving no pixels: $(cat err.txt)"
sub_ok --input-source $SAMPLE --input-resize 100 100 --downsample-ratio 0.01 --duration 0.04 \
    --output-alpha out_sug.nut
sub_ok --input-source $SAMPLE --input-resize 64 48 --downsample-ratio 0.021 --duration 0.04 \
    --output-alpha out_sug.nut -y
expect_error "a square frame at a ratio leaving no pixels" --input-source $SAMPLE \
    --input-resize 3 3 --downsample-ratio 0.3 --output-alpha out.mp4
expect_code 2 "a square frame at a ratio leaving no pixels"
grep -q "or --input-resize 4 4)" err.txt || fail "3x3 at 0.3: $(cat err.txt)"
sub_ok --input-source $SAMPLE --input-resize 4 4 --downsample-ratio 0.3 --duration 0.04 \
    --output-alpha out_sug.nut -y
rm -f out_sug.nut
# A ratio no size rvm takes keeps a pixel at (below 1/16384): only a ratio is named (the size
# counted up past INT_MAX at 1e-10 and the run never ended; at 1e-9 it named 1000000000,
# which --input-resize refuses).
for tiny in 1e-10 1e-300 1e-09; do
    rm -rf out.mp4
    timeout 60 "$RVM" --disable-progress $S --downsample-ratio $tiny --output-alpha out.mp4 \
        >out.txt 2>err.txt
    RC=$?
    expect_code 2 "ratio $tiny"
    grep -qx "rvm: frames of 64x48: downsample ratio $tiny leaves no pixels of their 48-pixel side (use --downsample-ratio 0.021 or more)" err.txt ||
        fail "ratio $tiny: $(cat err.txt)"
done
# Image writers refusing what they are asked (frames too large for FFmpeg's encoders) exit 2,
# not 75 (which schedulers retry: it was 75 for every image writer that did not open).
expect_error "frames too large for a PNG sequence" --input-source $SAMPLE --input-resize 16300 16300 \
    --duration 0.04 --output-type png_sequence --output-alpha out
expect_code 2 "frames too large for a PNG sequence"
grep -q "larger than FFmpeg's png encoder takes" err.txt || fail "frames too large: $(cat err.txt)"
expect_error "frames too large for a .bmp" --input-source $SAMPLE --input-resize 16300 16300 \
    --duration 0.04 --output-alpha out.bmp
expect_code 2 "frames too large for a .bmp"
# Video encoders alike: frames too large, or too small for HEVC, were exit 75 ("transient, retry")
# though every retry is refused the same.
expect_error "frames too large for an .mp4" --input-source $SAMPLE --input-resize 16384 16384 \
    --downsample-ratio 0.01 --duration 0.04 --output-alpha out.mp4
expect_code 2 "frames too large for an .mp4"
grep -q "larger than FFmpeg's encoders take" err.txt || fail "frames too large: $(cat err.txt)"
expect_error "frames too small for HEVC" --input-source $SAMPLE --input-resize 8 8 \
    --duration 0.04 --codec hevc --output-alpha out.mp4
expect_code 2 "frames too small for HEVC"
expect_error "full disk" $S --output-alpha /dev/full
# What only prints (--help, --version, a subcommand's --help) must reach stdout, as coreutils
# check at exit: a full disk is one line and exit 75 (a failed write), a reader gone (EPIPE,
# SIGPIPE ignored) exit 1. Each exited 0 without a word before.
helps="--help|--version|plan --help|render --help|join --help|batch --help"
"$RVM" serve --help >/dev/null 2>&1 && helps="$helps|serve --help"
IFS='|'
for args in $helps; do
    IFS=' '
    # shellcheck disable=SC2086
    "$RVM" $args >/dev/full 2>err.txt
    RC=$?
    [ $RC -eq 75 ] && [ "$(cat err.txt)" = "rvm: stdout: writing: No space left on device" ] ||
        fail "rvm $args >/dev/full: exit $RC, $(cat err.txt)"
    IFS='|'
done
IFS=' '
if command -v python3 >/dev/null 2>&1; then
    python3 - "$RVM" <<'PY' || fail "rvm --help into a closed pipe"
import os, signal, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], "--help"], stdout=w, stderr=subprocess.PIPE,
                   preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
err = p.stderr.decode()
if p.returncode != 1 or err != "rvm: stdout: writing: Broken pipe\n":
    sys.exit("exit %d, %r" % (p.returncode, err))
PY
fi
ok "--help, --version and the subcommands' --help: a stdout that fails is one line, exit 75 (1 for EPIPE)"
expect_error "unknown preset" $S --output-alpha out.mp4 --preset quick
expect_error "preset for prores" $S --output-alpha out.mov --codec prores --preset fast
expect_error "preset for png_sequence" $S --output-type png_sequence --output-alpha out --preset fast
expect_error "png sequence into a file" $S --output-type png_sequence --output-alpha exists.mp4
mkdir seq && touch seq/0000.png
expect_error "existing sequence without -y" $S --output-type png_sequence --output-alpha seq
mkdir notimages && echo text >notimages/a.txt && echo text >notimages/b.json
expect_error "folder of non-images" --input-source notimages --output-alpha out.mp4
: >empty.mp4
expect_error "empty video" --input-source empty.mp4 --output-alpha out.mp4
grep -qx "rvm: empty.mp4: the file is empty (0 bytes)" err.txt || fail "empty video: $(cat err.txt)"
# Nothing on the standard input was "-: not a video or image file FFmpeg can read".
expect_error "empty standard input" --input-source - --output-alpha out.mp4 </dev/null
grep -qx "rvm: -: the standard input is empty: .*" err.txt || fail "empty standard input: $(cat err.txt)"
expect_code 3 "empty standard input"
echo "hello" | run --input-source - --output-alpha out.mp4
grep -qx "rvm: -: not a video or image file FFmpeg can read" err.txt ||
    fail "text on the standard input: $(cat err.txt)"
echo "hello" >text.mp4
expect_error "text file as video" --input-source text.mp4 --output-alpha out.mp4
ffmpeg -nostdin -v error -f lavfi -i sine=d=0.5 audio.m4a
expect_error "no video stream" --input-source audio.m4a --output-alpha out.mp4
expect_error "png sequence into an input folder" --input-source notimages --output-type png_sequence --output-alpha notimages
# Not an error: a missing output folder is made (as for PNG sequences).
run $S --duration 0.1 --output-alpha newdir/sub/out.mp4
[ $RC -eq 0 ] && [ -s newdir/sub/out.mp4 ] || fail "missing output folder: not made ($(cat err.txt))"
ok "a missing output folder is made"
# ... and a run that fails removes the folders it made, and only those.
mkdir -p keep
expect_error "failure after making folders" --input-source text.mp4 --output-alpha keep/new/sub/out.mp4
[ -d keep ] && [ ! -e keep/new ] || fail "failure after making folders: keep/new is left or keep is gone"
expect_error "failure after making a PNG folder" --input-source text.mp4 --output-type png_sequence --output-alpha made/seq
[ ! -e made ] || fail "failure after making a PNG folder: made/ is left"
# Two outputs in the folder made: the first output made it, the second's files are in it.
expect_error "failure after making a folder for two outputs" --input-source text.mp4 --output-composition two/c.mp4 --output-alpha two/a.mp4
[ ! -e two ] || fail "failure after making a folder for two outputs: two/ is left ($(ls -A two | tr '\n' ' '))"
ok "a failed run leaves none of the folders it made"
done_all
