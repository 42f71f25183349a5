"""convlab.nn: every layer convlab has, with PyTorch's class names, keyword names and printing.

`nn.Conv2d(in_channels=1, out_channels=3, kernel_size=3)` builds convlab's own Conv2d from the text
PyTorch would print, initialised from the generator `convlab.manual_seed` seeds, as PyTorch does.
`state_dict()` hands out tensors that are the layer's own memory: assigning into them changes the
layer (the notebooks set their kernels that way). A module called on a tensor runs convlab's
forward pass; the result carries the grad_fn PyTorch would print. Training is not done through
Python autograd but by `convlab.train`, the command line's trainer.
"""
import ast
from collections import OrderedDict

import numpy as np

from . import _convlab
from collections import namedtuple

from ._tensor import Parameter, Tensor, _as_array, is_grad_enabled


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

# What PyTorch 1.13 names the backward of each layer's output (printed as grad_fn=<...>).
_GRAD_FN = {
    "Conv2d": "ConvolutionBackward0", "Linear": "AddmmBackward0", "ReLU": "ReluBackward0",
    "LeakyReLU": "LeakyReluBackward0", "MaxPool2d": "MaxPool2DWithIndicesBackward0",
    "AvgPool2d": "AvgPool2DBackward0", "AdaptiveAvgPool2d": "AdaptiveAvgPool2DBackward0",
    "BatchNorm1d": "NativeBatchNormBackward0", "BatchNorm2d": "NativeBatchNormBackward0",
    "Flatten": "ReshapeAliasBackward0", "Dropout": "MulBackward0", "ChannelSum": "SumBackward1",
    "Residual": "AddBackward0",
}


_UNBATCHED_OK = {"Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"}


