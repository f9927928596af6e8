# Every audio track and subtitles are kept (issue 15, item 11): two audio tracks with their
# language, title and default flag and a subtitle track go into MP4, MKV, MOV and WebM
# compositions (copied, or re-encoded and converted where the container needs it), in
# order and at their times; --audio-tracks / --subtitle-tracks pick tracks, --no-audio and
# --no-subtitles drop them, a track the input does not have is one line and exit code 2; a
# container that cannot hold the subtitles says so in one line; rvm plan/render/join keeps
# them too. Inputs are made with ffmpeg, outputs checked with ffprobe and ffmpeg.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

# The input: the shipped sample (1.6 s, 160x120), two AAC tracks (440 Hz, English, the
# default; 880 Hz, French) and SubRip subtitles in German, in Matroska.
cat >subs.srt <<'EOF'
1
00:00:00,200 --> 00:00:01,000
Hello there

2
00:00:01,200 --> 00:00:01,900
Second line
EOF
ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=frequency=440:duration=2 \
    -f lavfi -i sine=frequency=880:duration=2 -i subs.srt \
    -map 0:v -map 1:a -map 2:a -map 3:s -vf scale=160:120 -t 1.6 -c:v libx264 -pix_fmt yuv420p \
    -c:a aac -c:s srt \
    -metadata:s:a:0 language=eng -metadata:s:a:0 title="English mix" \
    -metadata:s:a:1 language=fra -metadata:s:a:1 title="Version française" \
    -metadata:s:s:0 language=deu -metadata:s:s:0 title="Deutsch" \
    -disposition:a:0 default -disposition:a:1 0 -disposition:s:0 0 \
    -metadata title="Signing" -metadata artist="Intel" -metadata creation_time=2024-05-01T10:00:00Z in.mkv \
    || fail "cannot make the test input"
[ "$(ffprobe -v error -select_streams s -show_entries packet=pts_time -of csv=p=0 in.mkv | wc -l)" -eq 2 ] \
    || fail "the test input has no subtitle cues"

