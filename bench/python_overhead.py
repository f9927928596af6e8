# SPDX-License-Identifier: GPL-3.0-or-later
"""The Python API's overhead: model(src) at 1920x1080, ratio 0.25, states fed back, against
rvm_bench (the same network called from C) in the same run, alternately (the machine may be
shared: alternating spreads its load over both). rvm_bench runs twice a round: with 8-bit
frames (the converter's pixels: "overhead") and with planar float32 in and out (--pixels f32,
what model(src) passes: "binding_overhead", the cost of the Python layer alone); their
difference is the float frames' memory traffic (58 MB a 1080p step instead of 14 MB).

    build-python/venv/bin/python bench/python_overhead.py build/bench/rvm_bench [rounds]
"""
import json
import statistics
import subprocess
import sys
import time

import numpy as np

import rvm

W, H, RATIO, THREADS, FRAMES = 1920, 1080, 0.25, 2, 20


def python_ms(model, src):
    """Median wall time per frame, and CPU time of all threads per frame (steadier on a
    loaded machine; rvm_bench reports both)."""
    rec = [None] * 4
    times = []
    for t in range(FRAMES + 2):  # two warm-up frames, as rvm_bench
        if t == 2:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        fgr, pha, *rec = model(src, *rec, downsample_ratio=RATIO)
        if t >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), (time.process_time() - cpu0) * 1000 / FRAMES


def main():
    bench, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    model = rvm.load(threads=THREADS)
    rng = np.random.default_rng(1)
    src = rng.random((1, 3, H, W), dtype=np.float32)
    runs = {"u8": ([], []), "f32": ([], []), "python": ([], [])}
    for _ in range(rounds):
        for pixels in ("u8", "f32"):
            out = json.loads(subprocess.run(
                [bench, "--width", str(W), "--height", str(H), "--ratio", str(RATIO), "--threads",
                 str(THREADS), "--frames", str(FRAMES), "--pixels", pixels],
                check=True, capture_output=True, text=True).stdout)
            runs[pixels][0].append(out["ms_per_frame_median"])
            runs[pixels][1].append(out["cpu_ms_per_frame"])
        wall, cpu = python_ms(model, src)
        runs["python"][0].append(wall), runs["python"][1].append(cpu)
        print("rvm_bench %.1f ms (%.1f ms CPU), rvm_bench --pixels f32 %.1f ms (%.1f ms CPU), "
              "model(src) %.1f ms (%.1f ms CPU)" % tuple(runs[k][i][-1] for k in runs
                                                          for i in (0, 1)), flush=True)
    med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in runs.items()}
    pct = lambda a, b: round(100 * (a - b) / b, 1)  # noqa: E731
    (c, cc), (f, fc), (p, pc) = med["u8"], med["f32"], med["python"]
    print(json.dumps({"rvm_bench_ms": c, "rvm_bench_f32_ms": f, "python_ms": round(p, 1),
                      "overhead_percent": pct(p, c), "binding_overhead_percent": pct(p, f),
                      "rvm_bench_cpu_ms": cc, "rvm_bench_f32_cpu_ms": fc,
                      "python_cpu_ms": round(pc, 1), "cpu_overhead_percent": pct(pc, cc),
                      "binding_cpu_overhead_percent": pct(pc, fc), "rounds": rounds}))

if __name__ == "__main__":
    main()
