#!/usr/bin/python3
# Seam measurement for segment rendering (README "Segments"): how far a segment's alpha is
# from a whole run's when the network starts with a fresh recurrent state t frames earlier.
#   bench/seams.py RVM OUT_DIR CLIP[:W:H:RATIO] ...
# Each clip is first made four times as long (forwards, backwards, forwards, backwards: still
# continuous motion; the shipped clips are 77-89 frames). rvm then runs once over all of it
# and once from each of two later starts (--start: a fresh state, as a segment with no
# warm-up), as 16-bit PNG alpha, and the script prints the
# mean |dalpha| and its 99.9th percentile (over pixels) at t frames after the fresh start,
# worst over clips and starts, then the smallest K that keeps every frame after a seam within
# the limits (mean <= 5e-4, p99.9 <= 2e-2). Needs python3-numpy and python3-pil or ffmpeg.
# SPDX-License-Identifier: GPL-3.0-or-later
import os, subprocess, sys
import numpy as np

MEAN_LIMIT, P999_LIMIT = 5e-4, 2e-2


def run(rvm, clip, out, extra):
    subprocess.run([rvm, "-i", clip, "--output-type", "png_sequence", "--output-depth", "16",
                    "--output-alpha", out, "--disable-progress", "-y"] + extra, check=True)


def load(folder, i):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", os.path.join(folder, "%04d.png" % i),
                          "-f", "rawvideo", "-pix_fmt", "gray16le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<u2").astype(np.float64) / 65535.0


def main():
    rvm, work, clips = sys.argv[1], sys.argv[2], sys.argv[3:]
    curves = {}  # t -> list of (mean, p99.9)
    for n, spec in enumerate(clips):
        parts = spec.split(":")
        source, extra = parts[0], ["--threads", "2"]
        if len(parts) == 4:
            extra += ["--input-resize", parts[1], parts[2], "--downsample-ratio", parts[3]]
        clip = os.path.join(work, "c%d.mkv" % n)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", source, "-an",
                        "-filter_complex",
                        "[0:v]split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1[ab];"
                        "[ab]split[c][d];[c][d]concat=n=2:v=1[o]", "-map", "[o]",
                        "-c:v", "libx264", "-crf", "12", "-g", "30", clip], check=True)
        whole = os.path.join(work, "c%d_whole" % n)
        run(rvm, clip, whole, extra)
        frames = len([f for f in os.listdir(whole) if f.endswith(".png")])
        fps = float(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                                    "-show_entries", "stream=avg_frame_rate", "-of", "csv=p=0",
                                    clip], capture_output=True, text=True).stdout.strip()
                    .split("/")[0]) / float(subprocess.run(
                        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                         "stream=avg_frame_rate", "-of", "csv=p=0", clip],
                        capture_output=True, text=True).stdout.strip().split("/")[1])
        for start in (frames // 3, frames // 2):
            fresh = os.path.join(work, "c%d_from%d" % (n, start))
            # The frame at index `start` is at (start + 0.5) / fps after the first: --start
            # keeps frames from that time on.
            run(rvm, clip, fresh, extra + ["--start", "%.4f" % ((start - 0.5) / fps)])
            got = sorted(f for f in os.listdir(fresh) if f.endswith(".png"))
            first = frames - len(got)
            for t in range(len(got)):
                d = np.abs(load(fresh, t) - load(whole, first + t))
                curves.setdefault(t, []).append((d.mean(), np.percentile(d, 99.9)))
            print("%s: fresh start at frame %d, %d frames compared" % (clip, first, len(got)),
                  file=sys.stderr)
    print("t  worst_mean  worst_p99.9  (over %d starts)" % max(len(v) for v in curves.values()))
    worst = {}
    for t in sorted(curves):
        m = max(c[0] for c in curves[t])
        p = max(c[1] for c in curves[t])
        worst[t] = (m, p)
        print("%2d  %.2e    %.2e" % (t, m, p))
    ts = sorted(worst)
    for k in ts:
        if all(worst[t][0] <= MEAN_LIMIT and worst[t][1] <= P999_LIMIT for t in ts if t >= k):
            print("smallest K within limits on every later frame: %d" % k)
            break
    else:
        print("no K within limits over the frames measured")


main()
