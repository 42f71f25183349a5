#!/usr/bin/python3
"""Writes the model files in models/ as PyTorch prints them, with PyTorch's parameter counts.

    /usr/bin/python3 tools/make_models.py     # Debian's python3-torch
Each file is print(model) of the network below, so `convlab train --model models/X.txt` trains
exactly what PyTorch would, and `convlab inspect` can be checked against these counts.
"""
import os
import sys

import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import Residual, basic_block, standard_model  # noqa: E402  (one definition each)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")


def resnet20():
    """He et al. 2016's CIFAR ResNet-20: 3 stages of 3 basic blocks (16, 32, 64 channels), option B
    shortcuts (1x1 convolution + BatchNorm where the shape changes), a ReLU after every sum."""
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        for b in range(3):
            layers += [basic_block(cin, cout, stride if b == 0 else 1), nn.ReLU()]
            cin = cout
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def vgg_bn():
    """A small VGG with BatchNorm: two 3x3 convolutions per stage (32, 64, then one of 128), 2x2
    max pooling, dropout before each fully connected layer."""
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(
        *conv(3, 32), *conv(32, 32), nn.MaxPool2d(2),
        *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),
        *conv(64, 128), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(256, 10))


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    # notebook: the notebook's standard CNN as an nn.Sequential (convlab's `--model standard`), the
    # form whose state_dict keys ("0.weight", ...) convlab's model text names.
    for name, make in [("notebook", standard_model), ("resnet20", resnet20), ("vgg_bn", vgg_bn)]:
        model = make()
        params = sum(p.numel() for p in model.parameters())
        path = os.path.join(OUT, name + ".txt")
        with open(path, "w") as f:
            f.write(repr(model) + "\n")
        rows.append((name, params))
        print(f"wrote {path}: {params} parameters")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# Model files\n\nWritten by `tools/make_models.py` as PyTorch 1.13 prints each "
                "network; parameter counts from PyTorch.\n\n| file | parameters |\n|---|---:|\n")
        for name, params in rows:
            f.write(f"| `{name}.txt` | {params:,} |\n")
        f.write("\nTrain one: `convlab train --model models/resnet20.txt --augment crop,flip "
                "--schedule cosine`.\n")


if __name__ == "__main__":
    sys.exit(main())
