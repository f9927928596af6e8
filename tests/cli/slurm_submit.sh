#!/bin/sh
# scripts/slurm/submit.sh against a fake sbatch and scontrol (no cluster here): the job ids it
# prints and the join's dependency, when sbatch --parsable answers "ID;CLUSTER" (a cluster
# in a federation or multi-cluster set-up), and flags with spaces passed on whole.
#   sh slurm_submit.sh SOURCE-DIR
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/fakes.sh"
# sbatch: numbers its jobs from 101, answers "ID;main", records its arguments one a line.
cat >"$W/bin/sbatch" <<EOF2
#!/bin/sh
n=\$(cat "$W/n" 2>/dev/null || echo 100); n=\$((n + 1)); echo \$n >"$W/n"
{ echo "== sbatch"; for a; do printf '%s\n' "\$a"; done; } >>"$W/calls"
echo "\$n;main"
EOF2
printf '#!/bin/sh\necho "MaxArraySize            = 2"\n' >"$W/bin/scontrol"
# rvm: join --missing names the three indices of the plan.
printf '#!/bin/sh\necho 0-2\n' >"$W/bin/rvm"
chmod +x "$W/bin/sbatch" "$W/bin/scontrol" "$W/bin/rvm"
cd "$W" || exit 1
PATH="$W/bin:$PATH" sh "$SRC/scripts/slurm/submit.sh" "my film.plan" \
    --output-alpha "out dir/pha.mp4" >out.txt 2>&1 || fail "submit: $(cat out.txt)"
grep -qx 'render array 101: indices 0-1' out.txt && grep -qx 'render array 102: indices 2' out.txt ||
    fail "arrays: $(cat out.txt)"
grep -qx 'join 103' out.txt || fail "the join's id is not the bare job id: $(grep '^join' out.txt)"
grep -qx -- '--dependency=afterok:101:102' calls || fail "dependency: $(cat calls)"
[ "$(grep -cx 'out dir/pha.mp4' calls)" -eq 3 ] && [ "$(grep -cx 'my film.plan' calls)" -eq 3 ] ||
    fail "arguments with spaces not passed whole: $(cat calls)"
echo "ok: submit.sh prints bare job ids and passes flags whole"
