# SPDX-License-Identifier: GPL-3.0-or-later
"""The Python API's overhead: model(src) at 1920x1080, ratio 0.25, states fed back, against
rvm_bench (the same network called from C) in the same run, alternately (the machine may be
shared: alternating spreads its load over both).

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
    c_runs, py_runs, c_cpu, py_cpu = [], [], [], []
    for _ in range(rounds):
        out = subprocess.run([bench, "--width", str(W), "--height", str(H), "--ratio", str(RATIO),
                              "--threads", str(THREADS), "--frames", str(FRAMES)],
                             check=True, capture_output=True, text=True).stdout
        c_runs.append(json.loads(out)["ms_per_frame_median"])
        c_cpu.append(json.loads(out)["cpu_ms_per_frame"])
        wall, cpu = python_ms(model, src)
        py_runs.append(wall), py_cpu.append(cpu)
        print(f"rvm_bench {c_runs[-1]:.1f} ms ({c_cpu[-1]:.1f} ms CPU), "
              f"model(src) {wall:.1f} ms ({cpu:.1f} ms CPU)", flush=True)
    c, p = statistics.median(c_runs), statistics.median(py_runs)
    cc, pc = statistics.median(c_cpu), statistics.median(py_cpu)
    print(json.dumps({"rvm_bench_ms": c, "python_ms": p, "overhead_percent": 100 * (p - c) / c,
                      "rvm_bench_cpu_ms": cc, "python_cpu_ms": pc,
                      "cpu_overhead_percent": 100 * (pc - cc) / cc, "rounds": rounds}))


if __name__ == "__main__":
    main()
