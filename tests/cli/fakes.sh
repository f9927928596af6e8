# Shared set-up of the tests that run a script against fake commands (no cluster here):
# sourced by slurm_submit.sh and k8s_wait.sh, run by ctest as: sh TEST.sh SOURCE-DIR.
# Sets SRC, a scratch folder W (removed on exit) with an empty W/bin for the fakes, and fail.
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
SRC=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir "$W/bin"
