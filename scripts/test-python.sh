#!/bin/sh
# The Python package's tests: installs ./python into a fresh venv (Debian's /usr/bin/python3,
# --system-site-packages for Debian's numpy; offline: --no-build-isolation --no-index), then
# runs pytest on python/tests. scripts/test.sh runs it after the C tests.
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
cd "$(dirname "$0")/.."
py=/usr/bin/python3
if ! $py -c "import numpy, setuptools, pytest, venv" 2>/dev/null; then
  echo "python: skipped (/usr/bin/python3 lacks numpy, setuptools, pytest or venv;" \
       "scripts/install-deps.sh installs them)"
  exit 0
fi
venv=build-python/venv
rm -rf "$venv"
$py -m venv --system-site-packages "$venv"
# The extension's archives are built in the Release test build (build/, configured by
# scripts/test.sh with the flags setup.py would use): the library is not compiled a second
# time. Without build/, setup.py configures its own folder.
[ -f build/CMakeCache.txt ] && grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt &&
  RVM_CMAKE_BUILD_DIR=$PWD/build && export RVM_CMAKE_BUILD_DIR
"$venv/bin/pip" install --quiet --no-build-isolation --no-index ./python
# The rvm command of the Release build, for the tests that compare convert_video with it.
[ -x build/rvm ] && RVM_COMMAND=$PWD/build/rvm && export RVM_COMMAND
status=0
"$venv/bin/python" -m pytest -q -rs python/tests || status=$?
# pytest's 5 means it collected no tests: the tests went missing, which is a failure too.
[ "$status" -ne 5 ] || echo "python: pytest collected no tests"
exit "$status"
