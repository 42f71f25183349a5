"""convlab from Python, in the notebooks' language: `import convlab as torch; from convlab import nn`.

Tensors (convlab.tensor, zeros, ones, from_numpy) index, assign and print as PyTorch's; nn holds
every convlab layer under PyTorch's name; train() is the command line's trainer (the same bits as
`convlab train` with the same recipe), with a per-epoch callback.
"""
import json as _json
import os as _os

from . import _convlab
from ._tensor import (Parameter, Size, Tensor, allclose, arange, bool, dtype, equal, float,  # noqa: A004
                      float32, from_numpy, full, get_num_threads, int64, is_grad_enabled, is_tensor,
                      long, manual_seed, no_grad, ones, rand, randn, set_num_threads, tensor, zeros)
from . import nn

__version__ = "0.1.0"

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
    (a dict). `out`: a run directory to write (checkpoint.bin, metrics.json), or "" for none.
    `on_epoch(record)` is called after each epoch with its loss, test accuracy, seconds, lr (a
    notebook can plot its own curve). Ctrl-C stops at the next batch (KeyboardInterrupt)."""
    if weight_decay is None:
        weight_decay = 0.01 if optimizer == "adamw" else 0.0
    recipe = _json.loads(_convlab.default_recipe())
    recipe.update(model=str(model), epochs=int(epochs), batch_size=int(batch_size),
                  optimizer=optimizer, lr=builtins_float(lr), momentum=builtins_float(momentum),
                  weight_decay=builtins_float(weight_decay), seed=int(seed), augment=augment,
                  normalize=normalize, schedule=schedule, weights=str(weights),
                  chunk_size=int(chunk_size))
    return _json.loads(_convlab.train(_json.dumps(recipe), str(data or default_data_dir()), str(out),
                                      str(resume), overwrite, int(threads), on_epoch))


import builtins as _builtins  # noqa: E402

builtins_float = _builtins.float
