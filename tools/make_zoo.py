#!/usr/bin/python3
"""Writes the benchmark zoo (bench/zoo/): networks of every shape class as PyTorch prints them,
and zoo.json, what bench/run.sh --zoo trains (input shape, images per epoch, batch size).

    /usr/bin/python3 tools/make_zoo.py     # Debian's python3-torch

The classes the performance issue names: kernels 1/3/5/7, strides 1 and 2, padding 0/1/2/3,
channels 1 to 256, spatial sizes 7 to 64, batches 1 to 256, BatchNorm, average pooling, residual
networks. Images per epoch are set so that one PyTorch epoch takes a few seconds here.
"""
import json
import os
import sys

import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "bench", "zoo")


def lenet5():
    """LeCun's LeNet-5 on 28x28 MNIST-sized images: 5x5 kernels, padding 2 then 0, 1 input channel."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def vgg_style():
    """Two stages of two 3x3 convolutions (32 and 64 channels) and a wide Linear."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4096, 256), nn.ReLU(), nn.Linear(256, 10))


def strided():
    """Downsampling by stride-2 convolutions instead of pooling."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4096, 10))


def conv5x5():
    """Wide 5x5 convolutions with padding 2."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4096, 10))


def stem7():
    """An ImageNet-style stem on 64x64 images: 7x7 stride 2 padding 3, 3x3 stride-2 max pooling,
    a 1x1 bottleneck up to 128 channels, a 3x3 stride-2 convolution to 256, global average."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(64, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 256, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(256, 10))


def small7():
    """Small spatial sizes: 28x28 down to 7x7 by stride-2 convolutions, then 3x3 and 1x1 on 7x7,
    average pooling 7 with padding 0."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
        nn.Conv2d(128, 64, 1), nn.ReLU(),
        nn.AvgPool2d(7), nn.Flatten(), nn.Linear(64, 10))


def conv7x7():
    """7x7 convolutions at stride 1 with padding 3 (3 -> 16 on 32x32, 16 -> 32 on 16x16)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(2048, 10))


def strided5x5():
    """5x5 convolutions at stride 2 with padding 2 (32x32 -> 16x16 -> 8x8)."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(32, 64, 5, stride=2, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(4096, 10))


def deep4x4():
    """Three stride-2 3x3 stages with BatchNorm (64, 128, 256 channels) down to 4x4, a 256 -> 256
    3x3 on 4x4, global average."""
    layers, c = [], 3
    for o, s in ((64, 2), (128, 2), (256, 2), (256, 1)):
        layers += [nn.Conv2d(c, o, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        c = o
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(256, 10))


# name: (network or a file in models/ or a built-in name, input C,H,W, training images, batch).
# At least 10,000 training images, as issue 12 measured its networks (an epoch of 1,000 images,
# 16 batches, is a third first-batch costs: page faults and buffers growing, paid by both
# libraries); batch-1 training stays at 2,000.
ZOO = [
    ("standard", "standard", "3,32,32", 20000, 64),
    ("sumfirst", "sumfirst", "3,32,32", 20000, 64),
    ("standard_b1", "standard", "3,32,32", 2000, 1),
    ("standard_b256", "standard", "3,32,32", 20000, 256),
    ("lenet5", lenet5, "1,28,28", 20000, 64),
    ("vgg_style", vgg_style, "3,32,32", 10000, 64),
    ("strided", strided, "3,32,32", 10000, 64),
    ("conv5x5", conv5x5, "3,32,32", 10000, 64),
    ("stem7", stem7, "3,64,64", 10000, 64),
    ("small7", small7, "1,28,28", 10000, 64),
    ("vgg_bn", "models/vgg_bn.txt", "3,32,32", 10000, 64),
    ("resnet20", "models/resnet20.txt", "3,32,32", 10000, 64),
    ("conv7x7", conv7x7, "3,32,32", 10000, 64),
    ("strided5x5", strided5x5, "3,32,32", 10000, 64),
    ("deep4x4", deep4x4, "3,32,32", 10000, 64),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    entries = []
    for name, net, shape, images, batch in ZOO:
        entry = {"name": name, "input": shape, "images": images, "batch": batch}
        if callable(net):
            model = net()
            path = os.path.join(OUT, name + ".txt")
            with open(path, "w") as f:
                f.write(repr(model) + "\n")
            entry["model"] = "bench/zoo/" + name + ".txt"
            entry["parameters"] = sum(p.numel() for p in model.parameters())
            print(f"wrote {path}: {entry['parameters']} parameters")
        else:
            entry["model"] = net
        entries.append(entry)
    with open(os.path.join(OUT, "zoo.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
