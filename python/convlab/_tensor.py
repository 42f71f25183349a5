"""convlab.Tensor: a numpy array with PyTorch's names, indexing, printing and autograd labels.

The storage is a numpy array (float32, or int64/bool where PyTorch would have them), so indexing,
slicing and assignment behave as PyTorch's views do: `image[0, 0, :, 2] = 1`, `w[0][0] = Gx` and
`state_dict()['weight'][1][0] = Gy` write into the same memory. Printing is PyTorch's, character
for character (convlab's C++ printer for floats), with the suffixes PyTorch adds: grad_fn of the
operation that made a tensor from one that requires grad, requires_grad=True on parameters.
convlab does not differentiate from Python; grad_fn names only what PyTorch would print.
"""
import builtins

import numpy as np

from . import _convlab

_LINEWIDTH = 80
_grad_enabled = [True]


class dtype:
    def __init__(self, name, numpy_type):
        self.name, self.numpy = name, np.dtype(numpy_type)

    def __repr__(self):
        return "torch." + self.name


float32 = dtype("float32", np.float32)
float = float32  # noqa: A001  (torch.float)
int64 = dtype("int64", np.int64)
long = int64
bool = dtype("bool", np.bool_)  # noqa: A001
_DTYPES = {np.dtype(np.float32): float32, np.dtype(np.int64): int64, np.dtype(np.bool_): bool}


class Size(tuple):
    """torch.Size: a tuple that prints as torch.Size([1, 3, 3, 3])."""

    def __repr__(self):
        return "torch.Size([" + ", ".join(str(d) for d in self) + "])"

    __str__ = __repr__

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


class no_grad:
    """with convlab.no_grad(): results carry no grad_fn, as under torch.no_grad()."""

    def __enter__(self):
        self._was = _grad_enabled[0]
        _grad_enabled[0] = False

    def __exit__(self, *exc):
        _grad_enabled[0] = self._was
        return False


def is_grad_enabled():
    return _grad_enabled[0]


def _as_array(data, what="data"):
    """Nested lists, numbers, numpy arrays or Tensors as a numpy array of a convlab dtype: Python
    floats and float arrays become float32 (float64 is converted: convlab computes in float32),
    integers int64, booleans bool."""
    if isinstance(data, Tensor):
        return data._a
    a = np.array(data)
    if a.dtype == object or a.dtype.kind in "USV":
        raise TypeError(f"{what}: expected numbers or nested lists of numbers; got "
                        f"{type(data).__name__} of {a.dtype}")
    return _converted(a, what)


def _converted(a, what):
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=a.dtype != np.float32)
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=a.dtype != np.int64)
    if a.dtype.kind == "b":
        return a
    raise TypeError(f"{what}: convlab has float32, int64 and bool tensors; got {a.dtype}")


def _suffixes(text, suffixes, indent=7):
    """PyTorch's _add_suffixes: ', suffix' on the last line, or on a new line if it would pass
    the line width."""
    if not suffixes:
        return text
    assert text.endswith(")")
    body = text[:-1]
    last_line_len = len(body) - body.rfind("\n") + 1
    out = [body]
    for s in suffixes:
        if last_line_len + len(s) + 2 > _LINEWIDTH:
            out.append(",\n" + " " * indent + s)
            last_line_len = indent + len(s)
        else:
            out.append(", " + s)
            last_line_len += len(s) + 2
    out.append(")")
    return "".join(out)