def _py(value):
    """A Python value as PyTorch's text prints it (the model-text parser reads it back)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_py(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return repr(value)
    raise TypeError(f"cannot pass a {type(value).__name__} to a convlab layer")


class Module:
    """A layer or a model: a convlab C++ module behind PyTorch's Module interface. Subclass it
    (calling super().__init__()) and assign layers as attributes to compose your own forward."""

    def __init__(self, _handle=None):
        object.__setattr__(self, "_h", _handle)
        object.__setattr__(self, "_modules", OrderedDict())

    # ---- composition (user subclasses) -----------------------------------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Module) and name != "_h":
            self._modules[name] = value
        h = self.__dict__.get("_h")
        if isinstance(value, Tensor) and h is not None:
            # conv.weight = nn.Parameter(...): the new values go into the layer's own memory.
            for key, target, is_param, integer in h.state_dict():
                if key == name and not integer:
                    a = _as_array(value, name)
                    if a.shape != target.shape:
                        raise ValueError(f"{name}: a tensor of shape {list(a.shape)} for one of "
                                         f"shape {list(target.shape)}")
                    target[...] = a
                    return
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Called only when normal lookup fails: a parameter or buffer of this layer by name.
        h = object.__getattribute__(self, "_h")
        if h is not None:
            for key, value, is_param, integer in h.state_dict():
                if key == name:
                    if integer:
                        return Tensor(np.array(value, dtype=np.int64))
                    return Parameter(value) if is_param else Tensor(value)
            options = _options(h)
            if name in options:
                return options[name]
            if name == "bias" and h.type_name() in ("Conv2d", "Linear"):
                return None  # bias=False
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # ---- calling ---------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):
        if self._h is None:
            raise NotImplementedError(f"{type(self).__name__} defines no forward()")
        a = x._a if isinstance(x, Tensor) else _as_array(x, "input")
        if a.dtype != np.float32:
            raise TypeError(f"{self._h.type_name()}: expected a float32 input; got {a.dtype} "
                            f"(convert with .float())")
        # An unbatched (C, H, W) image, as PyTorch's 2-D layers accept it: a batch of one.
        kind = self._h.type_name()
        unbatched = a.ndim == 3 and kind in _UNBATCHED_OK
        # Linear on (in,) or (..., in): the leading dimensions as one batch, as F.linear.
        lead = a.shape[:-1] if kind == "Linear" and a.ndim != 2 else None
        if unbatched:
            a = a[None]
        if lead is not None:
            a = a.reshape(-1, a.shape[-1]) if a.ndim else a
        y = self._h.forward(np.ascontiguousarray(a))
        if unbatched:
            y = y[0]
        if lead is not None:
            y = y.reshape(lead + (y.shape[-1],))
        # Parameters always require gradients: a layer with any makes its output track them.
        tracks = is_grad_enabled() and ((isinstance(x, Tensor) and x._tracks()) or any(
            is_param for _, _, is_param, _ in self._h.state_dict()))
        grad_fn = None
        if tracks:
            grad_fn = _GRAD_FN.get(self._last_layer(), None)
            if grad_fn is None and isinstance(x, Tensor):
                grad_fn = x._grad_fn
            if unbatched and kind == "Conv2d":
                grad_fn = "SqueezeBackward1"  # PyTorch's conv squeezes the batch of one away
            if lead is not None:
                grad_fn = "AddBackward0" if len(lead) == 0 else "ViewBackward0"
            if grad_fn == "AdaptiveAvgPool2DBackward0" and y.shape[-2:] == (1, 1):
                grad_fn = "MeanBackward1"  # PyTorch takes the mean for an output of 1 x 1
        return Tensor(y, grad_fn)

    def _last_layer(self):
        """The type of the layer whose backward PyTorch would name: the last one that computes
        something (Identity, and Dropout in evaluation, pass their input on)."""
        def last(h):
            kids = h.children()
            if not kids:
                passes = h.type_name() == "Identity" or (
                    h.type_name() == "Dropout" and not h.is_training())
                return None if passes else h.type_name()
            if h.type_name() in _GRAD_FN:
                return h.type_name()
            for _, k in reversed(kids):
                found = last(k)
                if found:
                    return found
            return None
        return last(self._h)

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self):
        """name -> tensor, PyTorch's keys; float entries are this module's own memory."""
        out = OrderedDict()
        if self._h is not None:
            for key, value, is_param, integer in self._h.state_dict():
                out[key] = Tensor(np.array(value, dtype=np.int64)) if integer else Tensor(value)
        for name, child in self._modules.items():
            if self._h is None:
                for key, value in child.state_dict().items():
                    out[name + "." + key] = value
        return out

    def load_state_dict(self, state_dict, strict=True):
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise ValueError("load_state_dict: " + "; ".join(
                part for part in (
                    "missing keys: " + ", ".join(missing) if missing else "",
                    "unexpected keys: " + ", ".join(unexpected) if unexpected else "") if part))
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _as_array(state_dict[key], key)
            if tuple(value.shape) != tuple(target.shape):  # noqa: E501
                raise ValueError(f"load_state_dict: {key} has shape {list(value.shape)}; the model "
                                 f"expects {list(target.shape)}")
            if target.dtype.name == "int64":
                self._set_integer(key, int(value.reshape(-1)[0]))
            else:
                target._a[...] = value
        return _IncompatibleKeys(missing, unexpected)

    def _set_integer(self, key, value):
        if self._h is not None:
            self._h.set_buffer_integer(key, value)
            return
        name, rest = key.split(".", 1)
        self._modules[name]._set_integer(rest, value)

    def named_parameters(self):
        if self._h is not None:
            for key, value, is_param, _ in self._h.state_dict():
                if is_param:
                    yield key, Parameter(value)
        for name, child in self._modules.items():
            if self._h is None:
                for key, p in child.named_parameters():
                    yield name + "." + key, p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_children(self):
        if self._h is not None:
            for name, h in self._h.children():
                yield name, _wrap(h)
        else:
            yield from self._modules.items()

    def children(self):
        return [m for _, m in self.named_children()]

    def __getitem__(self, index):
        kids = list(self.named_children())
        if isinstance(index, slice):
            return Sequential(*[m for _, m in kids[index]])
        return kids[index][1]

    def modules(self):
        yield self
        for child in self.children():
            yield from child.modules()

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(prefix + ("." if prefix else "") + name)

    def add_module(self, name, module):
        if self._h is not None:
            raise TypeError("add_module: build the model with its layers (nn.Sequential(...))")
        setattr(self, name, module)

    def requires_grad_(self, requires_grad=True):
        return self

    def __len__(self):
        return len(list(self.named_children()))

    def train(self, mode=True):
        if self._h is not None:
            self._h.train(bool(mode))
        for child in self._modules.values():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @property
    def training(self):
        if self._h is not None:
            return self._h.is_training()
        return all(c.training for c in self._modules.values()) if self._modules else True

    def zero_grad(self):
        return None

    def __repr__(self):
        if self._h is not None:
            return self._h.repr()
        lines = [type(self).__name__ + "("]
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + ("\n)" if self._modules else ")")


# Options PyTorch leaves out of a layer's printed form when they have their default values.
_UNPRINTED_DEFAULTS = {
    "Conv2d": {"padding": (0, 0), "dilation": (1, 1), "groups": 1, "padding_mode": "zeros"},
    "ReLU": {"inplace": False}, "LeakyReLU": {"negative_slope": 0.01, "inplace": False},
    "Dropout": {"inplace": False}, "Flatten": {"start_dim": 1, "end_dim": -1},
}


def _options(handle):
    """A leaf layer's constructor options (conv.kernel_size, conv.stride, pool.kernel_size, ...),
    read back from the text it prints, as PyTorch keeps them as attributes."""
    name = handle.type_name()
    if handle.children():
        return {}
    try:
        call = ast.parse(handle.repr(), mode="eval").body
        names = _convlab.layer_parameters(name)
    except (SyntaxError, ValueError):
        return {}
    if not isinstance(call, ast.Call):
        return {}
    options = dict(_UNPRINTED_DEFAULTS.get(name, {}))
    try:
        for i, arg in enumerate(call.args):
            if i < len(names):
                options[names[i]] = ast.literal_eval(arg)
        for kw in call.keywords:
            options[kw.arg] = ast.literal_eval(kw.value)
    except ValueError:
        return {}
    if name == "Conv2d":
        options.pop("bias", None)  # conv.bias is the parameter
    if name == "Linear":
        options.pop("bias", None)
    return options


def _wrap(handle):
    cls = _LAYERS.get(handle.type_name(), Module)
    m = Module.__new__(cls)
    Module.__init__(m, handle)
    return m


def _layer_class(name):
    def __init__(self, *args, **kwargs):
        text = name + "(" + ", ".join(
            [_py(a) for a in args] + [f"{k}={_py(v)}" for k, v in kwargs.items()]) + ")"
        Module.__init__(self, _convlab.build_layer(text))

    return type(name, (Module,), {
        "__init__": __init__, "__module__": __name__,
        "__doc__": f"PyTorch's nn.{name}({', '.join(_convlab.layer_parameters(name))}), "
                   f"computed by convlab."})


_LAYERS = {name: _layer_class(name) for name in _convlab.layer_names()}
globals().update(_LAYERS)
Parameter = Parameter  # nn.Parameter(tensor), as PyTorch's


class Sequential(Module):
    """nn.Sequential(*layers): the layers become the Sequential's own (the objects passed in
    share their parameters with it, as in PyTorch)."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            raise TypeError("Sequential(OrderedDict) is not supported: pass the layers in order")
        for layer in layers:
            if not isinstance(layer, Module) or layer._h is None:
                raise TypeError("Sequential takes convlab layers (nn.Conv2d(...), ...); got "
                                + type(layer).__name__)
        body = "".join(f"\n  ({i}): " + repr(l).replace("\n", "\n  ") for i, l in enumerate(layers))
        Module.__init__(self, _convlab.build_model("Sequential(" + body + ("\n)" if layers else ")"),
                                                   True))
        # Values of the given layers, then each given object rebound to its place in the model.
        for (_, handle), layer in zip(self._h.children(), layers):
            fresh = _wrap(handle)
            fresh.load_state_dict(layer.state_dict())
            object.__setattr__(layer, "_h", handle)