# tag FILE STREAM KEY: a stream tag; disp FILE STREAM: its default flag.
tag() { ffprobe -v error -select_streams "$2" -show_entries "stream_tags=$3" -of csv=p=0 "$1" | head -n 1; }
disp() { ffprobe -v error -select_streams "$2" -show_entries stream_disposition=default -of csv=p=0 "$1" | head -n 1; }
# (MPEG-TS lists its streams twice: in its program and on their own.)
count() { ffprobe -v error -select_streams "$2" -show_entries stream=index -of csv=p=0 "$1" | sed '/^$/d' | sort -u | wc -l; }
# The packets of one stream, as bytes (a copied track has the input's).
packets_md5() { ffmpeg -nostdin -v error -i "$1" -map "0:$2" -c copy -f data - | md5sum | cut -d' ' -f1; }
# Seconds of decoded audio in one track.
audio_secs() {
    ffmpeg -nostdin -v error -i "$1" -map "0:$2" -f null - -stats 2>&1 | tr '\r' '\n' |
        sed -n 's/.*time=\([0-9:.]*\).*/\1/p' | tail -n 1 | awk -F: '{ print $1 * 3600 + $2 * 60 + $3 }'
}
near() { awk -v a="$1" -v b="$2" -v e="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= e) }'; }
# The cues of the subtitle track with text (MP4's empty ones clear the screen): "start
# duration" per line, start counted from the video's first frame.
cues() {
    v0=$(ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 "$1" | sort -g | head -n 1)
    ffprobe -v error -select_streams s:0 -show_entries packet=pts_time,duration_time,size -of csv=p=0 "$1" |
        awk -F, -v v0="$v0" '$3 > 2 { printf "%.3f %.3f\n", $1 - v0, $2 }'
}
in_md5_0=$(packets_md5 in.mkv a:0)
in_md5_1=$(packets_md5 in.mkv a:1)
in_secs=$(audio_secs in.mkv a:0)

# ---- every track into each container ----
for ext in mp4 mkv mov webm; do
    f=com.$ext
    if [ $ext = mp4 ]; then
        run_ok -i in.mkv --output-composition $f --output-alpha pha.mp4 --output-foreground fgr.mkv
    else
        run_ok -i in.mkv --output-composition $f
    fi
    [ ! -s err.txt ] || fail "$f: unexpected messages: $(cat err.txt)"
    playable $f
    [ "$(count $f a)" -eq 2 ] || fail "$f has $(count $f a) audio tracks, want 2"
    [ "$(count $f s)" -eq 1 ] || fail "$f has $(count $f s) subtitle tracks, want 1"
    # Language and title, in the input's order. MP4 and QuickTime name a track by its
    # handler; QuickTime spells German ger.
    title_key=title
    case $ext in mp4 | mov) title_key=handler_name ;; esac
    [ "$(tag $f a:0 language)" = eng ] && [ "$(tag $f a:1 language)" = fra ] ||
        fail "$f: audio languages are $(tag $f a:0 language), $(tag $f a:1 language)"
    [ "$(tag $f a:0 $title_key)" = "English mix" ] && [ "$(tag $f a:1 $title_key)" = "Version française" ] ||
        fail "$f: audio titles are '$(tag $f a:0 $title_key)', '$(tag $f a:1 $title_key)'"
    [ "$(disp $f a:0)" = 1 ] && [ "$(disp $f a:1)" = 0 ] ||
        fail "$f: default flags of the audio tracks are $(disp $f a:0), $(disp $f a:1), want 1, 0"
    want_lang=deu
    [ $ext = mov ] && want_lang=ger
    [ "$(tag $f s:0 language)" = $want_lang ] && [ "$(tag $f s:0 $title_key)" = Deutsch ] ||
        fail "$f: subtitle language/title are $(tag $f s:0 language), '$(tag $f s:0 $title_key)'"
    case $ext in
    mp4 | mov) want_sub=mov_text ;;
    mkv) want_sub=subrip ;;
    webm) want_sub=webvtt ;;
    esac
    [ "$(stream_field $f s:0 codec_name)" = $want_sub ] ||
        fail "$f: subtitles are $(stream_field $f s:0 codec_name), want $want_sub"
    # The cues' text and times (from the video's first frame, as in the input).
    ffmpeg -nostdin -v error -i $f -map 0:s:0 -f srt - >cues.srt || fail "$f: subtitles do not decode"
    grep -q "Hello there" cues.srt && grep -q "Second line" cues.srt || fail "$f: the cues' text is lost: $(cat cues.srt)"
    cues $f >cues.txt
    [ "$(wc -l <cues.txt)" -eq 2 ] || fail "$f: $(wc -l <cues.txt) cues, want 2"
    set -- $(sed -n 1p cues.txt) $(sed -n 2p cues.txt)
    near "$1" 0.2 0.005 && near "$2" 0.8 0.005 && near "$3" 1.2 0.005 && near "$4" 0.7 0.005 ||
        fail "$f: cues at $(tr '\n' ' ' <cues.txt), want 0.2 for 0.8 s and 1.2 for 0.7 s"
    # Both audio tracks whole; copied bit for bit where the container takes AAC.
    for a in a:0 a:1; do
        near "$(audio_secs $f $a)" "$in_secs" 0.05 || fail "$f: $a lasts $(audio_secs $f $a) s, the input's $in_secs s"
    done
    if [ $ext = webm ]; then
        [ "$(stream_field $f a:0 codec_name)" = opus ] && [ "$(stream_field $f a:1 codec_name)" = opus ] ||
            fail "$f: audio is not Opus"
    else
        [ "$(packets_md5 $f a:0)" = "$in_md5_0" ] && [ "$(packets_md5 $f a:1)" = "$in_md5_1" ] ||
            fail "$f: the audio tracks are not the input's packets in the input's order"
    fi
    ok "$f: 2 audio tracks ($(stream_field $f a:0 codec_name)) with language, title and default flag, $want_sub subtitles with their cues"
done
# The foreground carries them too; the matte carries none.
[ "$(count fgr.mkv a)" -eq 2 ] && [ "$(count fgr.mkv s)" -eq 1 ] || fail "fgr.mkv lacks tracks"
[ "$(count pha.mp4 a)" -eq 0 ] && [ "$(count pha.mp4 s)" -eq 0 ] || fail "the alpha matte got audio or subtitles"
ok "foreground: every track; alpha matte: none"

# ---- picking tracks ----
run_ok -i in.mkv --audio-tracks 1 --subtitle-tracks none --output-composition pick1.mp4
[ "$(count pick1.mp4 a)" -eq 1 ] && [ "$(count pick1.mp4 s)" -eq 0 ] || fail "pick1.mp4: wrong tracks"
[ "$(tag pick1.mp4 a:0 language)" = fra ] && [ "$(packets_md5 pick1.mp4 a:0)" = "$in_md5_1" ] ||
    fail "pick1.mp4: the audio is not the input's track 1"
[ "$(disp pick1.mp4 a:0)" = 1 ] || fail "pick1.mp4: the only audio track is not the default"
ok "--audio-tracks 1 --subtitle-tracks none: the French track alone, made the default"
run_ok -i in.mkv --audio-tracks fra,eng --output-composition pick2.mkv
[ "$(tag pick2.mkv a:0 language)" = fra ] && [ "$(tag pick2.mkv a:1 language)" = eng ] &&
    [ "$(packets_md5 pick2.mkv a:0)" = "$in_md5_1" ] && [ "$(packets_md5 pick2.mkv a:1)" = "$in_md5_0" ] ||
    fail "--audio-tracks fra,eng: tracks not in the order given"
