# SPDX-License-Identifier: GPL-3.0-or-later
"""rvm: Robust Video Matting (Lin et al., WACV 2022) in C, with the official Python API.

    import rvm
    model = rvm.load("mobilenetv3")                  # the shipped model; or checkpoint="rvm_resnet50.pth"
    fgr, pha, *rec = model(src, *rec, downsample_ratio=0.25)   # src: float32 [B,3,H,W] in 0..1
    rvm.convert_video(model, input_source="input.mp4", output_composition="com.mp4")

Arrays are numpy float32; results are numpy arrays, or torch tensors (sharing the arrays'
memory) when src is a CPU torch tensor, as the official model returns them. The network runs in
librvm with the GIL released.
"""
# Imported under private names: the package's namespace is its API (__all__, and the
# official repo's modules rvm.model and rvm.inference), not numpy or os.
import collections as _collections
import collections.abc as _collections_abc
import numbers as _numbers
import os as _os

import numpy as _np

from . import _rvm

__all__ = ["load", "MattingNetwork", "convert_video", "ConversionError", "ConversionWarning",
           "UnsupportedError", "__version__"]
__version__ = _rvm.library_version

_PACKAGED_MODEL = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "models",
                               "rvm_mobilenetv3_tfjs_int8")
_VARIANTS = {"mobilenetv3": _rvm.VARIANT_MOBILENETV3, "resnet50": _rvm.VARIANT_RESNET50}
_REFINERS = {None: _rvm.REFINER_AUTO, "deep_guided_filter": _rvm.REFINER_DEEP_GUIDED_FILTER,
             "fast_guided_filter": _rvm.REFINER_FAST_GUIDED_FILTER}


class UnsupportedError(RuntimeError, ValueError):
    """What the official model does on a GPU or in half precision, rvm does not: it computes in
    float32 on the CPU. A RuntimeError, as PyTorch's own errors for a missing GPU or an
    operation without half-precision support, and a ValueError, as rvm raised it before."""


_FASTER = ("for speed, convert_video(..., precision='int8') or a smaller downsample_ratio")


def _check_device(device, what="device"):
    """rvm computes on the CPU: None or 'cpu' (a torch.device('cpu') too); anything else is an
    error rather than a silent change of device."""
    if device is None:
        return
    name = getattr(device, "type", device)
    if not isinstance(name, str) or name.split(":")[0] != "cpu":
        raise UnsupportedError(f"rvm runs on the CPU only; {what} {device!r} is not available "
                               f"(use device='cpu' or None; {_FASTER})")


def _is_dtype(x):
    """Whether x names a dtype (torch.float16, np.float32, np.dtype('float32')), not a device."""
    if isinstance(x, _np.dtype) or (isinstance(x, type) and issubclass(x, _np.generic)):
        return True
    return type(x).__module__.split(".")[0] == "torch" and type(x).__name__ == "dtype"


def _check_dtype(dtype, what="dtype"):
    """float32 (torch's, numpy's, or its name) or None; any other precision is refused."""
    if dtype is None:
        return
    name = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype
    if not isinstance(name, str):
        name = str(dtype)
    if name.rsplit(".", 1)[-1].strip("'<>") not in ("float32", "float"):
        raise UnsupportedError(f"rvm computes in float32; {what} {dtype} is not available "
                               f"(use float32 or None; {_FASTER})")


