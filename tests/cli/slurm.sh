# A real Slurm cluster on this machine: munged, slurmctld and slurmd started here as root
# from a generated slurm.conf (no systemd, no cgroups, no accounting), the plan rendered by
# scripts/slurm/submit.sh as a job array on real footage, joined by the dependent join job,
# and compared with a whole run; then a lost part is rendered again by running submit.sh
# again (only that index is submitted). MaxArraySize is 2 here, less than the plan's 3
# segments: submit.sh must cut the plan into arrays (Slurm refuses an index of MaxArraySize
# or more; the default 1001 bounds real plans the same way). The daemons are stopped at the end.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

for tool in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool is missing (Debian packages slurm-wlm and munge)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: the test starts Slurm's daemons, which needs root"; exit 77; }

C=$WORK/cluster
mkdir -p "$C/spool" "$C/state"
# munged wants its socket's folders searchable by everyone.
chmod 755 "$WORK" "$C"
stop_cluster() {
    for d in slurmd slurmctld munged; do
        [ -f "$C/$d.pid" ] && kill "$(cat "$C/$d.pid")" 2>/dev/null
    done
    for d in slurmd slurmctld munged; do
        i=0
        while [ -f "$C/$d.pid" ] && kill -0 "$(cat "$C/$d.pid")" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.2
            i=$((i + 1))
        done
    done
}
trap 'stop_cluster; rm -rf "$WORK"' EXIT

# munge, with its own key, socket and files.
dd if=/dev/urandom of="$C/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$C/munge.key"
munged --key-file="$C/munge.key" --socket="$C/munge.sock" --log-file="$C/munged.log" \
    --pid-file="$C/munged.pid" --seed-file="$C/munged.seed" \
    || fail "munged does not start: $(cat "$C/munged.log" 2>/dev/null)"

host=$(hostname -s)
port=$((20000 + $$ % 20000))
cat >"$C/slurm.conf" <<CONF
ClusterName=rvmtest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$C/munge.sock
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MaxArraySize=2
SlurmctldPidFile=$C/slurmctld.pid
SlurmdPidFile=$C/slurmd.pid
SlurmdSpoolDir=$C/spool
StateSaveLocation=$C/state
SlurmctldLogFile=$C/slurmctld.log
SlurmdLogFile=$C/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=rvm Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$C/slurm.conf"
slurmctld -f "$SLURM_CONF" || fail "slurmctld does not start: $(tail -n 3 "$C/slurmctld.log")"
slurmd -f "$SLURM_CONF" || fail "slurmd does not start: $(tail -n 3 "$C/slurmd.log")"
i=0
until sinfo -h -o %T 2>/dev/null | grep -q idle; do
    i=$((i + 1))
    [ $i -lt 150 ] || fail "the node never became idle: $(sinfo 2>&1; tail -n 5 "$C/slurmd.log")"
    sleep 0.2
done
ok "single-node Slurm cluster up ($(sinfo -h -o '%P %D %c %T'))"

# Real footage with its audio: the 1080p clip made small (89 frames), else the sample.
if [ -f "$FOOTAGE/walk_1080p_tone.mp4" ]; then
    ffmpeg -nostdin -v error -i "$FOOTAGE/walk_1080p_tone.mp4" -vf scale=320:180 -c:v libx264 \
        -g 30 -pix_fmt yuv420p -c:a copy clip.mp4 || fail "ffmpeg"
else
    # The sample has no audio: a tone is added, so that the join's audio is checked here too.
    ffmpeg -nostdin -v error -i "$SAMPLE" -f lavfi -i sine=f=440:r=48000 -map 0:v -map 1:a \
        -vf scale=320:240 -c:v libx264 -g 30 -pix_fmt yuv420p -c:a aac -shortest clip.mp4 ||
        fail "ffmpeg"
fi
"$RVM" plan clip.mp4 --segments 3 -o film.plan >/dev/null 2>err.txt || fail "plan: $(cat err.txt)"
export RVM RVM_CPUS=1
FLAGS="--output-composition out/com.mp4 --output-alpha out/pha.mp4"