_LAYERS["Sequential"] = Sequential


class Residual(Module):
    """convlab's Residual: body(x) + shortcut(x) (Identity() by default)."""

    def __init__(self, body, shortcut=None):
        shortcut = shortcut if shortcut is not None else Identity()  # noqa: F821
        for part in (body, shortcut):
            if not isinstance(part, Module) or part._h is None:
                raise TypeError("Residual takes convlab modules")
        text = ("Residual(\n  (body): " + repr(body).replace("\n", "\n  ") +
                "\n  (shortcut): " + repr(shortcut).replace("\n", "\n  ") + "\n)")
        Module.__init__(self, _convlab.build_model(text, True))
        for (_, handle), part in zip(self._h.children(), (body, shortcut)):
            _wrap(handle).load_state_dict(part.state_dict())
            object.__setattr__(part, "_h", handle)


_LAYERS["Residual"] = Residual


def model(name_or_text):
    """'standard', 'sumfirst', a model file, an ONNX file, or model text as PyTorch prints it."""
    return _wrap(_convlab.build_model(str(name_or_text), False))


# ---- convlab.nn.functional (import convlab.nn.functional as F) ---------------------------------
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402

functional = _types.ModuleType("convlab.nn.functional",
                               "PyTorch's functional forms, computed by convlab's layers.")
