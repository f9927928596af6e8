# SPDX-License-Identifier: GPL-3.0-or-later
"""rvm.convert_video: the official seed call on the shipped sample (H.264 yuv420p with the index
at the front, checked with ffprobe and by reading the MP4's boxes), the same pixels as the rvm
command for the same settings, the official arguments' semantics (automatic ratio, bit rate,
PNG sequences, odd sizes, image folders), messages, bad arguments, the progress bar, threads,
and Ctrl-C."""
import os
import signal
import shutil
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

import rvm
from conftest import ROOT

SAMPLE = ROOT / "samples" / "asl_gestures_again.mkv"
pytestmark = pytest.mark.skipif(not shutil.which("ffprobe") or not shutil.which("ffmpeg"),
                                reason="needs ffmpeg and ffprobe")


def probe(path, entries):
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", f"stream={entries}", "-of",
                          "default=noprint_wrappers=1", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.split())


def frame_count(path):
    return int(probe(path, "nb_read_frames")["nb_read_frames"])


def top_level_boxes(path):
    """The MP4's top-level box types in file order (ISO BMFF: a 32-bit size and a type; a
    64-bit size follows when the size is 1)."""
    boxes = []
    with open(path, "rb") as f:
        size_total = os.fstat(f.fileno()).st_size
        at = 0
        while at + 8 <= size_total:
            f.seek(at)
            head = f.read(16)
            size, kind = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(head[8:16], "big")
            boxes.append(kind)
            if size < 8:
                break
            at += size
    return boxes


def decode(path, pix_fmt="rgb24"):
    """Every frame of a video, an image or a PNG sequence folder, decoded by ffmpeg:
    uint8/uint16 array [frames, height, width, channels]."""
    path = str(path)
    if os.path.isdir(path):
        path = os.path.join(path, "%04d.png")
    info = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "stream=width,height", "-of", "csv=p=0", path],
                          check=True, capture_output=True, text=True).stdout.split(",")
    w, h = int(info[0]), int(info[1])
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "rawvideo",
                          "-pix_fmt", pix_fmt, "-"], check=True, capture_output=True).stdout
    channels = {"rgb24": 3, "rgba": 4, "gray": 1, "rgb48le": 3, "gray16le": 1}[pix_fmt]
    dtype = np.uint16 if pix_fmt.endswith("16le") or pix_fmt == "rgb48le" else np.uint8
    return np.frombuffer(raw, dtype).reshape(-1, h, w, channels)


def command():
    """The rvm command built from this tree (scripts/test-python.sh gives it), for the
    comparisons; the tests that need it skip without it."""
    path = os.environ.get("RVM_COMMAND") or shutil.which("rvm")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("the rvm command is not built (RVM_COMMAND)")
    return path


def run_command(*args):
    subprocess.run([command(), "--disable-progress", "--threads", "2", *args], check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def model():
    return rvm.load("mobilenetv3", threads=2)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding input.mp4 (the shipped sample, remuxed by ffmpeg), as the current
    folder: the seed call names its files relative to it."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(SAMPLE), "-c", "copy", "-an",
                    str(tmp_path / "input.mp4")], check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_seed_call(model, workdir):
    frames_in = frame_count("input.mp4")
    convert_video = rvm.convert_video
    # The seed, as written (torch.hub.load replaced by rvm.load / rvm.convert_video).
    convert_video(model, input_source='input.mp4', downsample_ratio=None, output_type='video',
                  output_composition='com.mp4', output_alpha='pha.mp4', output_foreground='fgr.mp4',
                  output_video_mbps=4, seq_chunk=12, num_workers=1, progress=True)
    for name in ("com.mp4", "pha.mp4", "fgr.mp4"):
        info = probe(name, "codec_name,pix_fmt,width,height,nb_read_frames")
        assert info["codec_name"] == "h264" and info["pix_fmt"] == "yuv420p", (name, info)
        assert (info["width"], info["height"]) == ("640", "480")
        assert int(info["nb_read_frames"]) == frames_in, (name, info)
        boxes = top_level_boxes(name)
        assert "moov" in boxes and boxes.index("moov") < boxes.index("mdat"), (name, boxes)
    # Run again over the same outputs, as a notebook cell is: the official converter writes
    # over them, and so does convert_video by default.
    convert_video(model, input_source='input.mp4', output_alpha='pha.mp4', progress=False)
    assert frame_count("pha.mp4") == frames_in
    assert sorted(os.listdir(".")) == ["com.mp4", "fgr.mp4", "input.mp4", "pha.mp4"]