# Waits until job $1 (and its array tasks) leave the queue; fails unless all COMPLETED.
wait_job() {
    i=0
    while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
        i=$((i + 1))
        [ $i -lt 1200 ] || fail "job $1 did not finish: $(squeue)"
        sleep 0.5
    done
    states=$(scontrol -o show job "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
    [ "$states" = "COMPLETED " ] || fail "job $1 ended as $states: $(cat rvm-*.log 2>/dev/null | tail -n 5)"
}
sh "$SRC/scripts/slurm/submit.sh" film.plan $FLAGS >submit.txt 2>&1 || fail "submit: $(cat submit.txt)"
arrays=$(sed -n 's/^render array \([0-9]*\):.*/\1/p' submit.txt | tr '\n' ' ')
join=$(sed -n 's/^join \([0-9]*\)/\1/p' submit.txt)
grep -q "^render array [0-9]*: indices 0-1$" submit.txt && grep -q "^render array [0-9]*: indices 2$" submit.txt &&
    [ "$(echo $arrays | wc -w)" -eq 2 ] && [ -n "$join" ] || fail "submit printed: $(cat submit.txt)"
deps=$(scontrol -o show job "$join" | sed -n 's/.*Dependency=\([^ ]*\).*/\1/p')
for a in $arrays; do
    case ",$deps" in *[,:]"$a"[_:\(,]*) ;; *) fail "the join does not wait for array $a: Dependency=$deps" ;; esac
    wait_job "$a"
done
wait_job "$join"
[ "$(ls rvm-render-*_*.log | wc -l)" -eq 3 ] || fail "not three array tasks: $(ls)"
for i in 0 1 2; do
    [ -f out/com.mp4.parts/0000$i.json ] || fail "index $i was not rendered: $(ls out/com.mp4.parts)"
done
ok "arrays $arrays(3 tasks over 2 arrays: MaxArraySize 2) and join $join ran on Slurm"
# Each segment's log is named by the segment, also index 2, which is task 0 of the second
# array (offset 2): the logs were named by array task only (rvm-render-JOB_0.log for index 2).
grep -q "^logs: $WORK/rvm-segment-INDEX.log, one per segment" submit.txt || fail "submit does not say where the logs are: $(cat submit.txt)"
second=$(sed -n 's/^render array \([0-9]*\): indices 2$/\1/p' submit.txt)
for i in 0 1 2; do
    task=$i
    [ $i -lt 2 ] || task=0
    [ "$(grep -c '^== segment ' rvm-segment-$i.log 2>/dev/null)" = 1 ] &&
        grep -q "^== segment $i: Slurm job [0-9]*_${task} " rvm-segment-$i.log ||
        fail "no log for segment $i: $(ls rvm-*.log) $(cat rvm-segment-$i.log 2>/dev/null)"
done
grep -q "^segment 2: rvm's output is in $WORK/rvm-segment-2.log$" rvm-render-${second}_0.log ||
    fail "Slurm's log of task 0 of the second array does not point at segment 2's: $(cat rvm-render-${second}_0.log)"
ok "logs named by segment, also past the offset: $(head -n 1 rvm-segment-2.log)"

"$RVM" --disable-progress -i clip.mp4 --output-composition whole/com.mp4 --output-alpha whole/pha.mp4 \
    >/dev/null 2>err.txt || fail "whole run: $(cat err.txt)"
for f in com pha; do
    playable out/$f.mp4
    same_times whole/$f.mp4 out/$f.mp4
