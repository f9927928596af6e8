# SPDX-License-Identifier: GPL-3.0-or-later
"""rvm.load and model(...) against the official model's golden outputs, the official call's
shapes and semantics, and bad inputs (each a clear exception, never a crash)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

import rvm
from conftest import ROOT, SUBSET, golden_cases


def frames_of(case, count=None):
    """The case's uint8 [T,H,W,3] frames as the official model reads them: float32 [T,3,H,W]/255."""
    frames = np.load(case / "input.npy")[:count]
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).astype(np.float32) / 255


def within_golden_tolerance(ours, ref, what):
    """The golden README's rule: 99.99% within 1e-3, all within 1e-2, mean error <= 1e-4."""
    err = np.abs(ours.astype(np.float64) - ref)
    assert (err <= 1e-3).mean() >= 0.9999, f"{what}: {(err > 1e-3).mean():.2e} beyond 1e-3"
    assert err.max() <= 1e-2, f"{what}: max error {err.max():.3g}"
    assert err.mean() <= 1e-4, f"{what}: mean error {err.mean():.3g}"


@pytest.fixture(scope="module")
def shipped():
    return rvm.load("mobilenetv3")


def model_for(case, checkpoints):
    meta = json.loads((case / "meta.json").read_text())
    if case.parent == SUBSET:
        return meta, rvm.load("mobilenetv3")  # the subset's model is the shipped one
    ckpt = checkpoints(meta["checkpoint"])
    if ckpt is None or os.path.getsize(ckpt) == 0:
        pytest.skip(f"{meta['checkpoint']} is not in ../shared/models")
    return meta, rvm.load(meta["variant"], checkpoint=ckpt, threads=2)


def test_official_module_layout_and_a_clean_namespace():
    """The official repo's `from model import MattingNetwork` and `from inference import
    convert_video` work as rvm.model and rvm.inference; the package exposes its API, not the
    modules it uses (np, os, collections, numbers and convert were attributes of rvm)."""
    from rvm.inference import convert_video
    from rvm.model import MattingNetwork
    assert MattingNetwork is rvm.MattingNetwork and convert_video is rvm.convert_video
    public = {n for n in dir(rvm) if not n.startswith("_")}
    api = {n for n in rvm.__all__ if not n.startswith("_")}
    assert public == api | {"model", "inference"}, sorted(public)
    star = {}
    exec("from rvm import *", star)  # what a star import gives: the API
    assert "np" not in star and "convert_video" in star


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.name)
def test_golden(case, checkpoints):
    meta, model = model_for(case, checkpoints)
    src = frames_of(case)
    pha_ref = np.load(case / "pha.npy")[: len(src)].astype(np.float64) / 65535
    fgr_ref = np.load(case / "fgr.npy")[: len(src)].astype(np.float64) / 65535
    ratio = meta["downsample_ratio"]
    assert model.variant == meta["variant"]
    # Frame by frame, the states handed back as the official loop does.
    rec = [None] * 4
    for t in range(len(src)):
        fgr, pha, *rec = model(src[t][None], *rec, downsample_ratio=ratio)
        assert fgr.shape == (1, 3) + src.shape[2:] and pha.shape == (1, 1) + src.shape[2:]
        within_golden_tolerance(pha[0], pha_ref[t], f"pha frame {t}")
        within_golden_tolerance(fgr[0], fgr_ref[t], f"fgr frame {t}")
    # The whole clip as [B=1, T, 3, H, W]: the same numbers as frame by frame.
    fgr_t, pha_t, *rec_t = model(src[None], downsample_ratio=ratio)
    assert pha_t.shape == (1, len(src), 1) + src.shape[2:]
    np.testing.assert_array_equal(pha_t[0, -1], pha[0])
    for a, b in zip(rec, rec_t):
        np.testing.assert_array_equal(a, b)
    # The segmentation pass from an empty state (dumped for cases with layers).
    seg_file = case / "layers" / "t00_seg.npy"
    if seg_file.exists():
        seg, *_ = model(src[:1], downsample_ratio=ratio, segmentation_pass=True)
        ref = np.load(seg_file)
        assert seg.shape == (1,) + ref.shape
        err = np.abs(seg[0] - ref) / max(1.0, np.abs(ref).max())
        assert (err <= 1e-3).mean() >= 0.9999 and err.max() <= 1e-2


