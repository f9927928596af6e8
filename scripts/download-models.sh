#!/bin/sh
# Downloads the official RVM PyTorch checkpoints (release v1.0.0, GPL-3.0) into a folder and
# checks them against their published sha256. Nothing else in rvm downloads anything; run this
# yourself when you want the deep-guided-filter fp32 models.
# usage: scripts/download-models.sh [FOLDER] (default: models)
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
dest=${1:-models}
base=${RVM_MODELS_URL:-https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0}
mkdir -p "$dest"
fetch() { # url file
  if command -v curl >/dev/null 2>&1; then curl -fL --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then wget -O "$2" "$1"
  else echo "download-models: neither curl nor wget is installed" >&2; return 1; fi
}
status=0
for entry in \
  "rvm_mobilenetv3.pth 3c7c1d92033f7c38d6577c481d13a195d7d80a159b960f4f3119ac7b534cf4f8" \
  "rvm_resnet50.pth c191a807251164c073dce5fa408e7a816070d539b882b2a3150330a9fec112ce"; do
  set -- $entry
  name=$1 sum=$2 part="$dest/.$1.part"
  if [ -f "$dest/$name" ] && echo "$sum  $dest/$name" | sha256sum -c --status; then
    echo "$dest/$name: already there, checksum ok"
    continue
  fi
  if ! fetch "$base/$name" "$part"; then
    echo "download-models: could not download $name" >&2; rm -f "$part"; status=1; continue
  fi
  if echo "$sum  $part" | sha256sum -c --status; then
    mv "$part" "$dest/$name"
    echo "$dest/$name: ok"
  else
    echo "download-models: $name does not have the published checksum; not kept" >&2
    rm -f "$part"; status=1
  fi
done
exit $status
