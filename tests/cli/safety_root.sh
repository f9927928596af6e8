# The cases of issue 16 that need root: a full disk (a 3 MB tmpfs) never costs the old
# output, a run that is PID 1 (every container) is not confused by a dead PID 1's leftovers,
# and -y keeps the replaced file's owner. Skipped (77) when not root or without mount or
# unshare.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (tmpfs mounts, unshare, chown)"; exit 77; }
mkdir full
mount -t tmpfs -o size=3M tmpfs full 2>/dev/null || { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
trap 'umount full 2>/dev/null; rm -rf "$WORK"' EXIT

cp "$SAMPLE" in.mkv
sums() { (cd "$1" && find . -type f -exec md5sum {} + | sort -k2); }
hidden() { ls -a "$@" 2>/dev/null | grep -E 'rvm-(part|stage|lock)'; }

# ---- a full disk: the old sequence (and video) stay whole, nothing is left ----
run_ok -i in.mkv --input-resize 64 48 --duration 0.5 --output-type png_sequence --output-alpha full/seq
echo "notes" >full/seq/notes.txt
before=$(sums full/seq)
run -i in.mkv --input-resize 640 480 --output-type png_sequence --output-depth 16 \
    --output-foreground full/seq -y
[ $RC -ne 0 ] && [ $RC -lt 128 ] && [ "$(wc -l <err.txt)" -eq 1 ] || fail "disk full (PNG): exit $RC: $(cat err.txt)"
[ "$(sums full/seq)" = "$before" ] || fail "disk full (PNG): the old sequence changed: $(ls full/seq | tr '\n' ' ')"
[ -z "$(hidden full full/seq)" ] || fail "disk full (PNG): left $(hidden full full/seq)"
ok "a full disk while replacing a PNG sequence: one line, the old sequence whole, nothing left ($(cat err.txt))"

run_ok -i in.mkv --input-resize 64 48 --duration 0.5 --output-alpha full/a.mp4
old=$(md5sum <full/a.mp4)
dd if=/dev/zero of=full/filler bs=1k count=$(($(df -k --output=avail full | tail -n 1) - 200)) 2>/dev/null
run -i in.mkv --input-resize 640 480 --crf 0 --output-alpha full/a.mp4 -y
[ $RC -ne 0 ] && [ $RC -lt 128 ] && [ "$(wc -l <err.txt)" -eq 1 ] || fail "disk full (video): exit $RC: $(cat err.txt)"
[ "$(md5sum <full/a.mp4)" = "$old" ] || fail "disk full (video): the old a.mp4 changed"
[ -z "$(hidden full)" ] || fail "disk full (video): left $(hidden full)"
rm -f full/filler
ok "a full disk while replacing a video: one line, the old file whole, nothing left"

# ---- PID 1 (a container): a dead PID 1's part file is no obstacle, and is removed ----
if unshare --pid --fork true 2>/dev/null; then
    mkdir d
    touch d/.com.mp4.1.rvm-part
    unshare --pid --fork "$RVM" --disable-progress -i in.mkv --input-resize 64 48 --duration 0.5 \
        --output-composition d/com.mp4 -y >out.txt 2>err.txt
    RC=$?
    [ $RC -eq 0 ] || fail "as PID 1 with a dead PID 1's part file: exit $RC: $(cat err.txt)"
    playable d/com.mp4
    [ -z "$(hidden d)" ] || fail "as PID 1: left $(hidden d)"
    ok "as PID 1: converts despite .com.mp4.1.rvm-part and removes it"
else
    fail "unshare --pid --fork does not work here"
fi

# ---- -y keeps the owner of the file it replaces ----
echo private >o.mp4
chown nobody o.mp4
chmod 600 o.mp4
run_ok -i in.mkv --input-resize 64 48 --duration 0.2 --output-alpha o.mp4 -y
[ "$(stat -c '%U %a' o.mp4)" = "nobody 600" ] || fail "-y made nobody's 0600 file $(stat -c '%U %a' o.mp4)"
playable o.mp4
ok "-y keeps nobody's 0600 on the replaced file"

# ---- a folder nothing can be made in: exit 2 (not 1), naming the folder ----
mkdir rofs
mount -t tmpfs -o ro,size=1M tmpfs rofs || fail "cannot mount a read-only tmpfs"
run -i in.mkv --input-resize 64 48 --duration 0.2 --output-alpha rofs/o.mp4
umount rofs
[ $RC -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] &&
    grep -q "^rvm: --output-alpha rofs/o.mp4: cannot write in rofs: Read-only file system" err.txt ||
    fail "read-only file system: exit $RC: $(cat err.txt)"
# rvm plan and render likewise (plan: exit 75 after scanning the input; render named its hidden
# part file, without "render:"), before any work.
"$RVM" plan in.mkv --segments 2 -o ro.plan >out.txt 2>err.txt || fail "plan: $(cat err.txt)"
mount -t tmpfs -o ro,size=1M tmpfs rofs || fail "cannot mount a read-only tmpfs"
"$RVM" plan in.mkv --segments 2 -o rofs/x.plan >out.txt 2>err.txt
RC=$?
[ $RC -eq 2 ] && [ "$(cat err.txt)" = "rvm: plan: -o rofs/x.plan: cannot write in rofs: Read-only file system" ] ||
    fail "a plan into a read-only file system: exit $RC: $(cat err.txt)"
"$RVM" render --plan ro.plan --index 0 --output-alpha rofs/sub/o.mp4 >out.txt 2>err.txt
RC=$?
umount rofs
[ $RC -eq 2 ] && [ "$(cat err.txt)" = "rvm: render: --output-alpha rofs/sub/o.mp4: cannot write in rofs: Read-only file system" ] ||
    fail "a render into a read-only file system: exit $RC: $(cat err.txt)"
# rvm join likewise, before the parts are checked (it said "2 of 2 parts missing or broken ...
# render them again", exit 4: no render can write there either); join --missing only reads.
mount -t tmpfs -o ro,size=1M tmpfs rofs || fail "cannot mount a read-only tmpfs"
"$RVM" join --plan ro.plan --output-alpha rofs/o.mp4 >out.txt 2>err.txt
RC=$?
[ $RC -eq 2 ] && [ "$(cat err.txt)" = "rvm: join: --output-alpha rofs/o.mp4: cannot write in rofs: Read-only file system" ] ||
    fail "a join into a read-only file system: exit $RC: $(cat err.txt)"
"$RVM" join --plan ro.plan --missing --output-alpha rofs/o.mp4 >out.txt 2>err.txt
RC=$?
umount rofs
[ $RC -eq 0 ] && [ "$(cat out.txt)" = "0-1" ] || fail "join --missing on a read-only file system: exit $RC: $(cat out.txt) $(cat err.txt)"
chmod 755 "$WORK"
mkdir locked && chmod 555 locked
setpriv --reuid=nobody --regid=nogroup --clear-groups "$RVM" --disable-progress -i "$WORK/in.mkv" \
    --output-alpha "$WORK/locked/o.mp4" >out.txt 2>err.txt
RC=$?
[ $RC -eq 2 ] && grep -q "cannot write in $WORK/locked: Permission denied" err.txt ||
    fail "a 0555 folder, as nobody: exit $RC: $(cat err.txt)"
ok "a read-only file system or a folder without write permission: exit 2, one line"
done_all
