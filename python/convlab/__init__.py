"""convlab from Python, in the notebooks' language: `import convlab as torch; from convlab import nn`.

Tensors (convlab.tensor, zeros, ones, from_numpy) index, assign and print as PyTorch's; nn holds
every convlab layer under PyTorch's name; train() is the command line's trainer (the same bits as
`convlab train` with the same recipe), with a per-epoch callback.
"""
import json as _json
import os as _os

from . import _convlab
from ._tensor import (Parameter, Size, Tensor, abs, allclose, arange, argmax, bool, cat,  # noqa: A004
                      clone, dtype, equal, exp, flatten, float, float32, from_numpy, full,
                      get_num_threads, int64, is_grad_enabled, is_tensor, long, manual_seed, matmul,
                      max, mean, no_grad, numel, ones, permute, rand, randn, relu, reshape,
                      set_num_threads, squeeze, stack, sum, t, tensor, transpose, unsqueeze, zeros,
                      ones_like, zeros_like, linspace, where)
from . import nn

__version__ = "0.1.0"
FloatTensor = Tensor  # torch.FloatTensor(data): float32, as Tensor(data)

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def default_data_dir():
    """The CIFAR-10 subset shipped with convlab's sources (what `convlab train` reads by default)."""
    try:
        from ._paths import SOURCE_DIR
        return _os.path.join(SOURCE_DIR, "data", "cifar-10-batches-bin")
    except ImportError:
        return "data/cifar-10-batches-bin"


def train(model="standard", data=None, epochs=25, batch_size=64, optimizer="adam", lr=1e-3,
          momentum=0.0, weight_decay=None, seed=0, augment="", normalize="", schedule="",
          weights="", chunk_size=0, out="", resume="", overwrite=False, threads=1, on_epoch=None):
    """Trains as `convlab train` does, with the same recipe names; returns metrics.json's content
    (a dict). `model`: "standard", "sumfirst", a model or ONNX file, or a convlab Module — which,
    as in PyTorch, starts from its current weights and holds the trained ones afterwards.
    `out`: a run directory to write (checkpoint.bin, metrics.json), or "" for none.
    `on_epoch(record)` is called after each epoch with its loss, test accuracy, seconds, lr (a
    notebook can plot its own curve). Ctrl-C stops at the next batch (KeyboardInterrupt)."""
    module = model if isinstance(model, nn.Module) else None
    if module is not None:
        if module._h is None or module._h.type_name() != "Sequential":
            raise TypeError("train: convlab trains a model built from layers (nn.Sequential(...)); "
                            "a Module with its own forward() or a lone layer cannot be trained")
        if weights:
            raise ValueError("train: a Module starts from its own weights; weights= is for "
                             "model names and files")
        import tempfile
        tmp = tempfile.mkdtemp(prefix="convlab-model-")
        model = _os.path.join(tmp, "model.txt")
        with open(model, "w") as f:
            f.write(repr(module) + "\n")
        weights = _os.path.join(tmp, "weights.safetensors")
        _convlab.export(module._h, weights)
    if weight_decay is None:
        weight_decay = 0.01 if optimizer == "adamw" else 0.0
    recipe = _json.loads(_convlab.default_recipe())
    recipe.update(model=str(model), epochs=int(epochs), batch_size=int(batch_size),
                  optimizer=optimizer, lr=builtins_float(lr), momentum=builtins_float(momentum),
                  weight_decay=builtins_float(weight_decay), seed=int(seed), augment=augment,
                  normalize=normalize, schedule=schedule, weights=str(weights),
                  chunk_size=int(chunk_size))
    try:
        metrics, trained = _convlab.train(_json.dumps(recipe), str(data or default_data_dir()),
                                          str(out), str(resume), overwrite, int(threads), on_epoch)
    finally:
        if module is not None:
            import shutil
            shutil.rmtree(_os.path.dirname(model), ignore_errors=True)
    if module is not None:
        module.load_state_dict(nn._wrap(trained).state_dict())
        module.train(True)
    return _json.loads(metrics)


def load_dataset(data=None, train=True):
    """A CIFAR-10 or MNIST directory as (images, labels, classes): images a float32 tensor
    (N, C, H, W) scaled to [0, 1] as torchvision's ToTensor, labels int64."""
    d = _convlab.load_dataset(str(data or default_data_dir()), builtins_bool(train))
    images = Tensor((d["images"].astype(_np.float32) / _np.float32(255)).astype(_np.float32))
    return images, Tensor(d["labels"].astype(_np.int64)), list(d["classes"])


def load(checkpoint):
    """The trained model a checkpoint.bin holds (a Module in evaluation mode)."""
    handle, _, _ = _convlab.load_checkpoint(str(checkpoint))
    m = nn._wrap(handle)
    m.eval()
    return m


def _model_and_normalize(model, checkpoint, weights, normalize):
    if checkpoint is not None:
        handle, saved_normalize, _ = _convlab.load_checkpoint(str(checkpoint))
        return nn._wrap(handle), normalize if normalize is not None else saved_normalize
    if isinstance(model, str):
        model = nn.model(model)
    if not isinstance(model, nn.Module) or model._h is None:
        raise TypeError("expected a checkpoint, a model name or file, or a convlab model")
    if weights is not None:
        _convlab.load_weights(model._h, str(weights))
    return model, normalize or ""


