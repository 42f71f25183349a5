"""Builds the PyTorch twin of a convlab model file: the text PyTorch prints (print(model)) read
back into modules, so the bench and the PyTorch twins train exactly the network convlab trains. Also the one
definition of convlab's Residual for the scripts in tools/.

    from torch_models import from_text
    model = from_text(open("models/resnet20.txt").read())

Leaf layers are evaluated as the constructor call they print as (`Conv2d(3, 16, kernel_size=(3, 3),
...)`) with `torch.nn` in scope; `Sequential(` and `Residual(` open containers whose `(name):`
children follow, one per line, closed by `)`. Residual is convlab's `body(x) + shortcut(x)`.
"""
import re

import torch.nn as nn


class Residual(nn.Module):
    """convlab's Residual: body(x) + shortcut(x); printed with children `body` and `shortcut`."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class ChannelSum(nn.Module):
    """The notebook's sum-first model's first step: the sum over channels, one channel kept."""

    def forward(self, x):
        return x.sum(dim=1, keepdim=True)


_CHILD = re.compile(r"^\((?P<name>[A-Za-z0-9_]+)\):\s*(?P<rest>.*)$")
_LEAVES = {name: getattr(nn, name) for name in dir(nn) if isinstance(getattr(nn, name), type)}
_LEAVES["ChannelSum"] = ChannelSum


def _leaf(text):
    name = text.split("(", 1)[0]
    if name not in _LEAVES:
        raise ValueError(f"unknown layer {name!r}")
    return eval(text, {"__builtins__": {}}, _LEAVES)  # noqa: S307 - our own model files


def from_text(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    pos = 0

    def container(kind):
        nonlocal pos
        children = {}
        while pos < len(lines) and lines[pos] != ")":
            m = _CHILD.match(lines[pos])
            if not m:
                raise ValueError(f"line {pos + 1}: expected '(name): Layer', got {lines[pos]!r}")
            pos += 1
            rest = m["rest"]
            if rest in ("Sequential(", "Residual("):
                children[m["name"]] = container(rest[:-1])
            else:
                children[m["name"]] = _leaf(rest)
        pos += 1  # the closing ')'
        if kind == "Residual":
            return Residual(children["body"], children["shortcut"])
        return nn.Sequential(*children.values())

    first = lines[pos]
    pos += 1
    if first in ("Sequential(", "Residual("):
        return container(first[:-1])
    return _leaf(first)
