#!/bin/sh
# Installs what rvm needs to build and test on Debian 12 (run as root).
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  gcc make cmake pkg-config gzip \
  libzip-dev libcjson-dev \
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev \
  libavdevice-dev \
  ffmpeg >/dev/null