def test_png_sequences_equal_the_command(model, workdir):
    """The same settings give the command's pixels (within 1/255): odd size, explicit ratio,
    16-bit alpha, transparent and coloured compositions."""
    common = dict(input_resize=(321, 241), downsample_ratio=0.5, output_type="png_sequence",
                  progress=False, duration=1)
    rvm.convert_video(model, "input.mp4", output_alpha="py/pha", output_composition="py/com",
                      output_foreground="py/fgr", output_depth=16, **common)
    rvm.convert_video(model, "input.mp4", output_composition="py/green",
                      background="#78ff9b", **common)
    flags = ["-i", "input.mp4", "--input-resize", "321", "241", "--downsample-ratio", "0.5",
             "--output-type", "png_sequence", "--duration", "1"]
    run_command(*flags, "--output-alpha", "cmd/pha", "--output-composition", "cmd/com",
                "--output-foreground", "cmd/fgr", "--output-depth", "16")
    run_command(*flags, "--output-composition", "cmd/green", "--background", "#78ff9b")
    frames = frame_count("input.mp4")
    for name, fmt, one in (("pha", "gray16le", 257), ("com", "rgba", 1), ("fgr", "rgb48le", 257),
                           ("green", "rgb24", 1)):
        py, cmd = decode(f"py/{name}", fmt), decode(f"cmd/{name}", fmt)
        assert py.shape[1:3] == (241, 321) and 0 < py.shape[0] < frames, (name, py.shape)
        assert py.shape == cmd.shape, name
        diff = np.abs(py.astype(np.int32) - cmd.astype(np.int32)).max()
        assert diff <= one, (name, diff)
    # The composition over no background is transparent where the matte is 0.
    com = decode("py/com", "rgba")
    pha = decode("py/pha", "gray16le")
    assert (com[..., 3][pha[..., 0] == 0] == 0).all()


def test_automatic_ratio_is_the_official_rule(model, workdir):
    """downsample_ratio=None is min(512 / max(W, H), 1) of the converted size."""
    for size in ((640, 480), (1000, 300), (256, 144)):
        ratio = min(512 / max(size), 1)
        rvm.convert_video(model, "input.mp4", input_resize=size, output_type="png_sequence",
                          output_alpha="auto", progress=False, duration=0.4)
        rvm.convert_video(model, "input.mp4", input_resize=size, output_type="png_sequence",
                          output_alpha="given", downsample_ratio=ratio, progress=False,
                          duration=0.4)
        auto, given = decode("auto", "gray"), decode("given", "gray")
        assert auto.shape[1:3] == (size[1], size[0]) and np.array_equal(auto, given), size
        if ratio < 1:
            rvm.convert_video(model, "input.mp4", input_resize=size,
                              output_type="png_sequence", output_alpha="other",
                              downsample_ratio=ratio / 2, progress=False, duration=0.4)
            assert not np.array_equal(auto, decode("other", "gray")), size
        for folder in ("auto", "given", "other"):
            shutil.rmtree(folder, ignore_errors=True)


def test_video_bit_rate_and_odd_sizes(model, workdir):
    """output_video_mbps is the average bit rate asked; odd sizes are padded by one for 4:2:0
    (641x481 in, 642x482 stored, the picture the command's)."""
    for mbps in (1, 4):
        rvm.convert_video(model, "input.mp4", output_composition=f"com{mbps}.mp4",
                          output_video_mbps=mbps, progress=False)
        rate = int(probe(f"com{mbps}.mp4", "bit_rate")["bit_rate"])
        assert abs(rate - mbps * 1e6) < 0.25 * mbps * 1e6, (mbps, rate)
    rvm.convert_video(model, "input.mp4", output_alpha="odd.mp4", input_resize=(641, 481),
                      output_video_mbps=2, progress=False, duration=1)
    run_command("-i", "input.mp4", "--output-alpha", "odd_cmd.mp4", "--input-resize", "641",
                "481", "--output-video-mbps", "2", "--duration", "1")
    info = probe("odd.mp4", "width,height,pix_fmt,nb_read_frames")
    assert (info["width"], info["height"], info["pix_fmt"]) == ("642", "482", "yuv420p")
    py, cmd = decode("odd.mp4", "gray"), decode("odd_cmd.mp4", "gray")
    assert py.shape == cmd.shape and np.abs(py.astype(int) - cmd.astype(int)).max() <= 1