[ "$(disp pick2.mkv a:1)" = 1 ] && [ "$(disp pick2.mkv a:0)" = 0 ] || fail "pick2.mkv: the default flag moved"
ok "--audio-tracks fra,eng: by language, in the order given, flags kept"

# ---- --no-audio, --no-subtitles ----
run_ok -i in.mkv --no-audio --output-composition noaudio.mp4
[ "$(count noaudio.mp4 a)" -eq 0 ] && [ "$(count noaudio.mp4 s)" -eq 1 ] || fail "--no-audio: wrong tracks"
run_ok -i in.mkv --no-audio --no-subtitles --output-composition bare.mkv
[ "$(count bare.mkv a)" -eq 0 ] && [ "$(count bare.mkv s)" -eq 0 ] || fail "--no-audio --no-subtitles: tracks left"
ok "--no-audio drops every audio track, --no-subtitles the subtitles"

# ---- --start and --duration cut the cues too ----
run_ok -i in.mkv --start 0.5 --duration 0.9 --output-composition cut.mp4
cues cut.mp4 >cues.txt
set -- $(sed -n 1p cues.txt) $(sed -n 2p cues.txt)
near "$1" 0 0.005 && near "$2" 0.5 0.005 && near "$3" 0.7 0.005 && near "$4" 0.2 0.005 ||
    fail "cut.mp4: cues at $(tr '\n' ' ' <cues.txt), want 0 for 0.5 s and 0.7 for 0.2 s"
ok "--start 0.5 --duration 0.9: the cue on screen at the start is kept, the last one ends with the video"