def test_batch_is_independent_videos(shipped):
    src = frames_of(SUBSET / "official_fgf_320x240_r0.5")
    other = np.ascontiguousarray(src[:, :, ::-1, :])  # another video: upside down
    both = np.stack([src, other])  # [2, T, 3, H, W]
    fgr, pha, *rec = shipped(both, downsample_ratio=0.5)
    for b, video in enumerate((src, other)):
        f1, p1, *r1 = shipped(video[None], downsample_ratio=0.5)
        np.testing.assert_array_equal(p1[0], pha[b])
        np.testing.assert_array_equal(f1[0], fgr[b])
        for a, c in zip(r1, rec):
            np.testing.assert_array_equal(a[0], c[b])


def test_states_fork_and_threads(shipped):
    src = frames_of(SUBSET / "official_fgf_320x240_r0.5")
    _, _, *rec = shipped(src[:1], downsample_ratio=0.5)
    _, expected, *_ = shipped(src[1:2], *rec, downsample_ratio=0.5)
    # The same state used twice (a fork): the same result, the state not consumed.
    _, again, *_ = shipped(src[1:2], *rec, downsample_ratio=0.5)
    np.testing.assert_array_equal(expected, again)
    # Contiguous NCHW states (as torch would give them) work as well.
    _, nchw, *_ = shipped(src[1:2], *[np.ascontiguousarray(r) for r in rec], downsample_ratio=0.5)
    np.testing.assert_array_equal(expected, nchw)
    # Two threads, two states, one model: the same as one after the other.
    results = [None] * 4

    def work(i):
        results[i] = shipped(src[1:2], *rec, downsample_ratio=0.5)[1]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(expected, r)


def test_torch_tensors_in_and_out(shipped):
    """The official notebook loop, as written, on CPU tensors: tensors come back (sharing the
    arrays' memory), so `fgr * pha + bgr * (1 - pha)` with a tensor bgr works, and the states
    go round as tensors; the numbers are those of the numpy call."""
    torch = pytest.importorskip("torch")
    src = frames_of(SUBSET / "official_fgf_320x240_r0.5")
    bgr = torch.tensor([.47, 1, .6]).view(3, 1, 1)
    rec, np_rec = [None] * 4, [None] * 4
    for t in range(len(src)):
        frame = torch.from_numpy(src[t:t + 1])
        fgr, pha, *rec = shipped(frame, *rec, 0.5)  # downsample_ratio positional, as there
        com = fgr * pha + bgr * (1 - pha)
        assert isinstance(com, torch.Tensor) and com.shape == (1, 3, 240, 320)
        assert all(isinstance(r, torch.Tensor) for r in (fgr, pha, *rec))
        np_fgr, np_pha, *np_rec = shipped(src[t:t + 1], *np_rec, downsample_ratio=0.5)
        np.testing.assert_array_equal(pha.numpy(), np_pha)
        np.testing.assert_array_equal(fgr.numpy(), np_fgr)
    # A tensor that requires grad (outside torch.no_grad()) is read as the official model
    # reads it; one of another dtype is refused in one line.
    pha = shipped(torch.from_numpy(src[:1]).requires_grad_(), downsample_ratio=0.5)[1]
    np.testing.assert_array_equal(pha.numpy(), shipped(src[:1], downsample_ratio=0.5)[1])
    with pytest.raises(TypeError, match="float32"):
        shipped(torch.from_numpy(src[:1]).double(), downsample_ratio=0.5)
    # In torch's terms, for every dtype (numpy's message named numpy.float64 and astype();
    # bfloat16 failed inside torch's .numpy() with "Got unsupported ScalarType BFloat16").
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        with pytest.raises(TypeError, match=rf"src must be float32 with values in 0\.\.1, not "
                                            rf"{dtype} \(use src\.float\(\)\)$"):
            shipped(torch.from_numpy(src[:1]).to(dtype), downsample_ratio=0.5)
    with pytest.raises(TypeError, match=r"not torch\.uint8 \(use src\.float\(\) / 255"):
        shipped((torch.from_numpy(src[:1]) * 255).to(torch.uint8), downsample_ratio=0.5)
    with pytest.raises(TypeError, match=r"r2 must be float32 .*not torch\.float64 \(use r2\.float"):
        shipped(frame, rec[0], rec[1].double(), rec[2], rec[3], downsample_ratio=0.5)
    seg, *_ = shipped(torch.from_numpy(src[:1]), downsample_ratio=0.5, segmentation_pass=True)
    assert isinstance(seg, torch.Tensor)


