#!/bin/sh
# ResNet50 at the benchmark's step (issue 14: "report fp32 and int8"): rvm_bench on the
# ResNet50 checkpoint with the deep guided filter (the build's random weights: speed does not
# depend on them), fp32 and int8 alternating, in one run. Prints every run's JSON line, then
# each precision's median over the rounds of its median wall time and of its CPU time per
# frame, and the ratios fp32 / int8. int8 runs where the CPU has VNNI, or with the int8 kernel
# set named by RVM_COMPARE_INT8_ISA (e.g. avx2, for measurements: see bench.c); otherwise only
# fp32, with the reason. On a loaded machine only the CPU times mean something.
# usage: bench/resnet50.sh [--width 1920 --height 1080 --ratio 0.25 --frames 10 --threads 2 --rounds 3]
# SPDX-License-Identifier: GPL-3.0-or-later
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${RVM_BUILD_DIR:-$root/build}
width=1920 height=1080 ratio=0.25 frames=10 threads=2 rounds=3
while [ $# -gt 1 ]; do
  case $1 in
    --width) width=$2 ;; --height) height=$2 ;; --ratio) ratio=$2 ;;
    --frames) frames=$2 ;; --threads) threads=$2 ;; --rounds) rounds=$2 ;;
    *) echo "resnet50: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ $# -eq 0 ] || { echo "resnet50: unknown option $1" >&2; exit 2; }
bench=$build/bench/rvm_bench
ckpt=$build/tests/rvm_resnet50_random.pth
[ -x "$bench" ] && [ -s "$ckpt" ] || { echo "resnet50: build first ($bench, $ckpt)" >&2; exit 1; }
args="--checkpoint $ckpt --width $width --height $height --ratio $ratio --frames $frames --threads $threads"
int8_args="--precision int8"
[ -z "$RVM_COMPARE_INT8_ISA" ] || int8_args="--int8-isa $RVM_COMPARE_INT8_ISA"
if ! why=$("$bench" --checkpoint "$ckpt" --width 64 --height 64 --frames 1 $int8_args 2>&1 >/dev/null); then
  echo "int8: $why"
  int8_args=""
fi
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
med() { echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
f_ms="" f_cpu="" q_ms="" q_cpu=""
i=0
while [ $i -lt "$rounds" ]; do
  f=$("$bench" $args)
  echo "fp32: $f"
  f_ms="$f_ms $(echo "$f" | field ms_per_frame_median)" f_cpu="$f_cpu $(echo "$f" | field cpu_ms_per_frame)"
  if [ -n "$int8_args" ]; then
    q=$("$bench" $args $int8_args)
    echo "int8: $q"
    q_ms="$q_ms $(echo "$q" | field ms_per_frame_median)" q_cpu="$q_cpu $(echo "$q" | field cpu_ms_per_frame)"
  fi
  i=$((i + 1))
done
fm=$(med $f_ms) fc=$(med $f_cpu)
int8=""
if [ -n "$q_ms" ]; then
  qm=$(med $q_ms) qc=$(med $q_cpu)
  int8=", \"int8_ms\": $qm, \"int8_cpu_ms\": $qc, \"int8_vs_fp32\": $(echo "$fm $qm" | awk '{printf "%.2f", $1/$2}'), \"int8_vs_fp32_cpu\": $(echo "$fc $qc" | awk '{printf "%.2f", $1/$2}')"
fi
echo "{\"variant\": \"resnet50\", \"width\": $width, \"height\": $height, \"ratio\": $ratio, \"threads\": $threads, \"rounds\": $rounds, \"fp32_ms\": $fm, \"fp32_cpu_ms\": $fc$int8}"