def _int_repr(a):
    """PyTorch's repr of an int64 or bool tensor (_tensor_str with its integer formatter): width
    of the widest element shown, 80-column lines, summarised with '...' beyond 1000 elements."""
    edge = 3
    if a.size == 0:
        suffixes = [] if a.ndim == 1 else ["size=" + str(tuple(a.shape))]
        suffixes.append("dtype=torch." + ("bool" if a.dtype == np.bool_ else "int64"))
        return _suffixes("tensor([])", suffixes)
    summarize = a.size > 1000

    def text(v):
        return str(builtins.bool(v)) if a.dtype == np.bool_ else str(int(v))

    def summarized(x):
        if x.ndim == 0:
            return x.reshape(1)
        if x.shape[0] > 2 * edge:
            x = np.concatenate([x[:edge], x[-edge:]])
        return np.concatenate([summarized(y).reshape(-1) for y in x]) if x.ndim > 1 else x

    shown = summarized(a) if summarize else a.reshape(-1)
    width = builtins.max(len(text(v)) for v in shown)

    def fmt(v):
        return text(v).rjust(width)

    def vector(x, indent):
        per_line = builtins.max(1, (_LINEWIDTH - indent) // (width + 2))
        if summarize and x.shape[0] > 2 * edge:
            data = [fmt(v) for v in x[:edge]] + [" ..."] + [fmt(v) for v in x[-edge:]]
        else:
            data = [fmt(v) for v in x]
        lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"

    def rec(x, indent):
        if x.ndim == 0:
            return fmt(x.item())
        if x.ndim == 1:
            return vector(x, indent)
        if summarize and x.shape[0] > 2 * edge:
            parts = ([rec(x[i], indent + 1) for i in range(edge)] + ["..."] +
                     [rec(x[i], indent + 1) for i in range(x.shape[0] - edge, x.shape[0])])
        else:
            parts = [rec(y, indent + 1) for y in x]
        return "[" + ("," + "\n" * (x.ndim - 1) + " " * (indent + 1)).join(parts) + "]"

    return "tensor(" + rec(a, 7) + ")"


def _index_grad_fn(idx):
    """The grad_fn PyTorch gives an indexing result: that of the last operation applied —
    basic indices left to right (a full slice ':' is none), advanced ones (tensors, lists, masks)
    last."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    if any(isinstance(p, (np.ndarray, list)) for p in parts):
        return "IndexBackward0"
    name = "AliasBackward0"
    for p in parts:
        if isinstance(p, (int, np.integer)):
            name = "SelectBackward0"
        elif p is None:
            name = "UnsqueezeBackward0"
        elif isinstance(p, slice) and p != slice(None):
            name = "SliceBackward0"
    return name


class return_types_max(tuple):
    """torch.return_types.max: (values, indices) with names."""

    def __new__(cls, values, indices, name="max"):
        t = super().__new__(cls, (values, indices))
        t._name = name
        return t

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self):
        return (f"torch.return_types.{self._name}(\nvalues={self[0]!r},\n"
                f"indices={self[1]!r})")


class Tensor:
    __array_ufunc__ = None  # numpy on the left defers to Tensor's operators
    __slots__ = ("_a", "_grad_fn", "_leaf_requires_grad", "__weakref__")

    def __init__(self, *args, requires_grad=False):
        # Internally Tensor(ndarray[, grad_fn name]); for users torch.Tensor(data) (float32, as
        # the legacy constructor) and torch.Tensor(2, 3) (a size, zero-filled).
        grad_fn = None
        if args and isinstance(args[0], np.generic):
            args = (np.asarray(args[0]),) + args[1:]
        if args and isinstance(args[0], np.ndarray) and len(args) <= 2 and (
                len(args) == 1 or args[1] is None or isinstance(args[1], str)):
            array = args[0]
            grad_fn = args[1] if len(args) == 2 else None
        elif args and all(isinstance(a, (int, np.integer)) and not isinstance(a, builtins.bool)
                          for a in args):
            array = np.zeros(_size(args), dtype=np.float32)
        elif len(args) == 1:
            array = _as_array(args[0], "Tensor()").astype(np.float32)
        elif not args:
            array = np.zeros((0,), dtype=np.float32)
        else:
            raise TypeError("Tensor(): expected data (nested lists, a numpy array) or sizes")
        self._a = array
        self._grad_fn = grad_fn
        self._leaf_requires_grad = requires_grad

    @property
    def requires_grad(self):
        """True for a leaf that asked for it (a parameter) and for results computed from one."""
        return self._leaf_requires_grad or self._grad_fn is not None

    @requires_grad.setter
    def requires_grad(self, value):
        if self._grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self._leaf_requires_grad = builtins.bool(value)

    def requires_grad_(self, value=True):
        self.requires_grad = value
        return self

    @property
    def data(self):
        return Tensor(self._a)

    @data.setter
    def data(self, value):
        # Into the same memory (a layer's parameter stays the layer's): the shape must match.
        a = _as_array(value, "data")
        if a.shape != self._a.shape:
            raise ValueError(f"data: a tensor of shape {list(a.shape)} for one of shape "
                             f"{list(self._a.shape)}")
        self._a[...] = a

    @property
    def grad(self):
        """None: convlab does not differentiate from Python (training is convlab.train)."""
        return None

    def type(self, dtype=None):
        if dtype is not None:
            return self.to(dtype)
        return {"float32": "torch.FloatTensor", "int64": "torch.LongTensor",
                "bool": "torch.BoolTensor"}[self.dtype.name]

    def long(self):
        return Tensor(self._a.astype(np.int64))

    def int(self):
        return self.long()

    def bool(self):
        return Tensor(self._a.astype(np.bool_))

    # ---- what it is --------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._a.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self._a.shape[dim]

    def dim(self):
        return self._a.ndim

    ndim = property(dim)

    def numel(self):
        return int(self._a.size)

    @property
    def dtype(self):
        return _DTYPES[self._a.dtype]

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self):
        return self._grad_fn is None

    def _tracks(self):
        return _grad_enabled[0] and self.requires_grad

    # ---- conversions -----------------------------------------------------------------------
    def numpy(self):
        """The same memory as a numpy array (a view), as torch's numpy()."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._a

    def detach(self):
        return Tensor(self._a)

    def clone(self):
        return Tensor(self._a.copy(), "CloneBackward0" if self._tracks() else None)

    def item(self):
        if self._a.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars; "
                             f"this one has {self._a.size}")
        return self._a.reshape(-1)[0].item()

    def tolist(self):
        return self._a.tolist()

    def float(self):
        return Tensor(self._a.astype(np.float32, copy=False), self._grad_fn)

    def double(self):
        raise TypeError("convlab computes in float32: float64 tensors do not exist here")

    def contiguous(self):
        t = Tensor(np.ascontiguousarray(self._a), self._grad_fn)
        t._leaf_requires_grad = self._leaf_requires_grad
        return t

    def view(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        if not self._a.flags.c_contiguous:
            raise RuntimeError("view size is not compatible with input tensor's size and stride; "
                               "use .reshape(...) instead")
        return Tensor(self._a.reshape(shape), "ViewBackward0" if self._tracks() else None)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        name = "ReshapeAliasBackward0" if self._a.flags.c_contiguous else "UnsafeViewBackward0"
        return Tensor(self._a.reshape(shape), name if self._tracks() else None)

    def unsqueeze(self, dim):
        return Tensor(np.expand_dims(self._a, dim), "UnsqueezeBackward0" if self._tracks() else None)

    def squeeze(self, dim=None):
        a = np.squeeze(self._a) if dim is None else (
            np.squeeze(self._a, dim) if self._a.shape[dim] == 1 else self._a)
        name = "SqueezeBackward0" if dim is None else "SqueezeBackward1"
        return Tensor(a, name if self._tracks() else None)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return Tensor(np.transpose(self._a, dims), "PermuteBackward0" if self._tracks() else None)

    def transpose(self, dim0, dim1):
        return Tensor(np.swapaxes(self._a, dim0, dim1),
                      "TransposeBackward0" if self._tracks() else None)

    def t(self):
        if self._a.ndim > 2:
            raise RuntimeError("t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self._a.ndim}D")
        return Tensor(self._a.T, "TBackward0" if self._tracks() else None)

    @property
    def T(self):
        return Tensor(self._a.T, "PermuteBackward0" if self._tracks() else None)

    def flatten(self, start_dim=0, end_dim=-1):
        shape = self._a.shape
        if not shape:
            return self.reshape(1)
        s, e = start_dim % len(shape), end_dim % len(shape)
        n = 1
        for d in shape[s:e + 1]:
            n *= d
        return self.reshape(shape[:s] + (n,) + shape[e + 1:])

    def mean(self, dim=None, keepdim=False):
        if self._a.dtype != np.float32:
            raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either "
                               f"a floating point or complex dtype. Got: {self.dtype.name}")
        r = np.mean(self._a, axis=dim, keepdims=keepdim, dtype=np.float32)
        name = "MeanBackward0" if dim is None else "MeanBackward1"
        return Tensor(np.asarray(r, dtype=np.float32), name if self._tracks() else None)

    def abs(self):
        return Tensor(np.abs(self._a), "AbsBackward0" if self._tracks() else None)

    def max(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor(np.asarray(np.max(self._a)), "MaxBackward1" if self._tracks() else None)
        return return_types_max(Tensor(np.asarray(np.max(self._a, axis=dim, keepdims=keepdim)),
                                       "MaxBackward0" if self._tracks() else None),
                                self.argmax(dim, keepdim))

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor(np.asarray(np.min(self._a)), "MinBackward1" if self._tracks() else None)
        r = np.argmin(self._a, axis=dim)
        if keepdim:
            r = np.expand_dims(r, dim)
        return return_types_max(Tensor(np.asarray(np.min(self._a, axis=dim, keepdims=keepdim)),
                                       "MinBackward0" if self._tracks() else None),
                                Tensor(np.asarray(r, dtype=np.int64)), "min")

    def std(self, dim=None, unbiased=True, keepdim=False):
        r = np.std(self._a.astype(np.float64), axis=dim, ddof=1 if unbiased else 0,
                   keepdims=keepdim)
        return Tensor(np.asarray(r, dtype=np.float32), "StdBackward0" if self._tracks() else None)

    def argmax(self, dim=None, keepdim=False):
        r = np.argmax(self._a) if dim is None else np.argmax(self._a, axis=dim)
        r = np.asarray(r, dtype=np.int64)
        if keepdim and dim is not None:
            r = np.expand_dims(r, dim)
        return Tensor(r)

    def __matmul__(self, o):
        return self._binary(o, np.matmul, "MmBackward0")

    def sum(self, dim=None, keepdim=False):
        r = np.sum(self._a, axis=dim, keepdims=keepdim, dtype=self._a.dtype
                   if self._a.dtype != np.bool_ else np.int64)
        name = "SumBackward0" if dim is None else "SumBackward1"
        return Tensor(np.asarray(r), name if self._tracks() else None)

    def fill_(self, value):
        self._check_inplace()
        self._a[...] = value
        return self

    def zero_(self):
        return self.fill_(0)

    def copy_(self, other):
        self._check_inplace()
        self._a[...] = _as_array(other)
        return self

    def __array__(self, dtype=None):
        return self._a if dtype is None else self._a.astype(dtype)

    # ---- indexing --------------------------------------------------------------------------
    @staticmethod
    def _index(idx):
        if isinstance(idx, tuple):
            return tuple(i._a if isinstance(i, Tensor) else i for i in idx)
        return idx._a if isinstance(idx, Tensor) else idx

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._a.shape[0]

    def __getitem__(self, idx):
        idx = self._index(idx)
        r = self._a[idx]
        if not isinstance(r, np.ndarray):
            # Every dimension indexed: a 0-d view of the element, as PyTorch returns.
            full = idx if isinstance(idx, tuple) else (idx,)
            r = self._a[full + (None,)].reshape(())
        return Tensor(r, _index_grad_fn(idx) if self._tracks() else None)

    def __setitem__(self, idx, value):
        self._check_inplace()
        self._a[self._index(idx)] = _as_array(value) if isinstance(value, (Tensor, list)) else value

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        name = "UnbindBackward0" if self._tracks() else None
        for i in range(self._a.shape[0]):
            yield Tensor(self._a[i:i + 1].reshape(self._a.shape[1:]), name)

    def _check_inplace(self):
        if self.requires_grad and self._grad_fn is None and _grad_enabled[0]:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")

    # ---- arithmetic (element-wise, in float32 as PyTorch) ---------------------------------
    def _binary(self, other, op, name, reverse=False):
        b = other._a if isinstance(other, Tensor) else other
        if isinstance(b, (list, tuple)):
            b = _as_array(b)
        r = op(b, self._a) if reverse else op(self._a, b)
        tracks = self._tracks() or (isinstance(other, Tensor) and other._tracks())
        r = np.asarray(r)
        if r.dtype == np.float64:
            r = r.astype(np.float32)
        return Tensor(r, name if tracks else None)

    def _inplace(self, other, op):
        self._check_inplace()
        op(self._a, other._a if isinstance(other, Tensor) else other, out=self._a,
           casting="same_kind")
        return self

    def __and__(self, o):
        return self._binary(o, np.logical_and if self._a.dtype == np.bool_ else np.bitwise_and, None)

    def __or__(self, o):
        return self._binary(o, np.logical_or if self._a.dtype == np.bool_ else np.bitwise_or, None)

    def __invert__(self):
        return Tensor(np.logical_not(self._a) if self._a.dtype == np.bool_ else np.invert(self._a))

    def __abs__(self):
        return self.abs()

    def __format__(self, spec):
        if self._a.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def eq(self, o):
        return self == o

    def to(self, dtype):
        return Tensor(self._a.astype(dtype.numpy), self._grad_fn if dtype is float32 else None)

    def __neg__(self):
        return Tensor(np.negative(self._a), "NegBackward0" if self._tracks() else None)

    __hash__ = object.__hash__

    def __bool__(self):
        if self._a.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self._a.reshape(-1)[0])

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    # ---- printing --------------------------------------------------------------------------
    def _body_repr(self):
        if self._a.dtype == np.float32:
            # np.require keeps a 0-d array 0-d (ascontiguousarray would make it 1-d).
            return _convlab.repr(np.require(self._a, requirements="C"))
        return _int_repr(self._a)

    def __repr__(self):
        suffixes = []
        if self._grad_fn is not None:
            suffixes.append(f"grad_fn=<{self._grad_fn}>")
        elif self._leaf_requires_grad:
            suffixes.append("requires_grad=True")
        return _suffixes(self._body_repr(), suffixes)

    __str__ = __repr__


