# SPDX-License-Identifier: GPL-3.0-or-later
"""rvm.convert_video: the official converter's signature over the rvm command's conversion,
run in this process (decoding, the network and encoding in threads of their own, the GIL
released while they work)."""
import numbers
import os
import re
import shutil
import sys
import time
import warnings

from . import _rvm

__all__ = ["convert_video", "ConversionError", "ConversionWarning"]

# The command's exit codes (src/cli/cli.h).
_EXIT_USAGE, _EXIT_BAD_INPUT = 2, 3

# The command's messages name its flags; a Python caller set convert_video's arguments of
# the same names (--output-alpha is output_alpha), and overwrite=True where it gives -y.
_FLAG = re.compile(r"(?<![\w-])--(input-source|output-type|output-composition|output-alpha|"
                   r"output-foreground|input-resize|downsample-ratio|output-video-mbps|"
                   r"seq-chunk|num-workers|background|codec|crf|preset|start|duration|"
                   r"input-fps|output-depth|precision|threads)(?![\w-])")


def _pythonic(text):
    text = text.replace("(use -y to overwrite)", "(pass overwrite=True to replace it)")
    return _FLAG.sub(lambda m: m.group(1).replace("-", "_"), text)


class ConversionError(RuntimeError):
    """A conversion failed. The message is the rvm command's one-line error; status is the
    exit code the command would have returned (1 failed, 3 a bad input, 75 writing failed or
    an output being written by another run: retry later, 153 stopped at the file size limit:
    the outputs then hold the frames done)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class ConversionWarning(UserWarning):
    """Something the outputs lack, the conversion went on (e.g. damaged audio skipped)."""


def _in_notebook():
    """Whether this runs in a Jupyter kernel (notebook, JupyterLab, VS Code, Colab), where the
    bar is drawn as HTML."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython too old or too new to ask: not drawn as HTML
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _ProgressBar:
    """Frames done, speed and time left: a line redrawn in place on a terminal (as the rvm
    command draws it), an HTML <progress> element updated in place in a notebook; nothing
    elsewhere (a log file, a pipe)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.last = None
        self.handle = None
        self.drawn = False
        self.notebook = _in_notebook()
        try:
            self.tty = not self.notebook and self.stream.isatty()
        except (AttributeError, ValueError):  # no isatty, or closed
            self.tty = False

    def _text(self, done, total):
        elapsed = time.monotonic() - self.t0
        fps = done / elapsed if elapsed > 0 else 0.0
        if total > 0:
            eta = _clock((total - done) / fps) if fps > 0 else "--:--"
            return f"{done}/{total} frames  {fps:.1f} fps  ETA {eta}"
        return f"{done} frames  {fps:.1f} fps  {_clock(elapsed)}"

    def update(self, done, total, final=False):
        now = time.monotonic()
        if not final and self.last is not None and now - self.last < 0.25:
            return
        self.last = now
        # The total is an estimate from the input's header: never past 100%.
        if total > 0 and done > total:
            total = done
        if self.notebook:
            self._draw_html(done, total)
        elif self.tty:
            cols = shutil.get_terminal_size((80, 24)).columns
            text = " " + self._text(done, total)
            width = min(cols - len(text) - 4, 50)
            bar = ""
            if total > 0 and width >= 10:
                fill = int(width * done / total)
                bar = "[" + "#" * fill + "." * (width - fill) + "]"
            self.stream.write("\r" + bar + text + "\033[K" + ("\n" if final else ""))
            self.stream.flush()
            self.drawn = not final

    def _draw_html(self, done, total):
        from IPython.display import HTML, display
        value = f' value="{done}" max="{total}"' if total > 0 else ""
        html = HTML(f"<progress{value} style='width:50%'></progress>&nbsp;"
                    f"<code>{self._text(done, total)}</code>")
        if self.handle is None:
            self.handle = display(html, display_id=True)
        else:
            self.handle.update(html)

    def write(self, line):
        """A line of its own, above the bar on a terminal."""
        if self.tty and self.drawn:
            self.stream.write("\r\033[K")
        self.stream.write(line + "\n")
        self.stream.flush()


def _clock(seconds):
    t = int(seconds + 0.5)
    if t >= 3600:
        return f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}"
    return f"{t // 60:02d}:{t % 60:02d}"


def _numeric(name, value, integer=False, what=None):
    """value as a Python int or float, or TypeError naming the argument. Numbers of any kind
    are taken (numpy's scalars, a 0-d array or tensor, a Fraction); a bool, a string or None is
    not a number (True would be 1 without a word, "0.5" a number only by luck)."""
    kind = numbers.Integral if integer else numbers.Real
    item = value
    if not isinstance(value, (numbers.Number, str, bytes)) and getattr(value, "ndim", None) == 0 \
            and hasattr(value, "item"):
        item = value.item()  # a 0-d numpy array or torch tensor holding one number
    if isinstance(item, bool) or not isinstance(item, kind):
        raise TypeError(f"{name} must be {what or ('an integer' if integer else 'a number')}, "
                        f"not {type(value).__name__} {value!r}")
    return int(item) if integer else item


def _number(name, value, low, high, low_open=True, integer=False):
    """value as the command's flag wants it, or ValueError/TypeError naming the argument."""
    value = _numeric(name, value, integer)
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or value != value:  # NaN compares false
        bound = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bound}{low}, {high}], not {value!r}")
    return str(int(value)) if integer else repr(float(value))


