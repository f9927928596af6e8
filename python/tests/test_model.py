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
    import torch
    m = shipped
    for keep in (lambda: m.eval(), lambda: m.cpu(), lambda: m.float(), lambda: m.to("cpu"),
                 lambda: m.to(torch.device("cpu")), lambda: m.to(torch.float32),
                 lambda: m.to(torch.float), lambda: m.to("cpu", torch.float32),
                 lambda: m.to(device="cpu", dtype=torch.float32), lambda: m.to(np.float32),
                 lambda: m.to(torch.float32, non_blocking=True), lambda: m.to("cpu", True),
                 lambda: m.to(torch.zeros(1)), lambda: m.eval().cpu().float().to("cpu")):
        assert keep() is m
    for refuse, what in ((lambda: m.cuda(), r"CPU only.*drop \.cuda\(\).*precision='int8'"),
                         (lambda: m.cuda(0), "CPU only"),
                         (lambda: m.eval().cuda(), "CPU only"),
                         (lambda: m.half(), r"float32.*drop it.*precision='int8'"),
                         (lambda: m.bfloat16(), "float32"), (lambda: m.double(), "float32"),
                         (lambda: m.to("cuda"), "CPU only.*'cuda'"),
                         (lambda: m.to("cuda:1"), "CPU only"), (lambda: m.to(0), "CPU only"),
                         (lambda: m.to(torch.device("cuda")), "CPU only"),
                         (lambda: m.to("mps"), "CPU only"),
                         (lambda: m.to(torch.float16), "float32.*float16.*precision='int8'"),
                         (lambda: m.to(dtype=torch.half), "float16"),
                         (lambda: m.to("cpu", torch.float16), "float16"),
                         (lambda: m.to(torch.zeros(1, dtype=torch.float16)), "float16"),
                         (lambda: m.to(np.float16), "float16")):
        with pytest.raises(RuntimeError, match=what) as e:
            refuse()
        assert isinstance(e.value, rvm.UnsupportedError) and isinstance(e.value, ValueError)
        assert "\n" not in str(e.value)
    with pytest.raises(TypeError, match="unexpected keyword"):
        m.to(devcie="cpu")


def test_numbers_are_numbers(shipped):
    """downsample_ratio takes any number (numpy's scalars, a 0-d array or tensor), not a
    string or a bool: "0.5" ran as 0.5 and True as 1 without a word."""
    import torch
    good = np.full((1, 3, 64, 96), 0.5, np.float32)
    ref = shipped(good, downsample_ratio=0.5)[1]
    for ratio in (np.float32(0.5), np.float64(0.5), np.array(0.5), torch.tensor(0.5)):
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
