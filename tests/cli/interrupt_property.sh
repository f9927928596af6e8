# Property (issue 16): however a run is interrupted (SIGINT, SIGTERM, SIGHUP or SIGKILL at a
# random moment, 50 runs), every output path holds the old complete output, a new complete
# and playable one, or nothing (only where there was nothing before), and no input changes.
# Videos (H.264 with audio in MP4, VP9 in WebM) and PNG sequences, over old outputs (-y) or
# none. RVM_PROPERTY_RUNS and RVM_PROPERTY_SEED change the number of runs and the seed.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"
# Runs rvm with SIGHUP at its default even under nohup (which rvm, rightly, keeps ignored);
# only in the background (&): it replaces the shell it runs in, so $! is rvm.
rvm_hup() { exec env --default-signal=HUP "$RVM" "$@"; }

RUNS=${RVM_PROPERTY_RUNS:-50}
SEED=${RVM_PROPERTY_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "seed $SEED, $RUNS runs"
PID=
trap 'if [ -n "$PID" ]; then kill -9 $PID 2>/dev/null; fi; rm -rf "$WORK"' EXIT

# A short clip at a small size: a run takes about a second on an idle machine.
cp "$SAMPLE" in.mkv
IN_SUM=$(md5sum <in.mkv)
MODEL_SUM=$(cat "$SRC"/models/rvm_mobilenetv3_tfjs_int8/* | md5sum)
pts_list in.mkv >t_in.txt
ARGS="--disable-progress -i in.mkv --input-resize 64 48"
VIDEO_OUT="--output-composition com.mp4 --output-alpha pha.webm"
PNG_OUT="--output-type png_sequence --output-alpha pseq --output-foreground fseq"

# Old outputs (a shorter run, so that old and new differ), kept aside.
mkdir old
"$RVM" $ARGS --duration 1 $VIDEO_OUT 2>err.txt && "$RVM" $ARGS --duration 1 $PNG_OUT 2>err.txt &&
    mv com.mp4 pha.webm pseq fseq old/ \
    || fail "cannot make the old outputs: $(cat err.txt)"
echo "notes" >old/pseq/notes.txt
sum_of() { if [ -d "$1" ]; then (cd "$1" && md5sum * | md5sum); else md5sum <"$1"; fi; }
for f in com.mp4 pha.webm pseq fseq; do
    eval "OLD_$(echo $f | tr -c 'a-z\n' '_')=\"\$(sum_of old/$f)\""
done
old_sum() { eval "echo \"\$OLD_$(echo $1 | tr -c 'a-z\n' '_')\""; }

# How long a whole run takes here (the signals land between 0 and 1.3 times that).
t0=$(date +%s%N)
"$RVM" $ARGS $VIDEO_OUT -y 2>err.txt || fail "calibration run: $(cat err.txt)"
T_MS=$((($(date +%s%N) - t0) / 1000000))
rm -f com.mp4 pha.webm
echo "a whole run takes $T_MS ms"

# rand N: sets R to a number in [0, N) from the seeded generator (no subshell: the state
# must advance).
STATE=$SEED
rand() {
    STATE=$(((STATE * 1103515245 + 12345) % 2147483648))
    R=$(((STATE / 65536) % $1))
}

# A new complete output: a playable video whose frames are the input's first (at its
# times), or a folder holding exactly frames 0000.png .. N-1 that all decode.
new_video_ok() {
    ffmpeg -nostdin -v error -i "$1" -f null - >dec.txt 2>&1 && [ ! -s dec.txt ] || return 1
    pts_list "$1" >t_out.txt
    n=$(wc -l <t_out.txt)
    [ "$n" -gt 0 ] || return 1
    # Outputs start at zero (as ffmpeg's do): times are compared from each first frame.
    head -n "$n" t_in.txt | paste - t_out.txt |
        awk 'NR == 1 { a = $1; b = $2 } { d = ($1 - a) - ($2 - b); if (d < 0) d = -d; if (d > 0.0005) bad = 1 } END { exit bad }'
}
new_folder_ok() {
    n=$(ls "$1" | wc -l)
    [ "$n" -gt 0 ] || return 1
    [ "$(ls "$1" | tr '\n' ' ')" = "$(seq -f '%04g.png' 0 $((n - 1)) | tr '\n' ' ')" ] || return 1
    ffmpeg -nostdin -v error -i "$1/%04d.png" -f null - >dec.txt 2>&1 && [ ! -s dec.txt ] || return 1
    [ "$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$1/%04d.png")" -eq "$n" ]
}

N_OLD=0 N_NEW=0 N_NOTHING=0 N_FINISHED=0
for sig in INT TERM HUP KILL; do eval "RUNS_$sig=0"; done
run_no=0
while [ $run_no -lt $RUNS ]; do
    run_no=$((run_no + 1))
    rand 4
    sig=$(echo "INT TERM HUP KILL" | cut -d' ' -f$((R + 1)))
    rand $((T_MS * 13 / 10 + 1))
    delay=$R
    rand 3
    png=$((R == 0))
    rand 2
    with_old=$R
    if [ $png -eq 1 ]; then outs="pseq fseq" args=$PNG_OUT; else outs="com.mp4 pha.webm" args=$VIDEO_OUT; fi
    rm -rf com.mp4 pha.webm pseq fseq
    [ $with_old -eq 1 ] && for f in $outs; do cp -a old/$f $f; done
    rvm_hup $ARGS $args -y 2>err.txt &
    PID=$!
    sleep "$(awk "BEGIN { printf \"%.3f\", $delay / 1000 }")"
    kill -$sig $PID 2>/dev/null
    i=0
    while kill -0 $PID 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 $PID 2>/dev/null && fail "run $run_no (SIG$sig after $delay ms): still running after 60 s"
    wait $PID
    rc=$?
    PID=
    eval "RUNS_$sig=\$((RUNS_$sig + 1))"
    case $rc in
    0) N_FINISHED=$((N_FINISHED + 1)) ;;
    129 | 130 | 137 | 143) ;;
    *) fail "run $run_no (SIG$sig after $delay ms): exit code $rc: $(cat err.txt)" ;;
    esac
    for f in $outs; do
        what="run $run_no (SIG$sig after $delay ms, exit $rc, old outputs: $with_old): $f"
        if [ ! -e $f ]; then
            [ $with_old -eq 0 ] || fail "$what: the old output is gone"
            N_NOTHING=$((N_NOTHING + 1))
        elif [ $with_old -eq 1 ] && [ "$(sum_of $f)" = "$(old_sum $f)" ]; then
            N_OLD=$((N_OLD + 1))
        else
            if [ $png -eq 1 ]; then
                [ $f = pseq ] && [ $with_old -eq 1 ] && { [ "$(cat $f/notes.txt 2>/dev/null)" = notes ] || fail "$what: notes.txt lost"; }
                mkdir -p check && rm -rf check/$f && cp -a $f check/$f && rm -f check/$f/notes.txt
                new_folder_ok check/$f || fail "$what: neither the old nor a new complete sequence: $(ls $f | tr '\n' ' ')"
            else
                new_video_ok $f || fail "$what: neither the old nor a new complete playable file: $(head -n 2 dec.txt)"
            fi
            N_NEW=$((N_NEW + 1))
        fi
    done
    [ "$(md5sum <in.mkv)" = "$IN_SUM" ] || fail "run $run_no: the input changed"
    [ "$(cat "$SRC"/models/rvm_mobilenetv3_tfjs_int8/* | md5sum)" = "$MODEL_SUM" ] || fail "run $run_no: the model changed"
done
echo "runs by signal: INT $RUNS_INT, TERM $RUNS_TERM, HUP $RUNS_HUP, KILL $RUNS_KILL; finished before the signal: $N_FINISHED"
echo "outputs after the runs: old kept $N_OLD, new complete $N_NEW, nothing $N_NOTHING"
ok "$RUNS interrupted runs: every output old, new and complete, or nothing; the input unchanged"

# What SIGKILLed runs left (hidden parts, staging folders, locks) goes with the next run.
run_ok $ARGS --duration 0.2 $VIDEO_OUT -y
run_ok $ARGS --duration 0.2 $PNG_OUT -y
left=$(ls -a . pseq fseq | grep -E 'rvm-(part|stage|lock)')
[ -z "$left" ] || fail "leftovers after the next runs: $left"
ok "the next runs remove every leftover of the killed ones"
done_all