def _is_tensor(x):
    """Whether x is a torch tensor (without importing torch, which rvm does not need)."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def _array(name, x):
    """x as a numpy array: a CPU torch tensor is read in place (also one that requires grad,
    which the official model takes too); one on another device is refused in one line."""
    if isinstance(x, _np.ndarray):
        return x
    if _is_tensor(x):
        device = getattr(x, "device", None)
        if getattr(device, "type", "cpu") != "cpu":
            raise ValueError(f"{name} is on {device}; rvm runs on the CPU (use {name}.cpu())")
        # Said in torch's terms here: numpy's message would name numpy.float64 and suggest
        # astype() to a tensor, and a bfloat16 one fails inside torch's .numpy() itself.
        dtype = str(getattr(x, "dtype", ""))
        if dtype != "torch.float32":
            kind = "with values in 0..1" if name == "src" else "(a state the model returned)"
            hint = f"{name}.float()" + (" / 255 for 8-bit frames" if dtype == "torch.uint8"
                                        else "")
            raise TypeError(f"{name} must be float32 {kind}, not {dtype} (use {hint})")
        return x.detach().numpy()
    return _np.asarray(x)


class _IncompatibleKeys(_collections.namedtuple("IncompatibleKeys",
                                               ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns, as PyTorch's: the keys left out and the keys not used."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _float32(key, value):
    """A state_dict's value as a float32 numpy array: a torch tensor (on any device, of any
    floating or integer dtype: num_batches_tracked is int64) or a numpy array."""
    if _is_tensor(value):
        value = value.detach()
        if value.dtype.is_complex:
            raise TypeError(f'the value of "{key}" is a complex tensor')
        return value.to("cpu").float().numpy()
    if isinstance(value, _np.ndarray) or isinstance(value, _np.generic):
        if value.dtype.kind not in "fiub":
            raise TypeError(f'the value of "{key}" is an array of {value.dtype}, not numbers')
        return _np.asarray(value, dtype=_np.float32)
    raise TypeError(f'While copying the parameter named "{key}", expected torch.Tensor or a '
                    f'numpy array from checkpoint but received {type(value)}')


def _shape(shape):
    """A shape written as PyTorch writes it in its messages."""
    return "torch.Size([" + ", ".join(str(d) for d in shape) + "])"


class MattingNetwork:
    """The official MattingNetwork's interface over librvm.

    model(src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1, segmentation_pass=False)

    src: float32 [B, 3, H, W] (B videos, one time step each) or [B, T, 3, H, W] (T frames of each,
    in order), RGB in 0..1. r1..r4: the recurrent states the previous call returned (None: a
    video's first frame). Returns (fgr, pha, r1, r2, r3, r4) with fgr [B,(T),3,H,W] and pha
    [B,(T),1,H,W] in 0..1, or with segmentation_pass=True (seg, r1, r2, r3, r4), seg the raw
    logits [B,(T),1,h,w] at the internal resolution. States are [B, C, h, w] arrays (laid out
    channels-last in memory, so that passing them back costs a copy, not a transpose).

    Weights: checkpoint= (an official .pth or TF.js model), the shipped MobileNetV3 model by
    default, or the official way, load_state_dict(torch.load("rvm_mobilenetv3.pth")).
    MattingNetwork("resnet50"), and refiner="deep_guided_filter" without a checkpoint, hold no
    weights until load_state_dict (no ResNet50 weights or deep guided filter ship with rvm).
    """

    def __init__(self, variant="mobilenetv3", checkpoint=None, threads=None, refiner=None):
        if variant not in _VARIANTS:
            raise ValueError(f"variant must be 'mobilenetv3' or 'resnet50', not {variant!r}")
        # The official constructor's second argument is the refiner:
        # MattingNetwork('mobilenetv3', 'deep_guided_filter').
        if refiner is None and isinstance(checkpoint, str) and checkpoint in _REFINERS \
                and not _os.path.exists(checkpoint):
            checkpoint, refiner = None, checkpoint
        if refiner not in _REFINERS:
            raise ValueError("refiner must be 'deep_guided_filter', 'fast_guided_filter' or "
                             f"None (what the weights hold), not {refiner!r}")
        if threads is not None:
            # numpy's integers too (a count from a config array), not True
            if isinstance(threads, bool) or not isinstance(threads, _numbers.Integral):
                raise TypeError(f"threads must be a positive integer or None, not "
                                f"{type(threads).__name__} {threads!r}")
            if threads < 1:
                raise ValueError(f"threads must be a positive integer or None, not {threads!r}")
            threads = int(threads)
        self._variant = variant
        self._refiner = refiner
        self._threads = threads
        self._state = None  # the tensors load_state_dict gave, when they are the weights
        if checkpoint is None:
            # The shipped model is MobileNetV3 with the fast guided filter; other models get
            # their weights from load_state_dict, as the official model does.
            shipped = variant == "mobilenetv3" and refiner != "deep_guided_filter"
            checkpoint = _PACKAGED_MODEL if _os.path.isdir(_PACKAGED_MODEL) else None
            if not shipped:
                self._model = self.checkpoint = self._source = None
                return
        else:
            checkpoint = _os.fspath(checkpoint)
            if not _os.path.exists(checkpoint):
                raise FileNotFoundError(f"{checkpoint}: no such file or folder")
        self._model = _rvm.Model(checkpoint, _VARIANTS[variant], threads or 0,
                                 _REFINERS[refiner])
        self.checkpoint = checkpoint
        # Where the weights came from, whatever the working folder is later: a pickled model
        # is loaded again from there (__reduce__).
        self._source = None if checkpoint is None else _os.path.abspath(checkpoint)

    def _weights(self):
        """The library's model, or one clear error for a model given no weights yet."""
        if self._model is None:
            raise RuntimeError(
                f"MattingNetwork({self._variant!r}) has no weights yet: "
                f"model.load_state_dict(torch.load('rvm_{self._variant}.pth')) or "
                f"rvm.load({self._variant!r}, checkpoint='rvm_{self._variant}.pth') "
                "(scripts/download-models.sh fetches the official files)")
        return self._model

    def _keys(self, dgf):
        return _collections.OrderedDict(
            (name, shape) for name, shape in _rvm.state_dict_shapes(_VARIANTS[self._variant], dgf))

    def state_dict(self):
        """The weights by their official names (an OrderedDict of float32 numpy arrays), read
        again from the checkpoint or kept from load_state_dict. A TF.js model's BatchNorms are
        folded: weight and bias hold its scale and offset, running_mean 0, running_var
        1 - eps (the same network). A model without weights has an empty one."""
        if self._model is None:
            return _collections.OrderedDict()
        if self._state is not None:
            return _collections.OrderedDict((k, v.copy()) for k, v in self._state.items())
        # read_weights takes the file's tensors as the library reads them, never by pickle
        return _collections.OrderedDict(_rvm.read_weights(self._source or
                                                         _rvm.default_model_path()))

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """The official model's weights in, as torch.nn.Module.load_state_dict takes them:
        model.load_state_dict(torch.load("rvm_mobilenetv3.pth")). state_dict maps the official
        names to torch tensors or numpy arrays (copied). strict=True: every key of the model
        must be given and no other, else RuntimeError naming the missing and unexpected keys;
        strict=False: the keys left out keep the model's values and other keys are ignored
        (both returned). A shape that is not the model's is an error either way. refiner=None
        (the default) takes a state_dict with or without the deep guided filter's tensors
        (without them, the fast guided filter runs, as for a checkpoint); refiner=
        'deep_guided_filter' wants them, 'fast_guided_filter' has none.
        num_batches_tracked may be left out (as PyTorch's BatchNorm allows). On an error the
        model keeps the weights it had. A value that is NaN or infinite is refused
        (ValueError naming the tensor), as a checkpoint holding one is. assign (newer
        PyTorch's keyword) is accepted: False or True, the effect is the same here, since
        the weights are always copied into the model (no tensor of the caller's is kept).
        Returns (missing_keys, unexpected_keys)."""
        if not isinstance(state_dict, _collections_abc.Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        dgf = self._refiner != "fast_guided_filter"
        expected = self._keys(dgf)
        given = _collections.OrderedDict((k, v) for k, v in state_dict.items())
        if self._refiner is None and not any(k.startswith("refiner.") for k in given) and \
                (strict or self.refiner != "deep_guided_filter"):
            # weights without the deep guided filter's: the fast guided filter (no tensors);
            # strict=False keeps a deep guided filter the model holds
            expected = self._keys(False)
        missing = [k for k in expected
                   if k not in given and not k.endswith(".num_batches_tracked")]
        unexpected = [k for k in given if k not in expected]
        errors = []
        arrays = _collections.OrderedDict()
        for key, shape in expected.items():
            if key not in given:
                continue
            value = _float32(key, given[key])
            if value.shape != shape and not (shape == () and value.shape == (1,)):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{_shape(value.shape)} from checkpoint, the shape in current "
                              f"model is {_shape(shape)}.")
                continue
            # a copy: the caller's tensors may change later, the model's weights may not
            arrays[key] = _np.array(value, dtype=_np.float32).reshape(shape)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " +
                              ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " +
                              ", ".join(f'"{k}"' for k in missing) + ". ")
        elif missing and not errors:
            # the keys left out keep the model's values: there must be some
            current = self.state_dict()
            without = [k for k in missing if k not in current]
            if without:
                errors.append("Missing key(s) in state_dict: " +
                              ", ".join(f'"{k}"' for k in without) +
                              ". (rvm has no weights of its own to keep for them: give them, "
                              "or load a checkpoint first)")
            for k in missing:
                if k in current:
                    arrays[k] = current[k]
            arrays = _collections.OrderedDict(
                (k, arrays[k]) for k in expected if k in arrays)
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                               "\n\t" + "\n\t".join(errors))
        refiner = _REFINERS[self._refiner] if self._refiner else (
            _rvm.REFINER_DEEP_GUIDED_FILTER if any(k.startswith("refiner.") for k in arrays)
            else _rvm.REFINER_FAST_GUIDED_FILTER)
        self._model = _rvm.Model(None, _VARIANTS[self._variant], self._threads or 0, refiner,
                                 list(arrays.items()))
        self._state = arrays
        self.checkpoint = self._source = None
        return _IncompatibleKeys(missing, unexpected)

    @property
    def variant(self):
        return self._variant if self._model is None else self._model.variant

    @property
    def refiner(self):
        """The refiner that runs: 'deep_guided_filter' or 'fast_guided_filter' (None before
        a model given no weights has some)."""
        return None if self._model is None else self._model.refiner

    def __call__(self, src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1,
                 segmentation_pass=False):
        # A torch tensor in gives torch tensors out, as the official model does: the official
        # notebook's `fgr * pha + bgr * (1 - pha)` (bgr a tensor) fails on numpy arrays.
        tensors = _is_tensor(src)
        src = _array("src", src)
        states = [r if r is None else _array(f"r{k + 1}", r)
                  for k, r in enumerate((r1, r2, r3, r4))]
        if downsample_ratio is None:
            raise ValueError("downsample_ratio must be in (0, 1], not None (None, the official "
                             "rule min(512 / max(width, height), 1), is convert_video's)")
        downsample_ratio = _numeric("downsample_ratio", downsample_ratio)
        out = self._weights().run(src, *states, downsample_ratio=float(downsample_ratio),
                              segmentation_pass=bool(segmentation_pass))
        if tensors:
            import torch
            out = tuple(torch.from_numpy(a) for a in out)
        return out

    forward = __call__

    # What notebooks written for the PyTorch model call on it: the calls that keep it on the
    # CPU in float32 return the model, as PyTorch's do; a move to a GPU or to another precision
    # is refused in one line (UnsupportedError) rather than ignored, so a notebook never
    # believes it runs on a GPU.
    def eval(self):
        return self

    def cpu(self):
        return self

    def float(self):
        return self

    def to(self, *args, **kwargs):
        """to(device), to(dtype), to(device, dtype), to(tensor), with non_blocking, copy and
        memory_format accepted and ignored, as torch.nn.Module.to takes them."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        unknown = set(kwargs) - {"non_blocking", "copy", "memory_format"}
        if unknown:
            raise TypeError(f"to() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        positional = [a for a in args if not isinstance(a, bool)]  # to(dtype, non_blocking)
        if len(positional) > 2:
            raise TypeError("to() takes a device, a dtype, or a tensor")
        for a in positional:
            if _is_tensor(a):  # to(other): other's device and dtype
                device, dtype = a.device, a.dtype
            elif _is_dtype(a):
                dtype = a
            else:
                device = a
        # An integer is a CUDA device's index to PyTorch (to(0) is cuda:0).
        _check_device(f"cuda:{device}" if isinstance(device, int) else device)
        _check_dtype(dtype)
        return self

    def cuda(self, device=None):
        raise UnsupportedError("rvm runs on the CPU only: there is no .cuda(); leave the model "
                               f"where it is (drop .cuda(), or use .cpu()); {_FASTER}")

    def half(self):
        raise UnsupportedError("rvm computes in float32: there is no .half(); drop it (or use "
                               f".float()); {_FASTER}")

    def double(self):
        raise UnsupportedError("rvm computes in float32: there is no .double(); drop it (or use "
                               ".float())")

    def bfloat16(self):
        raise UnsupportedError("rvm computes in float32: there is no .bfloat16(); drop it (or "
                               f"use .float()); {_FASTER}")

    def __reduce__(self):
        """Pickling (multiprocessing's spawn and forkserver, the default on Linux from Python
        3.14 on; DataLoader workers started so; copy.deepcopy): the model travels as the
        absolute path of its weights, which are loaded again from there (not sent): they must
        still be there. Weights from load_state_dict travel as their arrays."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_model", "_state")}
        return (_reload, (type(self), self._variant, self._source, self._threads,
                          self._refiner, self._state, self._model is None), state)

    def __repr__(self):
        return f"rvm.MattingNetwork(variant={self.variant!r}, refiner={self.refiner!r})"