def _number_or_text(name, value, what):
    """A flag that takes a number or the command's own text form (start='1:30',
    input_fps='24000/1001'): a string as given (the command checks it), a number as a number;
    a Fraction as N/D for input_fps, exactly; a time has no N/D form (FFmpeg's time syntax,
    which --start and --duration read, refuses '1/2'), so there it is a decimal."""
    if isinstance(value, str):
        return value
    value = _numeric(name, value, what=what)
    if isinstance(value, numbers.Rational) and not isinstance(value, numbers.Integral) \
            and name == "input_fps":
        return f"{value.numerator}/{value.denominator}"
    return repr(float(value)) if not isinstance(value, numbers.Integral) else str(int(value))


def _background(value):
    """background as the command's flag wants it. A colour given as numbers must be three
    whole numbers 0..255: int() would turn the official 0..1 colours ((0.47, 1, 0.6)) into
    near-black without a word."""
    if isinstance(value, (str, bytes, os.PathLike)):
        return os.fsdecode(os.fspath(value))
    try:
        parts = list(value)
    except TypeError:
        raise TypeError("background must be a colour name, '#RRGGBB', 'R,G,B', an (R, G, B) "
                        f"tuple, an image or video path, or 'none'; not {value!r}") from None
    ok = len(parts) == 3 and all(
        isinstance(c, numbers.Integral) and not isinstance(c, bool) and 0 <= c <= 255
        for c in parts)
    if not ok:
        raise ValueError(f"background {value!r}: an (R, G, B) colour is three whole numbers "
                         "from 0 to 255 (for 0..1 values, multiply by 255 and round)")
    return ",".join(str(int(c)) for c in parts)