# Element-wise operators, in float32 as PyTorch: (method, numpy function, the grad_fn PyTorch
# prints for a result that tracks gradients, operands swapped).
for _method_name, _op, _grad_fn, _swapped in [
        ("__add__", np.add, "AddBackward0", False), ("__radd__", np.add, "AddBackward0", True),
        ("__sub__", np.subtract, "SubBackward0", False),
        ("__rsub__", np.subtract, "RsubBackward1", True),
        ("__mul__", np.multiply, "MulBackward0", False),
        ("__rmul__", np.multiply, "MulBackward0", True),
        ("__truediv__", np.true_divide, "DivBackward0", False),
        ("__rtruediv__", np.true_divide, "DivBackward0", True),
        ("__pow__", np.power, "PowBackward0", False), ("__rpow__", np.power, "PowBackward1", True),
        ("__floordiv__", np.floor_divide, None, False),
        ("__mod__", np.remainder, "RemainderBackward0", False),
        ("__eq__", np.equal, None, False), ("__ne__", np.not_equal, None, False),
        ("__lt__", np.less, None, False), ("__gt__", np.greater, None, False),
        ("__le__", np.less_equal, None, False), ("__ge__", np.greater_equal, None, False)]:
    setattr(Tensor, _method_name,
            lambda self, o, op=_op, name=_grad_fn, swapped=_swapped: self._binary(o, op, name, swapped))
