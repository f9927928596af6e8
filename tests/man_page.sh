#!/bin/sh
# The man page as groff reads it, every warning on (-ww): a warning is text man drops or
# prints wrongly (a line starting with a period, ".ppm, .pgm, .pam) is a single image, ...",
# was read as a call of an undefined macro and vanished from the page).
#   sh man_page.sh PAGE (the configured page, build/dist/rvm.1)
# SPDX-License-Identifier: GPL-3.0-or-later
command -v groff >/dev/null 2>&1 || { echo "SKIP: groff is not installed"; exit 77; }
[ -f "$1" ] || { echo "FAIL: no man page $1"; exit 1; }
warnings=$(groff -man -ww -z "$1" 2>&1)
[ -z "$warnings" ] || { echo "FAIL: groff -man -ww warns on $1:"; echo "$warnings"; exit 1; }
echo "ok: groff -man -ww reads $1 without a warning"