def test_ctrl_c_stops_a_call_of_many_frames(shipped):
    """Ctrl-C during a [B, T] call raises KeyboardInterrupt between two frames, not after the
    last (the official model stops within an operation)."""
    frame = np.random.default_rng(2).random((1, 1, 3, 96, 128), dtype=np.float32)
    start = time.monotonic()
    shipped(np.broadcast_to(frame, (1, 10, 3, 96, 128)), downsample_ratio=0.5)
    per_frame = (time.monotonic() - start) / 10
    frames = 200
    timer = threading.Timer(5 * per_frame, signal.raise_signal, (signal.SIGINT,))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            shipped(np.broadcast_to(frame, (1, frames, 3, 96, 128)), downsample_ratio=0.5)
    finally:
        timer.cancel()
    # Stopped about 5 frames in; all 200 would take 40 times as long.
    assert time.monotonic() - start < frames / 2 * per_frame
    # The model works on afterwards, from a fresh state.
    np.testing.assert_array_equal(shipped(frame[:, 0], downsample_ratio=0.5)[1],
                                  shipped(frame[:, 0], downsample_ratio=0.5)[1])


FORK_CHILD = r"""
import os, sys, time
import numpy as np
import rvm
model = rvm.load("mobilenetv3", threads=2)
src = np.random.default_rng(1).random((1, 3, 64, 96), dtype=np.float32)
expected = model(src, downsample_ratio=0.5)[1]  # leaves a stream, with its threads, idle
pid = os.fork()
if pid == 0:  # the child: the model, then the interpreter's teardown, which frees it
    sys.exit(0 if np.array_equal(model(src, downsample_ratio=0.5)[1], expected) else 3)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.05)
os.kill(pid, 9)
sys.exit("the forked child hung")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_and_frees_the_model():
    """multiprocessing forks on Linux by default: a child runs (and at its exit frees) a model
    the parent had run, whose idle streams' worker threads exist only in the parent."""
    child = subprocess.run([sys.executable, "-c", FORK_CHILD], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0, child.stderr[-500:]


SPAWN_CHILD = r"""
import multiprocessing, sys
import numpy as np
import rvm

def matte(model, src):
    return model(src, downsample_ratio=0.5)[1]

if __name__ == "__main__":
    model = rvm.load("mobilenetv3", threads=1)
    src = np.random.default_rng(1).random((1, 3, 64, 96), dtype=np.float32)
    expected = matte(model, src)
    for method in ("spawn", "forkserver"):
        with multiprocessing.get_context(method).Pool(1) as pool:
            got = pool.apply_async(matte, (model, src)).get(timeout=120)
        if not np.array_equal(got, expected):
            sys.exit(f"{method}: the child's matte differs from the parent's")
"""


class Mine(rvm.MattingNetwork):
    """A subclass of the user's, with attributes of its own."""


def test_the_model_pickles(shipped, tmp_path, monkeypatch):
    """multiprocessing's spawn and forkserver (Linux's default from Python 3.14), DataLoader
    workers started so, and copy.deepcopy pickle the model: it was 'cannot pickle
    rvm._rvm.Model'. It travels as where its weights are and is loaded again there."""
    import copy
    import pickle
    src = np.random.default_rng(2).random((1, 3, 64, 96), dtype=np.float32)
    ref = shipped(src, downsample_ratio=0.5)
    for other in (pickle.loads(pickle.dumps(shipped)), copy.deepcopy(shipped)):
        assert other is not shipped and other.variant == shipped.variant
        for a, b in zip(other(src, downsample_ratio=0.5), ref):
            np.testing.assert_array_equal(a, b)
    # A checkpoint named relative to the working folder, which changes before the pickling;
    # a subclass's own attributes come along.
    folder = rvm._PACKAGED_MODEL
    monkeypatch.chdir(os.path.dirname(folder))
    mine = Mine(checkpoint=os.path.basename(folder), threads=1)
    mine.label = "take 3"
    monkeypatch.chdir(tmp_path)
    back = pickle.loads(pickle.dumps(mine))
    assert type(back) is Mine and back.label == "take 3" and back._threads == 1
    assert back.checkpoint == os.path.basename(folder)  # as it was given
    np.testing.assert_array_equal(back(src, downsample_ratio=0.5)[1], ref[1])
    # Processes that are not forked: the model is an argument of a pool's task.
    script = tmp_path / "spawn_child.py"
    script.write_text(SPAWN_CHILD)
    child = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           timeout=600)
    assert child.returncode == 0, child.stderr[-800:]