def evaluate(model=None, checkpoint=None, weights=None, data=None, train=False, normalize=None,
             batch_size=64, threads=1):
    """Accuracy, per-class accuracy and confusion matrix, as `convlab evaluate --json` prints
    them: of a checkpoint (with its recipe's normalisation), or of a model (a Module, a name, a
    model file or an ONNX file; `weights` a .safetensors state_dict)."""
    m, norm = _model_and_normalize(model, checkpoint, weights, normalize)
    was = m.training
    try:
        return _json.loads(_convlab.evaluate(m._h, str(data or default_data_dir()),
                                             builtins_bool(train), int(batch_size), norm,
                                             int(threads)))
    finally:
        m.train(was)


def export(model=None, to=None, checkpoint=None, weights=None, overwrite=False):
    """Writes a model (or a checkpoint's) as ONNX (`to` ends in .onnx) or as a PyTorch state_dict
    in safetensors (.safetensors), as `convlab export` does."""
    if to is None:
        raise ValueError("export: give the file to write, to=...onnx or ...safetensors")
    if _os.path.exists(str(to)) and not overwrite:
        raise FileExistsError(f"export: {to} exists; pass overwrite=True to replace it")
    m, _ = _model_and_normalize(model, checkpoint, weights, None)
    _convlab.export(m._h, str(to))


def inspect(model, image):
    """Each layer's output shape and parameter count for one input (N, C, H, W), as
    `convlab inspect` lists them (PyTorch's dotted names)."""
    m, _ = _model_and_normalize(model, None, None, None)
    x = image._a if isinstance(image, Tensor) else _np.asarray(image, dtype=_np.float32)
    return _json.loads(_convlab.inspect(m._h, _np.require(x, _np.float32, "C")))


def decompose(model, image, layer, filter, include_bias=True):
    """One filter of a Conv2d as the sum of its per-input-channel contributions (the notebooks'
    per-channel picture): contributions, combined, the layer's own output, and whether they match."""
    m, _ = _model_and_normalize(model, None, None, None)
    x = image._a if isinstance(image, Tensor) else _np.asarray(image, dtype=_np.float32)
    d = _convlab.decompose(m._h, _np.require(x, _np.float32, "C"), str(layer), int(filter),
                           builtins_bool(include_bias))
    for key in ("combined", "layer_output"):
        d[key] = Tensor(d[key])
    d["contributions"] = [Tensor(c) for c in d["contributions"]]
    return d


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


def predict(images, model=None, checkpoint=None, weights=None, resize=False, size=(32, 32), top=5,
            normalize=None, classes=None):
    """`convlab predict` for image files (PNG, JPEG, BMP): per image a dict with its logits, the
    softmax probabilities (in double, the largest logit subtracted first), the prediction and the
    `top` classes with their probabilities. A checkpoint brings its class names and its recipe's
    normalisation; an image of another size than `size` (width, height) is an error unless
    `resize` (bilinear)."""
    if isinstance(images, (str, _os.PathLike)):
        images = [images]
    m, norm = _model_and_normalize(model, checkpoint, weights, normalize)
    if classes is None:
        classes = _convlab.load_checkpoint(str(checkpoint))[2] if checkpoint is not None else []
        classes = classes or CIFAR10_CLASSES
    channels = next((v.shape[1] for k, v in m.state_dict().items()
                     if k.endswith("weight") and v.dim() == 4), 3)
    width, height = size
    batch = _np.concatenate([_convlab.read_image(str(p), int(channels), int(height), int(width),
                                                 builtins_bool(resize)) for p in images])
    if norm:
        means, stds = (_np.array([builtins_float(v) for v in part.split(",")], dtype=_np.float32)
                       for part in norm.split("/"))
        batch = ((batch - means[:, None, None]) / stds[:, None, None]).astype(_np.float32)
    was = m.training
    m.eval()
    try:
        with no_grad():
            logits = m(Tensor(batch)).numpy().astype(_np.float64)
    finally:
        m.train(was)
    out = []
    for path, row in zip(images, logits):
        p = _np.exp(row - row.max())
        p /= p.sum()
        order = sorted(range(len(p)), key=lambda k: -p[k])
        name = lambda k: classes[k] if k < len(classes) else str(k)  # noqa: E731
        out.append({"image": str(path), "logits": row.astype(_np.float32).tolist(),
                    "probabilities": p.tolist(), "prediction": name(order[0]),
                    "top": [(name(k), builtins_float(p[k])) for k in order[:top]]})
    return out


def compare(data=None, out="runs/compare", epochs=25, batch_size=64, lr=1e-3, seed=0, seeds=1,
            threads=2, overwrite=False, **recipe):
    """The notebook's experiment, standard against sum-first (`convlab compare`): writes the
    report, figures and metrics to `out`; returns the summary table."""
    r = _json.loads(_convlab.default_recipe())
    r.update(epochs=int(epochs), batch_size=int(batch_size), lr=builtins_float(lr), seed=int(seed))
    r.update(recipe)
    return _convlab.compare(_json.dumps(r), str(data or default_data_dir()), str(out), int(seeds),
                            int(threads), builtins_bool(overwrite))


import builtins as _builtins  # noqa: E402
import numpy as _np  # noqa: E402

builtins_bool = _builtins.bool

builtins_float = _builtins.float