_sys.modules["convlab.nn.functional"] = functional


def _scratch_layer(text):
    # A one-layer model from a generator of its own (its values are replaced or unused).
    return _wrap(_convlab.build_model(text, True))[0]


def _apply(text, x, grad_fn, weights=None, tracks=False):
    layer = _scratch_layer(text)
    if weights:
        layer.load_state_dict(weights)
    out = Module.forward(layer, x.detach() if isinstance(x, Tensor) else Tensor(_as_array(x)))
    tracks = is_grad_enabled() and (tracks or (isinstance(x, Tensor) and x.requires_grad))
    return Tensor(out._a, grad_fn if tracks else None)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _conv2d(input, weight, bias=None, stride=1, padding=0):
    w = _as_array(weight, "weight")
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out, in, kh, kw); got shape {list(w.shape)}")
    text = (f"Conv2d({w.shape[1]}, {w.shape[0]}, kernel_size={_py(tuple(w.shape[2:]))}, "
            f"stride={_py(_pair(stride))}, padding={_py(_pair(padding))}, bias={_py(bias is not None)})")
    weights = {"weight": w}
    if bias is not None:
        weights["bias"] = _as_array(bias, "bias")
    tracks = any(isinstance(t, Tensor) and t.requires_grad for t in (weight, bias))
    return _apply(text, input, "ConvolutionBackward0", weights, tracks)


def _linear(input, weight, bias=None):
    w = _as_array(weight, "weight")
    text = f"Linear({w.shape[1]}, {w.shape[0]}, bias={_py(bias is not None)})"
    weights = {"weight": w}
    if bias is not None:
        weights["bias"] = _as_array(bias, "bias")
    tracks = any(isinstance(t, Tensor) and t.requires_grad for t in (weight, bias))
    return _apply(text, input, "AddmmBackward0", weights, tracks)


functional.conv2d = _conv2d
functional.linear = _linear
functional.relu = lambda input: _apply("ReLU()", input, "ReluBackward0")
functional.leaky_relu = lambda input, negative_slope=0.01: _apply(
    f"LeakyReLU(negative_slope={_py(float(negative_slope))})", input, "LeakyReluBackward0")
functional.max_pool2d = lambda input, kernel_size, stride=None, padding=0: _apply(
    f"MaxPool2d(kernel_size={_py(kernel_size)}, stride={_py(stride if stride is not None else kernel_size)}, "
    f"padding={_py(padding)})", input, "MaxPool2DWithIndicesBackward0")
functional.avg_pool2d = lambda input, kernel_size, stride=None, padding=0: _apply(
    f"AvgPool2d(kernel_size={_py(kernel_size)}, stride={_py(stride if stride is not None else kernel_size)}, "
    f"padding={_py(padding)})", input, "AvgPool2DBackward0")
