#!/bin/sh
# Installs what rvm needs to build and test on Debian 12 (run as root). clang is only for the
# fuzz targets (libFuzzer); ffmpeg (the command-line tools) and strace only for the tests;
# libmicrohttpd for `rvm serve`; python3, chromium, chromium-driver and python3-selenium for
# its tests; slurm-wlm and munge only for the test that brings up a one-node Slurm cluster
# (tests/cli/slurm.sh).
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  gcc make cmake pkg-config gzip \
  libzip-dev libcjson-dev \
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev \
  libavdevice-dev \
  libmicrohttpd-dev \
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav \
  ffmpeg strace \
  python3 chromium chromium-driver python3-selenium \
  slurm-wlm munge \
  python3-dev python3-numpy python3-setuptools python3-wheel python3-pip python3-venv \
  python3-pytest \
  clang libclang-rt-14-dev >/dev/null