done
# The audio is compared only when the clip has some: with none, "-map 0:a?" maps nothing and
# ffmpeg (5.1) falls back to its default streams, hashing the video, which differs.
audio_streams() { ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$1" | wc -l; }
if [ "$(audio_streams clip.mp4)" -gt 0 ]; then
    [ "$(audio_streams whole/com.mp4)" -gt 0 ] && [ "$(audio_streams out/com.mp4)" -gt 0 ] ||
        fail "the clip's audio is missing: whole run $(audio_streams whole/com.mp4) track(s), joined $(audio_streams out/com.mp4)"
    a1=$(ffmpeg -nostdin -v error -i whole/com.mp4 -map 0:a -c copy -f md5 -)
    a2=$(ffmpeg -nostdin -v error -i out/com.mp4 -map 0:a -c copy -f md5 -)
    [ -n "$a1" ] && [ "$a1" = "$a2" ] || fail "the joined audio differs from the whole run's"
    audio="and audio"
else
    [ "$(audio_streams out/com.mp4)" -eq 0 ] || fail "the joined output has audio the clip has not"
    audio="(no audio in the clip)"
fi
ffmpeg -nostdin -v error -i whole/pha.mp4 -f rawvideo -pix_fmt gray w.gray
ffmpeg -nostdin -v error -i out/pha.mp4 -f rawvideo -pix_fmt gray s.gray
"$PIXCMP" near8 w.gray s.gray 1.0 255 >cmp.txt || fail "joined alpha is far from the whole run's: $(cat cmp.txt)"
ok "joined outputs: the whole run's frame count, timestamps $audio ($(cat cmp.txt))"

# A lost part (and so no output): submit.sh again submits only that index, then the join.
rm out/com.mp4 out/pha.mp4 out/com.mp4.parts/00001.json
rm -f rvm-*.log
sh "$SRC/scripts/slurm/submit.sh" film.plan $FLAGS >submit.txt 2>&1 || fail "resubmit: $(cat submit.txt)"
grep -q "indices 1$" submit.txt && [ "$(grep -c '^render array' submit.txt)" -eq 1 ] ||
    fail "resubmit: $(cat submit.txt)"
array=$(sed -n 's/^render array \([0-9]*\):.*/\1/p' submit.txt)
join=$(sed -n 's/^join \([0-9]*\)/\1/p' submit.txt)
wait_job "$array"
wait_job "$join"
[ "$(ls rvm-render-*.log | wc -l)" -eq 1 ] && [ "$(ls rvm-segment-*.log)" = rvm-segment-1.log ] ||
    fail "more than index 1 was rendered again: $(ls rvm-*.log)"
same_times whole/com.mp4 out/com.mp4
ok "resubmission rendered only index 1; the join completed"
# An index that fails (here exit 3, bad input, for index 2 alone): the join can never run, so
# it must leave the queue rather than stay pending for ever beside the next submission's.
rm -rf out rvm-*.log
printf '#!/bin/sh\ncase " $* " in *" --index 2 "*) echo "rvm: bad input (test)" >&2; exit 3 ;; esac\nexec "%s" "$@"\n' \
    "$RVM" >failing.sh
chmod +x failing.sh
RVM=$WORK/failing.sh sh "$SRC/scripts/slurm/submit.sh" film.plan $FLAGS >submit.txt 2>&1 ||
    fail "submit with a failing index: $(cat submit.txt)"
# index 2 is the second array's (offset 2) task 0
array=$(sed -n 's/^render array \([0-9]*\): indices 2$/\1/p' submit.txt)
join=$(sed -n 's/^join \([0-9]*\)/\1/p' submit.txt)
[ -n "$array" ] || fail "submit with a failing index: $(cat submit.txt)"
i=0
while [ -n "$(squeue -h -j "$array" 2>/dev/null)" ] || [ -n "$(squeue -h -j "$join" 2>/dev/null)" ]; do
    i=$((i + 1))
    [ $i -lt 240 ] || fail "after index 2 failed, the join stays in the queue: $(squeue -o '%i %T %r' | tr '\n' ' ')"
    sleep 0.5
done
scontrol -o show job "$array" | grep -q "JobState=FAILED" ||
    fail "index 2 did not fail: $(scontrol -o show job "$array" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')"
grep -q "^rvm: bad input (test)$" rvm-segment-2.log ||
    fail "the failed segment's error is not in its log: $(ls rvm-*.log; cat rvm-segment-2.log 2>/dev/null)"
ok "a failed index takes its join out of the queue ($(scontrol -o show job "$join" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'))"
stop_cluster
for d in slurmd slurmctld munged; do
    ! kill -0 "$(cat "$C/$d.pid" 2>/dev/null)" 2>/dev/null || fail "$d is still running"
done
ok "daemons stopped"
done_all