def test_strided_inputs_are_read_correctly(shipped):
    src = frames_of(SUBSET / "official_fgf_320x240_r0.5", 1)
    wide = np.zeros((1, 3, 240, 400), np.float32)
    wide[..., :320] = src
    crop = wide[..., :320]  # rows 400 floats apart: read in place
    np.testing.assert_array_equal(shipped(crop, downsample_ratio=0.5)[1],
                                  shipped(src, downsample_ratio=0.5)[1])
    flipped = src[..., ::-1]  # negative strides: copied, then the same as a copy
    np.testing.assert_array_equal(shipped(flipped, downsample_ratio=0.5)[1],
                                  shipped(np.ascontiguousarray(flipped), downsample_ratio=0.5)[1])
    every_other = np.repeat(src, 2, axis=3)[..., ::2]  # element stride 8: copied
    np.testing.assert_array_equal(shipped(every_other, downsample_ratio=0.5)[1],
                                  shipped(src, downsample_ratio=0.5)[1])
    fortran = np.asfortranarray(src)
    np.testing.assert_array_equal(shipped(fortran, downsample_ratio=0.5)[1],
                                  shipped(src, downsample_ratio=0.5)[1])
    big_endian = src.astype(">f4")  # float32 in the other byte order: converted
    np.testing.assert_array_equal(shipped(big_endian, downsample_ratio=0.5)[1],
                                  shipped(src, downsample_ratio=0.5)[1])