# ---- refusals: one line, exit code 2, nothing written ----
refused() { # what, then rvm arguments
    what=$1
    shift
    run "$@"
    [ $RC -eq 2 ] || fail "$what: exit code $RC, want 2 ($(cat err.txt))"
    [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: " err.txt || fail "$what: not one line: $(cat err.txt)"
    [ ! -e bad.mp4 ] && [ -z "$(ls -A | grep rvm-)" ] || fail "$what: left files behind"
    ok "$what: $(cat err.txt)"
}
refused "audio track 2 of 2" -i in.mkv --audio-tracks 0,2 --output-composition bad.mp4
grep -q '"Version française"' err.txt || fail "the message does not list the input's tracks"
refused "subtitle track 1 of 1" -i in.mkv --subtitle-tracks 1 --output-composition bad.mp4
refused "a language no track has" -i in.mkv --audio-tracks ger --output-composition bad.mp4
refused "an empty item" -i in.mkv --audio-tracks 0,,1 --output-composition bad.mp4
refused "--no-audio with --audio-tracks" -i in.mkv --no-audio --audio-tracks 0 --output-composition bad.mp4

# ---- a container that cannot hold the subtitles: kept out, said in one line ----
run_ok -i in.mkv --output-composition com.ts
[ "$(count com.ts a)" -eq 2 ] && [ "$(count com.ts s)" -eq 0 ] || fail "com.ts: wrong tracks"
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: warning: com.ts: subtitle track 0 (subrip, deu, \"Deutsch\") left out: " err.txt ||
    fail "com.ts: the left-out subtitles are not said in one line: $(cat err.txt)"
ok "MPEG-TS: $(cat err.txt)"

# ---- plan / render / join: the joined file has every track, as a whole run's ----
"$RVM" plan in.mkv --segments 2 --warmup 2 -o t.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
render_join t.plan 2 --output-composition seg/com.mp4
playable seg/com.mp4
[ "$(count seg/com.mp4 a)" -eq 2 ] && [ "$(count seg/com.mp4 s)" -eq 1 ] || fail "joined file: wrong tracks"
for a in a:0 a:1; do
    [ "$(packets_md5 seg/com.mp4 $a)" = "$(packets_md5 com.mp4 $a)" ] || fail "joined $a differs from the whole run's"
done
[ "$(tag seg/com.mp4 a:1 language)" = fra ] && [ "$(tag seg/com.mp4 a:1 handler_name)" = "Version française" ] ||
    fail "joined file: the tags are lost"
cues seg/com.mp4 >seg.txt
cues com.mp4 >whole.txt
cmp -s seg.txt whole.txt || fail "joined cues $(cat seg.txt) differ from the whole run's $(cat whole.txt)"
same_times com.mp4 seg/com.mp4
ok "plan/render/join: both audio tracks continuous and the subtitles, as a whole run's"
# The container's tags (title, artist, the recording's creation_time) were dropped; kept by
# a whole run and a join alike.
ftag() { ffprobe -v error -show_entries "format_tags=$2" -of csv=p=0 "$1"; }
for f in com.mp4 seg/com.mp4 com.mkv; do
    [ "$(ftag $f title),$(ftag $f artist),$(ftag $f creation_time)" = "Signing,Intel,2024-05-01T10:00:00.000000Z" ] ||
        fail "$f: container tags $(ffprobe -v error -show_entries format_tags -of compact=p=0 $f)"
done
ok "the container's tags (title, artist, creation_time) kept by a whole run and a join"

# Chapters were dropped: kept with their titles, moved back and cut with the picture
# (--start/--duration), a chapter wholly cut off left out; a join has a whole run's.
printf ';FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=400\ntitle=Zero\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=400\nEND=800\ntitle=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=800\nEND=1600\ntitle=Two\n' >ch.txt
ffmpeg -nostdin -v error -i in.mkv -i ch.txt -map 0 -map_chapters 1 -c copy chap.mkv || fail "cannot make chap.mkv"
chapters() { ffprobe -v error -show_entries chapter=start_time,end_time:chapter_tags=title -of csv=p=0 "$1" | tr '\n' ' '; }
v0=$(ffprobe -v error -select_streams v:0 -show_entries stream=start_time -of csv=p=0 chap.mkv)
want=$(awk -v v="$v0" 'BEGIN { printf "0.000000,%.3f,One %.3f,0.700000,Two ", 0.8 - v - 0.5, 0.8 - v - 0.5 }')
for ext in mp4 mkv; do
    run_ok -i chap.mkv --start 0.5 --duration 0.7 --output-composition chap_o.$ext
    got=$(chapters chap_o.$ext | sed 's/\([0-9]\.[0-9][0-9][0-9]\)[0-9]*,One \([0-9]\.[0-9][0-9][0-9]\)[0-9]*,/\1,One \2,/')
    [ "$got" = "$want" ] || fail "chap_o.$ext: chapters '$(chapters chap_o.$ext)', want '$want'"
done
"$RVM" plan chap.mkv --segments 1 --warmup 0 -o c.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
"$RVM" render --plan c.plan --index 0 --output-composition cj/com.mkv --threads 1 >out.txt 2>err.txt &&
    "$RVM" join --plan c.plan --output-composition cj/com.mkv >out.txt 2>err.txt || fail "render/join: $(cat err.txt)"
run_ok -i chap.mkv --output-composition chap_whole.mkv
[ "$(chapters cj/com.mkv)" = "$(chapters chap_whole.mkv)" ] && [ "$(chapters chap_whole.mkv | wc -w)" -eq 3 ] ||
    fail "joined chapters '$(chapters cj/com.mkv)', a whole run's '$(chapters chap_whole.mkv)'"
ok "chapters kept, moved and cut with --start/--duration; a join's as a whole run's"
"$RVM" join --plan t.plan --output-composition seg/com.mp4 --audio-tracks 5 -y >out.txt 2>err.txt
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] || fail "join --audio-tracks 5: exit $rc, $(cat err.txt)"
[ "$(packets_md5 seg/com.mp4 a:1)" = "$(packets_md5 com.mp4 a:1)" ] || fail "the refused join touched seg/com.mp4"
ok "join --audio-tracks 5: $(cat err.txt)"

# Attachments (the fonts ASS subtitles use) are kept in Matroska compositions and
# foregrounds, a join's too, byte for byte with their name and type, as ffmpeg -map 0 keeps
# them (they were dropped); the matte carries none, MP4 has no place for them.
printf 'a font, byte for byte\n' >font.ttf
ffmpeg -nostdin -v error -i in.mkv -map 0 -c copy -attach font.ttf \
    -metadata:s:t mimetype=application/x-truetype-font att.mkv || fail "cannot make att.mkv"
run_ok -i att.mkv --output-composition att_com.mkv --output-foreground att_fgr.mkv \
    --output-alpha att_pha.mkv
run_ok -i att.mkv --output-composition att_com.mp4
"$RVM" plan att.mkv --segments 2 --warmup 0 -o att.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
render_join att.plan 2 --output-composition attj/com.mkv
for f in att_com.mkv att_fgr.mkv attj/com.mkv; do
    [ "$(count $f t)" -eq 1 ] && [ "$(tag $f t filename)" = font.ttf ] &&
        [ "$(tag $f t mimetype)" = application/x-truetype-font ] || fail "$f: the attachment was not kept"
    rm -f got.ttf
    ffmpeg -nostdin -v error -dump_attachment:t:0 got.ttf -i $f -f null - 2>/dev/null
    cmp -s got.ttf font.ttf || fail "$f: the attachment's data differs"
done
[ "$(count att_pha.mkv t)" -eq 0 ] || fail "the matte carries an attachment"
ok "attachments (fonts) kept in Matroska compositions, foregrounds and joins"
done_all