# In place (x += 1 writes into x's memory, as PyTorch's add_).
for _method_name, _op in [("__iadd__", np.add), ("__isub__", np.subtract),
                          ("__imul__", np.multiply), ("__itruediv__", np.true_divide)]:
    setattr(Tensor, _method_name, lambda self, o, op=_op: self._inplace(o, op))


class Parameter(Tensor):
    """A layer's weight or bias: its own memory, requires_grad=True, printed as PyTorch does."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        # An array is kept as it is (a layer's own memory); a tensor's shares its memory.
        a = data._a if isinstance(data, Tensor) else data if isinstance(data, np.ndarray) else (
            np.zeros((0,), np.float32) if data is None else _as_array(data, "Parameter()"))
        super().__init__(a, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


# ---- creation --------------------------------------------------------------------------------

def tensor(data, dtype=None, requires_grad=False):
    a = _as_array(data, "tensor()")
    if isinstance(data, Tensor):
        a = a.copy()
    if dtype is not None:
        a = a.astype(dtype.numpy)
    return Tensor(np.array(a, copy=True), requires_grad=requires_grad)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for d in size:
        if not isinstance(d, (int, np.integer)) or d < 0:
            raise ValueError(f"sizes must be non-negative integers; got {size}")
    return tuple(int(d) for d in size)


def zeros(*size, dtype=None, requires_grad=False):
    return Tensor(np.zeros(_size(size), dtype=(dtype or float32).numpy), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return Tensor(np.ones(_size(size), dtype=(dtype or float32).numpy), requires_grad=requires_grad)


def zeros_like(t, dtype=None):
    a = _as_array(t)
    return Tensor(np.zeros(a.shape, dtype=dtype.numpy if dtype else a.dtype))


def ones_like(t, dtype=None):
    a = _as_array(t)
    return Tensor(np.ones(a.shape, dtype=dtype.numpy if dtype else a.dtype))


def linspace(start, end, steps):
    return Tensor(np.linspace(start, end, int(steps)).astype(np.float32))


def where(condition, x, y):
    return Tensor(np.where(_as_array(condition), _as_array(x), _as_array(y)))


def full(size, value, dtype=None):
    return Tensor(np.full(_size(tuple(size)), value, dtype=(dtype or float32).numpy))


def arange(*args, dtype=None):
    a = np.arange(*args)
    return Tensor(_converted(a, "arange") if dtype is None else a.astype(dtype.numpy))


def from_numpy(array):
    """The array's own memory when it is float32, int64 or bool (changes show on both sides, as
    torch.from_numpy); other float types are converted to float32 and other integer types to
    int64, as copies (convlab computes in float32)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray; got {type(array).__name__}")
    if array.dtype in (np.float32, np.int64, np.bool_):
        return Tensor(array)
    return Tensor(_converted(array, "from_numpy"))