def test_image_folder_and_extras(model, workdir):
    os.mkdir("frames")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", "input.mp4", "-frames:v", "12",
                    "-vf", "scale=160:120", "frames/img%d.png"], check=True)
    rvm.convert_video(model, "frames", output_composition="com.mp4", input_fps=24,
                      background=np.array([32, 32, 32]), progress=False)
    info = probe("com.mp4", "width,height,nb_read_frames,avg_frame_rate")
    assert info == {"width": "160", "height": "120", "nb_read_frames": "12",
                    "avg_frame_rate": "24/1"}, info
    rvm.convert_video(model, "input.mp4", output_composition="com.webm", background="none",
                      codec="vp9", duration=0.3, progress=False, threads=1)
    assert probe("com.webm", "codec_name")["codec_name"] == "vp9"
    rvm.convert_video(model, "input.mp4", output_alpha="a.mp4", crf=30, preset="ultrafast",
                      start=1, duration="00:00:00.5", progress=False)
    assert 0 < frame_count("a.mp4") < frame_count("input.mp4")


def test_notes_and_warnings_reach_python(model, workdir, capfd):
    """Notes about the input (printed by the thread that decodes) arrive on Python's stderr."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25", "-t", "0.4", "-vf", "setfield=tff",
                    "-c:v", "libx264", "-flags", "+ilme+ildct", "inter.mp4"], check=True)
    rvm.convert_video(model, "inter.mp4", output_alpha="a.mp4", progress=False)
    err = capfd.readouterr().err
    assert "rvm: the input is interlaced" in err and err.count("\n") == 1, err


def test_truncated_input_warns(model, workdir):
    """A cut-off input is converted as far as it goes, and what the outputs lack is a
    ConversionWarning (it was a note on stderr, which a program cannot catch)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25", "-t", "4", "-c:v", "libx264", "whole.mkv"],
                   check=True)
    with open("whole.mkv", "rb") as f:
        data = f.read()
    with open("cut.mkv", "wb") as f:
        f.write(data[:len(data) // 3])
    with pytest.warns(rvm.ConversionWarning, match="ended early") as caught:
        rvm.convert_video(model, "cut.mkv", output_alpha="a.mp4", progress=False)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert 0 < frame_count("a.mp4") < frame_count("whole.mkv")


def test_bad_arguments(model, workdir):
    with pytest.raises(FileNotFoundError):
        rvm.convert_video(model, "missing.mp4", output_composition="com.mp4")
    with pytest.raises(FileNotFoundError):  # not "Protocol not found"
        rvm.convert_video(model, "take:2.mp4", output_composition="com.mp4")
    with pytest.raises(ValueError, match="device"):
        rvm.convert_video(model, "input.mp4", output_composition="com.mp4", device="cuda")
    with pytest.raises(ValueError, match="float32"):
        rvm.convert_video(model, "input.mp4", output_composition="com.mp4", dtype="float16")
    with pytest.raises(ValueError, match="at least one"):
        rvm.convert_video(model, "input.mp4")
    with pytest.raises(ValueError, match="output_type"):
        rvm.convert_video(model, "input.mp4", output_alpha="a", output_type="gif")
    for bad in (0, 2, -0.5, float("nan")):
        with pytest.raises(ValueError, match="downsample_ratio"):
            rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", downsample_ratio=bad)
    # Numbers must be numbers (numpy's are): a string or a bool reached the command as text.
    for name, bad in (("downsample_ratio", "0.5"), ("downsample_ratio", True),
                      ("downsample_ratio", np.array([0.5])), ("crf", "18"), ("crf", True),
                      ("crf", 18.0), ("threads", "2"), ("threads", True), ("threads", 2.0),
                      ("output_depth", "16"), ("output_depth", True), ("seq_chunk", "12"),
                      ("seq_chunk", True), ("num_workers", False), ("output_video_mbps", "4"),
                      ("output_video_mbps", True), ("start", True), ("duration", False),
                      ("duration", [1]), ("input_fps", True), ("codec", 264),
                      ("precision", 8)):
        with pytest.raises(TypeError, match=f"^{name} must be"):
            rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", **{name: bad})
    with pytest.raises(TypeError, match="input_resize width must be"):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", input_resize=("64", 48))
    with pytest.raises(rvm.UnsupportedError, match="device"):
        rvm.convert_video(model, "input.mp4", output_composition="com.mp4", device="cuda:0")
    with pytest.raises(rvm.UnsupportedError, match="float16"):
        rvm.convert_video(model, "input.mp4", output_composition="com.mp4", dtype="float16")
    with pytest.raises(ValueError, match="seq_chunk"):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", seq_chunk=0)
    with pytest.raises(ValueError, match="num_workers"):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", num_workers=-1)
    with pytest.raises(ValueError, match="output_video_mbps"):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", output_video_mbps=0)
    with pytest.raises(TypeError, match="input_resize"):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", input_resize=640)
    # The official code's colours are 0..1 floats: refused, not truncated to near-black.
    for bad in ((0.47, 1, 0.6), (300, 0, 0), (1, 2), np.array([0.5, 0.5, 0.5])):
        with pytest.raises(ValueError, match="background"):
            rvm.convert_video(model, "input.mp4", output_composition="com.mp4", background=bad)
    with pytest.raises(TypeError, match="background"):
        rvm.convert_video(model, "input.mp4", output_composition="com.mp4", background=0x202020)
    with pytest.raises(ValueError):  # the command's own messages
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", codec="prores")
    with pytest.raises(ValueError, match="preset"):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", codec="vp9",
                          preset="slow")
    with pytest.raises(ValueError, match="refusing to write over it"):
        rvm.convert_video(model, "input.mp4", output_composition="input.mp4")
    with pytest.raises(TypeError):
        rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", no_such_argument=1)
    # The command's messages name Python's arguments, not the command's flags.
    (workdir / "old.mp4").write_bytes(b"old")
    with pytest.raises(FileExistsError) as e:
        rvm.convert_video(model, "input.mp4", output_alpha="old.mp4", overwrite=False)
    assert str(e.value) == "output_alpha old.mp4 exists (pass overwrite=True to replace it)"
    with pytest.raises(ValueError) as e:
        rvm.convert_video(model, "input.mp4", output_foreground="input.mp4")
    assert str(e.value).startswith("output_foreground input.mp4 is the input")
    os.remove("old.mp4")
    with pytest.raises(TypeError, match="rvm.load"):
        rvm.convert_video("model", "input.mp4", output_alpha="pha.mp4")
    (workdir / "junk.mp4").write_bytes(b"\0" * 1000)
    with pytest.raises(rvm.ConversionError) as e:
        rvm.convert_video(model, "junk.mp4", output_alpha="out.mp4")
    assert "\n" not in str(e.value) and str(e.value) and e.value.status == 3
    os.mkdir("empty")
    with pytest.raises(rvm.ConversionError):
        rvm.convert_video(model, "empty", output_alpha="out.mp4")
    assert sorted(os.listdir(".")) == ["empty", "input.mp4", "junk.mp4"]  # nothing left
    assert os.path.getsize("input.mp4") > 1000


def test_numpy_numbers(model, workdir):
    """numpy's scalars (a config array's values) and a Fraction are numbers to every numeric
    argument."""
    from fractions import Fraction
    rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", progress=False,
                      downsample_ratio=np.float32(0.5), crf=np.int64(30), threads=np.int32(2),
                      duration=np.float64(0.5), start=np.int64(0), seq_chunk=np.int64(4),
                      input_resize=(np.int64(64), np.int32(48)))
    info = probe("pha.mp4", "width,height,nb_read_frames")
    assert (info["width"], info["height"]) == ("64", "48") and int(info["nb_read_frames"]) > 0
    os.mkdir("frames")
    for i in range(3):
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", "input.mp4", "-vf",
                        f"select=eq(n\\,{i})", "-frames:v", "1", f"frames/{i}.png"], check=True)
    rvm.convert_video(model, "frames", output_alpha="fps.mp4", progress=False,
                      input_fps=Fraction(24000, 1001))
    rate = probe("fps.mp4", "r_frame_rate")["r_frame_rate"]
    assert rate == "24000/1001", rate
    # A Fraction of a second for start and duration: the command's times have no N/D form
    # ('--start 1/2' was refused); the frames of start=0.5, duration=0.5.
    rvm.convert_video(model, "input.mp4", output_alpha="frac.mp4", progress=False,
                      start=Fraction(1, 2), duration=Fraction(1, 2))
    rvm.convert_video(model, "input.mp4", output_alpha="float.mp4", progress=False,
                      start=0.5, duration=0.5)
    frames = [probe(f, "nb_read_frames")["nb_read_frames"] for f in ("frac.mp4", "float.mp4")]
    assert frames[0] == frames[1] and int(frames[0]) > 0, frames