def test_bad_inputs(shipped, tmp_path):
    good = np.full((1, 3, 64, 96), 0.5, np.float32)
    with pytest.raises(TypeError, match="float32"):
        shipped(good.astype(np.float64))
    with pytest.raises(TypeError, match="float32"):
        shipped((good * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        shipped(good[0])
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        shipped(np.zeros((1, 4, 64, 96), np.float32))
    with pytest.raises(ValueError, match="at least 1"):
        shipped(np.zeros((0, 3, 64, 96), np.float32))
    with pytest.raises(ValueError, match="0..1"):
        shipped(good * 255)
    nan = good.copy()
    nan[0, 1, 10, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        shipped(nan)
    inf = good.copy()
    inf[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        shipped(inf)
    # every pixel is checked, also where a downsampled network reads nothing (row 0 at 0.25),
    # in every video of a batch and every frame of a sequence, and in the segmentation pass
    for ratio in (1, 0.25):
        for where in ((0, 2, 0, 95), (0, 0, 63, 0)):
            for value, message in ((np.nan, "NaN"), (-np.inf, "NaN or infinite"), (7.0, "0..1")):
                bad = good.copy()
                bad[where] = value
                with pytest.raises(ValueError, match=message):
                    shipped(bad, downsample_ratio=ratio)
                with pytest.raises(ValueError, match=message):
                    shipped(np.stack([good, bad], 1), downsample_ratio=ratio)  # [B, T, ...]
                with pytest.raises(ValueError, match=message):
                    shipped(np.concatenate([good, bad]), downsample_ratio=ratio)
                with pytest.raises(ValueError, match=message):
                    shipped(bad, downsample_ratio=ratio, segmentation_pass=True)
    with pytest.raises(ValueError, match=r"found 0\.5\.\.7"):  # the range found, in the message
        bad = good.copy()
        bad[0, 1, 5, 5] = 7.0
        shipped(bad)
    over = good.copy()
    over[0, 0, 0, 0] = 1.05  # a resize's overshoot: used as given, like the official model
    assert shipped(over)[1].shape == (1, 1, 64, 96)
    for ratio in (0, -1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="downsample_ratio must be in .0, 1., not " + str(ratio)):
            shipped(good, downsample_ratio=ratio)
    with pytest.raises(ValueError, match="downsample_ratio 0.001 leaves no pixels"):
        shipped(good, downsample_ratio=0.001)
    _, _, *rec = shipped(good, downsample_ratio=0.5)
    with pytest.raises(ValueError, match="another resolution"):  # state of 96x64, frame 128x64
        shipped(np.full((1, 3, 64, 128), 0.5, np.float32), *rec, downsample_ratio=0.5)
    with pytest.raises(ValueError, match="r1 has shape"):  # same frame, other ratio
        shipped(good, *rec, downsample_ratio=0.25)
    with pytest.raises(ValueError, match="r2 has shape"):
        shipped(good, rec[0], rec[0], downsample_ratio=0.5)
    with pytest.raises(ValueError, match="r1 has shape"):  # batch of 2, states of 1
        shipped(np.concatenate([good, good]), *rec, downsample_ratio=0.5)
    with pytest.raises(TypeError, match="r3 must be float32"):
        shipped(good, rec[0], rec[1], rec[2].astype(np.float64), rec[3], downsample_ratio=0.5)
    with pytest.raises(TypeError, match="r1 must be"):
        shipped(good, "state", downsample_ratio=0.5)
    with pytest.raises(ValueError, match="device"):
        shipped.to("cuda")
    assert shipped.to("cpu") is shipped and shipped.eval() is shipped


def test_the_official_notebooks_device_and_precision_calls(shipped):
    """model.eval().cuda() / .half() / .to(device) from the official notebooks: the calls that
    leave the model on the CPU in float32 return it; a GPU or another precision is one clear
    error (a RuntimeError, as PyTorch's without a GPU, naming what to do instead)."""
    m = shipped
    for keep in (lambda: m.eval(), lambda: m.cpu(), lambda: m.float(), lambda: m.to("cpu"),
                 lambda: m.to(np.float32), lambda: m.to("cpu", True),
                 lambda: m.eval().cpu().float().to("cpu")):
        assert keep() is m
    assert_refused(m, ((lambda: m.cuda(), r"CPU only.*drop \.cuda\(\).*precision='int8'"),
                       (lambda: m.cuda(0), "CPU only"),
                       (lambda: m.eval().cuda(), "CPU only"),
                       (lambda: m.half(), r"float32.*drop it.*precision='int8'"),
                       (lambda: m.bfloat16(), "float32"), (lambda: m.double(), "float32"),
                       (lambda: m.to("cuda"), "CPU only.*'cuda'"),
                       (lambda: m.to("cuda:1"), "CPU only"), (lambda: m.to(0), "CPU only"),
                       (lambda: m.to("mps"), "CPU only"),
                       (lambda: m.to(np.float16), "float16")))
    with pytest.raises(TypeError, match="unexpected keyword"):
        m.to(devcie="cpu")


def assert_refused(m, cases):
    for refuse, what in cases:
        with pytest.raises(RuntimeError, match=what) as e:
            refuse()
        assert isinstance(e.value, rvm.UnsupportedError) and isinstance(e.value, ValueError)
        assert "\n" not in str(e.value)


def test_the_official_notebooks_torch_devices_and_dtypes(shipped):
    """The same calls with PyTorch's own objects (torch.device, torch.float16, a tensor), where
    PyTorch is installed (the package itself does not need it)."""
    torch = pytest.importorskip("torch", reason="PyTorch (python3-torch) is not installed")
    m = shipped
    for keep in (lambda: m.to(torch.device("cpu")), lambda: m.to(torch.float32),
                 lambda: m.to(torch.float), lambda: m.to("cpu", torch.float32),
                 lambda: m.to(device="cpu", dtype=torch.float32),
                 lambda: m.to(torch.float32, non_blocking=True), lambda: m.to(torch.zeros(1))):
        assert keep() is m
    assert_refused(m, ((lambda: m.to(torch.device("cuda")), "CPU only"),
                       (lambda: m.to(torch.float16), "float32.*float16.*precision='int8'"),
                       (lambda: m.to(dtype=torch.half), "float16"),
                       (lambda: m.to("cpu", torch.float16), "float16"),
                       (lambda: m.to(torch.zeros(1, dtype=torch.float16)), "float16")))


def test_numbers_are_numbers(shipped):
    """downsample_ratio takes any number (numpy's scalars, a 0-d array or tensor), not a
    string or a bool: "0.5" ran as 0.5 and True as 1 without a word (a 0-d tensor where
    PyTorch is installed)."""
    good = np.full((1, 3, 64, 96), 0.5, np.float32)
    ref = shipped(good, downsample_ratio=0.5)[1]
    ratios = [np.float32(0.5), np.float64(0.5), np.array(0.5)]
    try:
        import torch
        ratios.append(torch.tensor(0.5))
    except ImportError:
        pass
    for ratio in ratios:
        np.testing.assert_array_equal(shipped(good, downsample_ratio=ratio)[1], ref)
    np.testing.assert_array_equal(shipped(good, downsample_ratio=np.int64(1))[1],
                                  shipped(good)[1])
    for bad in ("0.5", b"0.5", True, np.bool_(True), np.array(True), [0.5], np.array([0.5]),
                0.5j, object()):
        with pytest.raises(TypeError, match="downsample_ratio must be a number"):
            shipped(good, downsample_ratio=bad)


def hostile_checkpoint(path, marker):
    """A .pth whose pickle calls os.system: loading it must fail without running anything."""
    pickle = (b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little") +
              f"touch {marker}".encode() + b"q\x01\x85q\x02Rq\x03.")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/version", "3\n")


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError):
        rvm.load("mobilenetv3", checkpoint=tmp_path / "missing.pth")
    marker = tmp_path / "pwned"
    hostile_checkpoint(tmp_path / "evil.pth", marker)
    with pytest.raises(ValueError):
        rvm.load("mobilenetv3", checkpoint=tmp_path / "evil.pth")
    assert not marker.exists(), "the checkpoint's pickle ran code"
    (tmp_path / "junk.pth").write_bytes(os.urandom(4096))
    with pytest.raises(ValueError):
        rvm.load("mobilenetv3", checkpoint=tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="resnet50"):
        rvm.load("resnet50")  # no ResNet50 weights ship
    with pytest.raises(ValueError, match="mobilenetv3"):
        rvm.load("resnet50", checkpoint=ROOT / "models" / "rvm_mobilenetv3_tfjs_int8")
    with pytest.raises(ValueError, match="variant"):
        rvm.load("mobilenet")
    with pytest.raises(ValueError, match="threads"):
        rvm.load(threads=0)
    with pytest.raises(TypeError, match="threads"):
        rvm.load(threads=True)
    with pytest.raises(TypeError, match="threads"):
        rvm.load(threads=2.0)
    assert rvm.load(threads=np.int64(2))._threads == 2  # numpy's integers are integers


def test_output_memory_is_reused_only_when_let_go():
    """Large outputs (>= 1 MB) come from blocks that arrays let go of earlier: an array the
    caller still holds is never written again, a reused block is wholly rewritten, and the
    arrays outlive the model."""
    model = rvm.load("mobilenetv3")
    rng = np.random.default_rng(5)
    a, b = (rng.random((1, 3, 480, 640), dtype=np.float32) for _ in range(2))
    fgr_a, pha_a, *_ = model(a, downsample_ratio=0.25)
    assert fgr_a.nbytes >= 1 << 20 and fgr_a.flags.writeable
    kept = fgr_a.copy(), pha_a.copy()
    for _ in range(3):  # blocks of dropped arrays cycle while a's outputs are held
        fgr_b, pha_b, *_ = model(b, downsample_ratio=0.25)
        del fgr_b, pha_b
    np.testing.assert_array_equal(fgr_a, kept[0])
    np.testing.assert_array_equal(pha_a, kept[1])
    view = fgr_a[:, 1]  # a view keeps its block alive too
    del fgr_a, pha_a
    fgr_b, pha_b, *_ = model(b, downsample_ratio=0.25)
    fgr_c, pha_c, *_ = model(a, downsample_ratio=0.25)  # on a's old blocks, fresh states
    np.testing.assert_array_equal(view, kept[0][:, 1])
    np.testing.assert_array_equal(fgr_c, kept[0])
    np.testing.assert_array_equal(pha_c, kept[1])
    del model
    assert float(fgr_b.sum()) > 0 and np.isfinite(pha_c).all()  # readable after the model


def run_all(model, src):
    """The outputs of two frames with the states handed back, and a segmentation pass."""
    out = list(model(src, downsample_ratio=0.5))
    out += model(src, *out[2:], downsample_ratio=0.5)
    return out + list(model(src, downsample_ratio=0.5, segmentation_pass=True))


def assert_same_network(a, b, src):
    for x, y in zip(run_all(a, src), run_all(b, src)):
        np.testing.assert_array_equal(x, y)


def no_pickle(monkeypatch):
    """Makes any unpickling in this process fail: load_state_dict and state_dict must not."""
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


@pytest.mark.parametrize("case", [c for c in golden_cases()
                                  if json.loads((c / "meta.json").read_text()).get("checkpoint")
                                  and c.parent != SUBSET], ids=lambda p: p.name)
def test_load_state_dict_as_the_official_readme(case, checkpoints, monkeypatch):
    """The official README's `model = MattingNetwork('mobilenetv3').eval();
    model.load_state_dict(torch.load('rvm_mobilenetv3.pth'))` (and 'resnet50'): the same
    network as rvm.load(variant, checkpoint=...), to the bit. It was an AttributeError."""
    torch = pytest.importorskip("torch")
    meta, by_file = model_for(case, checkpoints)
    sd = torch.load(checkpoints(meta["checkpoint"]), map_location="cpu")  # the test's unpickling
    no_pickle(monkeypatch)
    model = rvm.MattingNetwork(meta["variant"]).eval()
    result = model.load_state_dict(sd)
    assert repr(result) == "<All keys matched successfully>"
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert model.variant == by_file.variant and model.refiner == by_file.refiner
    assert model.checkpoint is None
    src = frames_of(case, 1)
    assert_same_network(model, by_file, src)
    # What state_dict() gives back loads again (numpy arrays, no torch needed).
    again = rvm.MattingNetwork(meta["variant"])
    again.load_state_dict(model.state_dict())
    assert_same_network(again, by_file, src)


def test_load_state_dict_strict_and_errors(monkeypatch):
    """PyTorch's rules: strict=True refuses missing and unexpected keys, a shape that is not
    the model's is refused either way, in PyTorch's RuntimeError text; strict=False keeps the
    model's values for the keys left out and returns both lists; a failed load leaves the
    model as it was. Numpy arrays do as tensors do; nothing is unpickled."""
    no_pickle(monkeypatch)
    src = np.random.default_rng(3).random((1, 3, 64, 96), dtype=np.float32)
    shipped = rvm.load("mobilenetv3")
    sd = shipped.state_dict()  # the shipped weights by their official names
    assert list(sd)[0] == "backbone.features.0.0.weight" and len(sd) == 365
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in sd.values())
    model = rvm.MattingNetwork("mobilenetv3")
    assert repr(model.load_state_dict(sd)) == "<All keys matched successfully>"
    assert_same_network(model, shipped, src)

    bad = dict(sd)
    del bad["project_seg.conv.bias"]
    bad["module.extra"] = np.zeros(2, np.float32)
    bad["project_mat.conv.weight"] = np.zeros((3, 16, 1, 1), np.float32)
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(bad)
    assert str(e.value) == (
        "Error(s) in loading state_dict for MattingNetwork:\n"
        "\tMissing key(s) in state_dict: \"project_seg.conv.bias\". \n"
        "\tUnexpected key(s) in state_dict: \"module.extra\". \n"
        "\tsize mismatch for project_mat.conv.weight: copying a param with shape "
        "torch.Size([3, 16, 1, 1]) from checkpoint, the shape in current model is "
        "torch.Size([4, 16, 1, 1]).")
    with pytest.raises(RuntimeError, match=r"^Error\(s\) in loading state_dict for "
                       r"MattingNetwork:\n\tsize mismatch for project_mat\.conv\.weight"):
        model.load_state_dict(bad, strict=False)
    assert_same_network(model, shipped, src)  # unchanged by the failed loads

    # strict=False: the key left out keeps the model's value, the unexpected one is ignored.
    bad["project_mat.conv.weight"] = sd["project_mat.conv.weight"]
    changed = dict(bad)
    changed["project_mat.conv.bias"] = sd["project_mat.conv.bias"] + 0.25
    result = model.load_state_dict(changed, strict=False)
    assert result.missing_keys == ["project_seg.conv.bias"]
    assert result.unexpected_keys == ["module.extra"]
    np.testing.assert_array_equal(model.state_dict()["project_seg.conv.bias"],
                                  sd["project_seg.conv.bias"])
    assert not np.array_equal(model(src, downsample_ratio=0.5)[0],
                              shipped(src, downsample_ratio=0.5)[0])
    model.load_state_dict(sd)
    assert_same_network(model, shipped, src)

    # Values: tensors or arrays of numbers; the mapping itself must be one.
    with pytest.raises(TypeError, match="dict-like"):
        model.load_state_dict(list(sd.items()))
    with pytest.raises(TypeError, match='"project_seg.conv.bias".*received'):
        model.load_state_dict({**sd, "project_seg.conv.bias": [0.0]})
    # The caller's arrays are copied: changing them later changes nothing.
    mine = {k: v.copy() for k, v in sd.items()}
    model.load_state_dict(mine)
    mine["project_mat.conv.bias"] += 1
    assert_same_network(model, shipped, src)


def test_load_state_dict_assign_and_non_finite(monkeypatch):
    """assign= (newer PyTorch's keyword) is accepted, True or False, with the same effect
    (the weights are copied either way); a NaN or infinity in a state_dict is refused with
    ValueError naming the tensor, and the model keeps the weights it had."""
    no_pickle(monkeypatch)
    src = np.random.default_rng(5).random((1, 3, 64, 96), dtype=np.float32)
    shipped = rvm.load("mobilenetv3")
    sd = shipped.state_dict()
    for assign in (False, True):
        model = rvm.MattingNetwork("mobilenetv3")
        assert repr(model.load_state_dict(sd, assign=assign)) == "<All keys matched successfully>"
        assert_same_network(model, shipped, src)
    for value, word in ((np.nan, "NaN"), (np.inf, "infinity")):
        bad = dict(sd)
        bad["project_mat.conv.weight"] = sd["project_mat.conv.weight"].copy()
        bad["project_mat.conv.weight"].flat[5] = value
        with pytest.raises(ValueError, match=r"tensor 'project_mat\.conv\.weight' holds a "
                           r"non-finite value \(" + word):
            model.load_state_dict(bad)
        assert_same_network(model, shipped, src)  # unchanged by the refused load


def test_load_state_dict_refiner_and_models_without_weights(tmp_path, monkeypatch):
    """MattingNetwork('resnet50') (as the official README builds it before load_state_dict)
    and refiner='deep_guided_filter' have no weights until load_state_dict: a call or a
    conversion says so; strict=False has nothing to keep for missing keys. The refiner: None
    takes weights with or without the deep guided filter's; 'fast_guided_filter' (also the
    official constructor's second argument) refuses them as unexpected under strict=True."""
    no_pickle(monkeypatch)
    src = np.random.default_rng(4).random((1, 3, 64, 96), dtype=np.float32)
    empty = rvm.MattingNetwork("resnet50")
    assert empty.variant == "resnet50" and empty.refiner is None
    assert len(empty.state_dict()) == 0
    with pytest.raises(RuntimeError, match=r"has no weights yet: model\.load_state_dict"):
        empty(src)
    with pytest.raises(RuntimeError, match="has no weights yet"):
        rvm.convert_video(empty, input_source=str(ROOT / "samples"),
                          output_alpha=str(tmp_path / "pha.mp4"))
    shipped = rvm.load("mobilenetv3").state_dict()
    # A ResNet50 model refuses MobileNetV3 weights key by key, as PyTorch would.
    with pytest.raises(RuntimeError, match='(?s)Missing key.*"backbone.conv1.weight".*'
                       'Unexpected key.*"backbone.features.0.0.weight"'):
        empty.load_state_dict(shipped)
    with pytest.raises(RuntimeError, match="no weights of its own to keep"):
        rvm.MattingNetwork("mobilenetv3", refiner="deep_guided_filter").load_state_dict(
            shipped, strict=False)
    dgf = rvm.MattingNetwork("mobilenetv3", "deep_guided_filter")
    assert dgf.refiner is None
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: '
                       r'"refiner\.box_filter\.weight"'):
        dgf.load_state_dict(shipped)
    # Weights with a deep guided filter: the shipped ones and a made-up refiner.
    rng = np.random.default_rng(5)
    refiner = {name: (rng.random(shape, dtype=np.float32) * 0.1 + (name.endswith("_var")))
               for name, shape in rvm._rvm.state_dict_shapes(rvm._rvm.VARIANT_MOBILENETV3, True)
               if name.startswith("refiner.")}
    full = {**shipped, **refiner}
    assert repr(dgf.load_state_dict(full)) == "<All keys matched successfully>"
    assert dgf.refiner == "deep_guided_filter"
    fgf = rvm.MattingNetwork("mobilenetv3", "fast_guided_filter")
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: '
                       r'"refiner\.box_filter\.weight", "refiner\.conv\.0\.weight"'):
        fgf.load_state_dict(full)
    result = fgf.load_state_dict(full, strict=False)
    assert sorted(result.unexpected_keys) == sorted(refiner) and result.missing_keys == []
    assert fgf.refiner == "fast_guided_filter"
    auto = rvm.MattingNetwork()
    auto.load_state_dict(full)
    assert auto.refiner == "deep_guided_filter"
    auto.load_state_dict(shipped)  # without a refiner's tensors: the fast guided filter
    assert auto.refiner == "fast_guided_filter"
    # A model loaded from a state_dict pickles with its weights.
    import copy
    back = copy.deepcopy(dgf)
    assert back.refiner == "deep_guided_filter"
    assert_same_network(back, dgf, src)