def manual_seed(seed):
    """Seeds the generator new layers are initialised from (torch.manual_seed: any integer from
    -2^63 to 2^64 - 1, negative ones taken modulo 2^64)."""
    seed = int(seed)
    if not -(1 << 63) <= seed < (1 << 64):
        raise ValueError(f"manual_seed: seed must be from -2^63 to 2^64-1; got {seed}")
    _convlab.manual_seed(seed % (1 << 64))


def set_num_threads(n):
    _convlab.set_num_threads(int(n))


def get_num_threads():
    return _convlab.get_num_threads()


def is_tensor(x):
    return isinstance(x, Tensor)


def _tracked(*tensors):
    return _grad_enabled[0] and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def cat(tensors, dim=0):
    tensors = list(tensors)
    return Tensor(np.concatenate([_as_array(t) for t in tensors], axis=dim),
                  "CatBackward0" if _tracked(*tensors) else None)


def stack(tensors, dim=0):
    tensors = list(tensors)
    return Tensor(np.stack([_as_array(t) for t in tensors], axis=dim),
                  "StackBackward0" if _tracked(*tensors) else None)


def matmul(a, b):
    return (a if isinstance(a, Tensor) else Tensor(_as_array(a))) @ b


def _method(name):
    def f(t, *args, **kwargs):
        t = t if isinstance(t, Tensor) else Tensor(_as_array(t))
        return getattr(t, name)(*args, **kwargs)
    f.__name__ = name
    f.__doc__ = f"torch.{name}(tensor, ...): the method Tensor.{name}."
    return f