def test_progress_bar_in_a_notebook(model, workdir, monkeypatch):
    """In a Jupyter kernel the bar is an HTML <progress> element updated in place (IPython's
    display with a display_id), ending at the frames converted."""
    shown = []

    class Handle:
        def update(self, html):
            shown.append(html.data)

    def display(html, display_id=False):
        assert display_id is True
        shown.append(html.data)
        return Handle()

    class Shell:
        config = {"IPKernelApp": {}}

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: Shell()
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.HTML = lambda data: types.SimpleNamespace(data=data)
    ipython_display.display = display
    ipython.display = ipython_display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    rvm.convert_video(model, "input.mp4", output_alpha="pha.mp4", input_resize=(160, 120),
                      duration=0.5, progress=True)
    frames = frame_count("pha.mp4")
    assert shown and all("<progress" in h for h in shown)
    assert f'value="{frames}" max="{frames}"' in shown[-1] and f"{frames}/{frames}" in shown[-1]


def test_two_conversions_at_once(model, workdir):
    """Two threads converting with one model give what one conversion gives."""
    results = {}

    def convert(name):
        try:
            rvm.convert_video(model, "input.mp4", output_type="png_sequence",
                              output_alpha=name, input_resize=(160, 120), duration=0.5,
                              progress=False, threads=1)
            results[name] = decode(name, "gray")
        except Exception as e:  # reported below
            results[name] = e

    threads = [threading.Thread(target=convert, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    convert("c")
    assert all(isinstance(r, np.ndarray) for r in results.values()), results
    assert np.array_equal(results["a"], results["c"]) and np.array_equal(results["b"], results["c"])


def test_ctrl_c_leaves_playable_files(workdir):
    """Ctrl-C during a conversion: KeyboardInterrupt once the outputs are completed with the
    frames done (playable, index at the front), and nothing hidden left beside them."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-stream_loop", "3", "-i", "input.mp4",
                    "-c", "copy", "long.mp4"], check=True)
    total = frame_count("long.mp4")
    # The child asks for Python's own Ctrl-C handler: started from a background job (nohup,
    # `./scripts/test.sh &`), it inherits SIGINT ignored, and Python then keeps it ignored.
    script = ("import rvm, signal, sys\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "m = rvm.load(threads=1)\n"
              "print('ready', flush=True)\n"
              "try:\n"
              "    rvm.convert_video(m, 'long.mp4', output_composition='com.mp4',\n"
              "                      output_alpha='pha.mp4', output_video_mbps=1,\n"
              "                      progress=False)\n"
              "except KeyboardInterrupt:\n"
              "    print('interrupted', flush=True)\n"
              "    sys.exit(3)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 300
        # Wait until frames are being written (the hidden files beside the outputs grow).
        while time.monotonic() < deadline and proc.poll() is None:
            parts = [p for p in os.listdir(".") if p.endswith(".rvm-part")]
            if sum(os.path.getsize(p) for p in parts if os.path.exists(p)) > 20000:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 3 and "interrupted" in out, (proc.returncode, out, err)
    assert "rvm: interrupted: the outputs hold the" in err, err
    for name in ("com.mp4", "pha.mp4"):
        frames = frame_count(name)
        assert 0 < frames < total, (name, frames)
        boxes = top_level_boxes(name)
        assert boxes.index("moov") < boxes.index("mdat"), (name, boxes)
        dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", name, "-f", "null", "-"],
                             capture_output=True, text=True)
        assert dec.returncode == 0 and not dec.stderr, (name, dec.stderr)
    assert sorted(os.listdir(".")) == ["com.mp4", "input.mp4", "long.mp4", "pha.mp4"]