def _reload(cls, variant, source, threads, refiner=None, tensors=None, empty=False):
    """A pickled model (MattingNetwork.__reduce__), of its class, loaded again; its other
    attributes (a subclass's too) are set back by pickle afterwards."""
    model = cls.__new__(cls)
    if empty or tensors is not None:
        MattingNetwork.__init__(model, variant, None, threads, "deep_guided_filter")
        model._refiner = refiner
        if tensors is not None:
            model.load_state_dict(tensors)
    else:
        MattingNetwork.__init__(model, variant, source, threads, refiner)
    return model


def load(variant="mobilenetv3", checkpoint=None, threads=None):
    """The model, as torch.hub.load("PeterL1n/RobustVideoMatting", variant) gives it.

    variant: "mobilenetv3" or "resnet50" (checked against the weights). checkpoint: an official
    .pth file or TF.js model folder; None loads the MobileNetV3 model shipped with rvm (the
    official TF.js release). threads: network threads per video (None: one per CPU this process can use).
    """
    if variant == "resnet50" and checkpoint is None:
        raise ValueError("no ResNet50 weights ship with rvm: pass checkpoint='rvm_resnet50.pth' "
                         "(scripts/download-models.sh fetches the official file)")
    return MattingNetwork(variant, checkpoint, threads)


from ._convert import ConversionError, ConversionWarning, _numeric, convert_video  # noqa: E402