for _name in ("sum", "mean", "max", "argmax", "abs", "flatten", "reshape", "permute", "transpose",
              "t", "squeeze", "unsqueeze", "numel", "clone"):
    globals()[_name] = _method(_name)


def exp(t):
    t = t if isinstance(t, Tensor) else Tensor(_as_array(t))
    return Tensor(np.exp(t._a), "ExpBackward0" if t._tracks() else None)


def relu(t):
    from .nn import functional
    return functional.relu(t)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(np.allclose(_as_array(a), _as_array(b), rtol, atol, equal_nan))


def equal(a, b):
    a, b = _as_array(a), _as_array(b)
    return a.shape == b.shape and builtins.bool(np.array_equal(a, b))


def _random(size, draw):
    # numpy's generator seeded from convlab's: reproducible after manual_seed, not PyTorch's values.
    rng = np.random.default_rng(_convlab.next_seed())
    return Tensor(draw(rng, _size(size)).astype(np.float32))


def rand(*size):
    """Uniform [0, 1) values (reproducible after manual_seed; not the values PyTorch draws)."""
    return _random(size, lambda rng, s: rng.random(s))


def randn(*size):
    """Standard normal values (reproducible after manual_seed; not the values PyTorch draws)."""
    return _random(size, lambda rng, s: rng.standard_normal(s))