def convert_video(model, input_source, input_resize=None, downsample_ratio=None,
                  output_type="video", output_composition=None, output_alpha=None,
                  output_foreground=None, output_video_mbps=None, seq_chunk=1, num_workers=0,
                  progress=True, device=None, dtype=None, *, background=None, codec=None,
                  crf=None, preset=None, audio=True, threads=None, overwrite=True, start=None,
                  duration=None, input_fps=None, output_depth=None, precision=None,
                  verbose=False):
    """Converts a video (or a folder of images) as the official convert_video does, with the
    rvm command's conversion, in this process.

    The official arguments:
      model: from rvm.load(...).
      input_source: a video file, a folder of images (in natural order), or any input
        FFmpeg opens (a URL, '-' for stdin).
      input_resize: (width, height) to scale the input to, or None.
      downsample_ratio: in (0, 1]; None: the official rule min(512 / max(width, height), 1).
      output_type: 'video' or 'png_sequence' (folders of 0000.png, ...; the composition is
        then transparent RGBA unless a background is given, as the official one).
      output_composition, output_alpha, output_foreground: paths (at least one).
      output_video_mbps: the video bit rate in Mbit/s; None: constant quality (x264 CRF 18)
        where the official converter takes 1 Mbit/s.
      seq_chunk, num_workers: accepted (seq_chunk >= 1, num_workers >= 0); frames always
        run one at a time, in order, with decoding and encoding in threads of their own.
      progress: a bar on a terminal or in a notebook.
      device: None or 'cpu' (rvm computes on the CPU); dtype: None or float32 (others raise
        rvm.UnsupportedError).

    rvm's extras, as keywords (the command's flags of the same names): background (a colour
    name, '#RRGGBB', 'R,G,B' or an (R, G, B) tuple of integers 0..255, an image, a video, or
    'none' for a transparent composition), codec ('h264', 'hevc', 'prores', 'vp9', 'ffv1',
    ...), crf, preset, audio (copy the input's audio into the composition and foreground;
    default True), threads (network threads; default the model's), overwrite (default True, as
    the official converter writes over existing outputs; an input is never written over), start
    and duration (seconds or 'HH:MM:SS'), input_fps (for image folders; default 30),
    output_depth (8 or 16, PNG sequences), precision ('fp32' or 'int8'), verbose (FFmpeg's own
    messages).

    Outputs are written beside their final names and put in place when complete; MP4 and MOV
    files have their index at the front, so a browser plays them while they load.

    Raises ValueError or TypeError for bad arguments, FileNotFoundError for a missing input,
    FileExistsError for an existing output with overwrite=False, ConversionError (with the command's one-line message) when the conversion fails. Ctrl-C
    (KeyboardInterrupt, also a notebook's interrupt) stops the conversion: the outputs are
    completed with the frames done (nothing is kept when none was done), then
    KeyboardInterrupt is raised. Warnings are ConversionWarning; notes about the input are
    printed on stderr.
    """
    from . import MattingNetwork, _check_device, _check_dtype
    if not isinstance(model, MattingNetwork):
        raise TypeError("model must come from rvm.load(...), not "
                        f"{type(model).__module__}.{type(model).__name__}")
    _check_device(device)
    _check_dtype(dtype)
    if output_type not in ("video", "png_sequence"):
        raise ValueError(f"output_type must be 'video' or 'png_sequence', not {output_type!r}")
    outputs = (("--output-composition", output_composition), ("--output-alpha", output_alpha),
               ("--output-foreground", output_foreground))
    if not any(path is not None for _, path in outputs):
        raise ValueError("give at least one of output_composition, output_alpha and "
                         "output_foreground")
    _number("seq_chunk", seq_chunk, 1, 1 << 30, low_open=False, integer=True)
    _number("num_workers", num_workers, 0, 1 << 30, low_open=False, integer=True)

    source = os.fspath(input_source)
    if isinstance(source, bytes):
        source = os.fsdecode(source)
    is_url = ":" in source and "/" not in source.split(":", 1)[0]
    if source != "-" and not is_url and not os.path.exists(source):
        raise FileNotFoundError(f"{source}: no such file or folder")

    def flag(name, value):
        argv.append(f"{name}={value}")

    argv = ["rvm"]
    flag("--input-source", source)
    flag("--output-type", output_type)
    for name, path in outputs:
        if path is not None:
            flag(name, os.fsdecode(os.fspath(path)))
    if input_resize is not None:
        try:
            w, h = input_resize
        except (TypeError, ValueError):
            raise TypeError(f"input_resize must be (width, height), not {input_resize!r}") \
                from None
        argv += ["--input-resize", _number("input_resize width", w, 0, 1 << 20, integer=True),
                 _number("input_resize height", h, 0, 1 << 20, integer=True)]
    if downsample_ratio is not None:
        flag("--downsample-ratio", _number("downsample_ratio", downsample_ratio, 0, 1))
    if output_video_mbps is not None:
        flag("--output-video-mbps", _number("output_video_mbps", output_video_mbps, 0, 1e6))
    flag("--seq-chunk", int(seq_chunk))
    flag("--num-workers", int(num_workers))
    if background is not None:
        flag("--background", _background(background))
    # Numbers are checked here, as numbers: the command reads text, so True or "18" would
    # pass as a flag's value ("--crf=True" is refused for a reason that names no argument).
    if crf is not None:
        flag("--crf", _numeric("crf", crf, integer=True))
    if output_depth is not None:
        flag("--output-depth", _numeric("output_depth", output_depth, integer=True))
    if threads is not None:
        threads = _numeric("threads", threads, integer=True)  # its range: the command's
    for name, value, what in (("start", start, "seconds or 'HH:MM:SS'"),
                              ("duration", duration, "seconds or 'HH:MM:SS'"),
                              ("input_fps", input_fps, "a number or 'N/D'")):
        if value is not None:
            flag("--" + name.replace("_", "-"), _number_or_text(name, value, what))
    for name, value in (("codec", codec), ("preset", preset), ("precision", precision)):
        if value is not None:
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string, not {type(value).__name__} "
                                f"{value!r}")
            flag("--" + name, value)
    threads = threads if threads is not None else model._threads
    if threads is not None:
        flag("--threads", threads)
    if model.checkpoint is not None:
        flag("--checkpoint", model.checkpoint)  # so that no output may write over it
    if not audio:
        argv.append("--no-audio")
    if overwrite:
        argv.append("--overwrite")
    if verbose:
        argv.append("--verbose")
    argv.append("--disable-progress")  # the bar is drawn here

    bar = _ProgressBar() if progress else None
    errors = []
    last = {"done": 0, "total": 0}

    def on_progress(done, total):
        last["done"], last["total"] = done, total
        if bar:
            bar.update(done, total)

    def on_message(kind, text):
        text = _pythonic(text)
        if kind == _rvm.MESSAGE_ERROR:
            errors.append(text)
        elif kind == _rvm.MESSAGE_WARNING:
            warnings.warn(text, ConversionWarning, stacklevel=3)
        elif bar:
            bar.write("rvm: " + text)
        else:
            sys.stderr.write("rvm: " + text + "\n")

    try:
        status = _rvm.convert(model._weights(), argv, on_progress, on_message)
    except BaseException:  # KeyboardInterrupt: the bar stays where the run stopped
        if bar and last["done"]:
            bar.update(last["done"], last["total"], final=True)
        raise
    if bar and last["done"]:
        # A complete run: its total (an estimate from the input's header) is what was done.
        bar.update(last["done"], last["done"] if status == 0 else last["total"], final=True)
    if status == 0:
        return None
    message = "; ".join(errors) or f"the conversion failed (exit code {status})"
    if status == _EXIT_USAGE and message.endswith("(pass overwrite=True to replace it)"):
        raise FileExistsError(message)  # as open(name, "x") does
    if status == _EXIT_USAGE:
        raise ValueError(message)
    if status == _EXIT_BAD_INPUT and message.endswith("no such file or folder"):
        raise FileNotFoundError(message)
    raise ConversionError(message, status)
