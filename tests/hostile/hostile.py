#!/usr/bin/env python3
"""convlab's hostile-input suite: the command line as a careless or hostile user drives it.

Every case runs the real binary and asserts its exit code (2 bad flag, 1 bad input, 0 success,
130/143 after SIGINT/SIGTERM), that no case hangs (the process group is killed at the time limit),
that nothing crashes (a signal death or exit 3 is reported as such), and that every failure is
exactly one stderr line starting 'convlab: error:', under 300 characters, with no raw control
characters and valid UTF-8. Crafted files are made at run time in a temporary directory.

  hostile.py --cli build/release/convlab --data data/cifar-10-batches-bin [-k NAME] [--list]
             [--timeout-scale 8] [--jobs 2] [--keep]
"""
import argparse
import concurrent.futures
import dataclasses
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import CIFAR_RECORD, Checkpoint  # noqa: E402

ROOT = os.geteuid() == 0
# Root reads files whatever their mode: a permission case may then succeed instead of failing.
DENIED = (0, 1) if ROOT else (1,)
MAX_LINE = 300

# A small model for CIFAR-10 (3x32x32 -> 10): checkpoints of it are a few tens of KB, so crafting
# and checksumming them in Python is quick.
SMALL_MODEL = ("Conv2d(3, 4, kernel_size=3, padding=1)\nReLU()\nMaxPool2d(4)\nFlatten()\n"
               "Linear(256, 10)\n")
MNIST_MODEL = "Conv2d(1, 4, 3, padding=1)\nReLU()\nMaxPool2d(2)\nFlatten()\nLinear(784, 10)\n"
PYTORCH_PRINTED = """Sequential(
  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=4, stride=4, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=256, out_features=10, bias=True)
)
"""
CONV_OVERFLOW = "Conv2d(3, 8, kernel_size=3, padding=(6291443, 733007402310))"


# ---- cases ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    name: str
    argv: list                     # after the binary; "{d}", "{tiny}", ... are expanded
    expect: tuple = (1,)           # allowed exit codes
    setup: Optional[Callable] = None   # setup(ctx): builds the case's files in ctx.d
    timeout: float = 10.0          # seconds, before --timeout-scale
    contains: tuple = ()           # substrings the error line must contain
    check: Optional[Callable] = None   # check(ctx, result) -> list of problems
    env: Optional[dict] = None     # extra environment variables
    interrupt: Optional[tuple] = None  # (signal, file or ready(ctx) to wait for, how many)
    prefix: Optional[str] = "convlab: error:"  # required start of the one stderr line
    stdout: Optional[str] = None   # where stdout goes (default: a log file)


@dataclasses.dataclass
class Ctx:
    """What a case's setup and check functions see: its directory and the shared fixtures."""
    d: str
    suite: "Suite"
    index: int
    state: dict = dataclasses.field(default_factory=dict)

    def path(self, rel):
        return os.path.join(self.d, rel)

    def run(self, argv, tag, limit=30.0):
        """Runs the binary again (for a post-check, e.g. loading the checkpoint a case left)."""
        return common.run([self.suite.cli] + [self.suite.expand(a, self) for a in argv], self.d,
                          os.path.join(self.suite.logs, "%d-%s" % (self.index, tag)),
                          limit * self.suite.scale)


CASES = []


def case(name, argv, expect=1, **kw):
    if isinstance(expect, int):
        expect = (expect,)
    assert not any(c.name == name for c in CASES), name
    CASES.append(Case(name, list(argv), tuple(expect), **kw))


TRAIN_FLAGS = {"--data": "{tiny}", "--epochs": "1", "--batch-size": "32", "--threads": "1",
               "--out": "{d}/out", "--model": "standard"}


def train(over=None, *extra):
    """`convlab train` on the tiny data, one epoch: `over` replaces flags (None drops one)."""
    flags = dict(TRAIN_FLAGS)
    flags.update(over or {})
    argv = ["train"]
    for k, v in flags.items():
        if v is not None:
            argv += [k, v]
    return argv + list(extra)


def inspect_model(rel="model.txt"):
    return ["inspect", "--model", "{d}/" + rel, "--data", "{tiny}"]


def evaluate(ck="{d}/ck.bin", data="{tiny}"):
    return ["evaluate", "--checkpoint", ck, "--data", data]


def resume(ck="{d}/ck.bin", epochs="2"):
    """`convlab train --resume`; epochs None: the checkpoint's own recipe decides."""
    return ["train", "--resume", ck, "--data", "{tiny}", "--out", "{d}/out", "--threads",
            "1"] + (["--epochs", epochs] if epochs else [])


# ---- setup helpers: each returns a function of ctx ----------------------------------------

def seq(*steps):
    def go(ctx):
        for s in steps:
            s(ctx)
    return go


def write(rel, content):
    def go(ctx):
        p = ctx.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
    return go


def model(content, rel="model.txt"):
    return write(rel, content)


def mkdir(rel):
    return lambda ctx: os.makedirs(ctx.path(rel), exist_ok=True)


def fifo(rel):
    def go(ctx):
        os.makedirs(os.path.dirname(ctx.path(rel)), exist_ok=True)
        os.mkfifo(ctx.path(rel))
    return go


def symlink(rel, target):
    def go(ctx):
        os.makedirs(os.path.dirname(ctx.path(rel)), exist_ok=True)
        os.symlink(target, ctx.path(rel))
    return go


def symlink_loop(rel):
    """rel -> rel.other -> rel: opening either fails with ELOOP."""
    def go(ctx):
        os.makedirs(os.path.dirname(ctx.path(rel)), exist_ok=True)
        os.symlink(ctx.path(rel) + ".other", ctx.path(rel))
        os.symlink(ctx.path(rel), ctx.path(rel) + ".other")
    return go


def chmod(rel, mode):
    return lambda ctx: os.chmod(ctx.path(rel), mode)


def unix_socket(rel):
    def go(ctx):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(ctx.path(rel))
        ctx.state["socket"] = s  # kept open (listening not needed): connect would be refused
    return go


def remove(rel):
    def go(ctx):
        p = ctx.path(rel)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)
    return go


def tiny_copy(rel="data"):
    """A private copy of the tiny CIFAR-10 directory, to damage one file of."""
    return lambda ctx: shutil.copytree(ctx.suite.tiny, ctx.path(rel))


def mnist_copy(rel="mnist"):
    return lambda ctx: shutil.copytree(ctx.suite.tiny_mnist, ctx.path(rel))


def mutate_file(rel, fn):
    """Replaces the file's bytes by fn(bytes)."""
    def go(ctx):
        with open(ctx.path(rel), "rb") as f:
            data = f.read()
        with open(ctx.path(rel), "wb") as f:
            f.write(fn(data))
    return go


def ckpt(fn, rel="ck.bin"):
    """A checkpoint made from the suite's valid one: fn(Checkpoint) edits it in place (the
    checksum is recomputed, so only the reader's other checks can refuse it) or returns bytes
    to write as they are."""
    def go(ctx):
        c = Checkpoint.parse(ctx.suite.base_ckpt_bytes)
        raw = fn(c)
        data = raw if isinstance(raw, bytes) else c.build()
        p = ctx.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return go


def header_edit(fn):
    """A checkpoint whose JSON header is fn(header) (edited in place or returned)."""
    def edit(c):
        h = c.header_json()
        out = fn(h)
        c.set_header(h if out is None else out)
    return ckpt(edit)


def recipe_edit(key, value):
    def fn(h):
        h["recipe"][key] = value
    return header_edit(fn)


def prior_run(rel="out"):
    """OUT holding the suite's earlier run (checkpoint.bin + metrics.json, epoch 1); its bytes
    are remembered so a check can prove they were not touched."""
    def go(ctx):
        out = ctx.path(rel)
        os.makedirs(out, exist_ok=True)
        for name in ("checkpoint.bin", "metrics.json"):
            shutil.copy(os.path.join(ctx.suite.base_run, name), os.path.join(out, name))
        snapshot(rel)(ctx)
    return go


def snapshot(rel="out"):
    def go(ctx):
        snap = {}
        for name in sorted(os.listdir(ctx.path(rel))):
            p = os.path.join(ctx.path(rel), name)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    snap[name] = f.read()
        ctx.state["snapshot"] = (rel, snap)
    return go


def stale_temps(rel="out", pid=None):
    """Temporary files as a writer killed mid-save leaves them, of a pid that is dead."""
    def go(ctx):
        p = pid if pid is not None else common.dead_pid()
        for name in ("checkpoint.bin", "metrics.json"):
            with open(os.path.join(ctx.path(rel), "%s.tmp.%d" % (name, p)), "wb") as f:
                f.write(b"half a file")
        ctx.state["stale_pid"] = p
    return go


# ---- post-checks: each returns a function (ctx, result) -> problems -------------------------

def checks(*fns):
    def go(ctx, res):
        problems = []
        for fn in fns:
            problems += fn(ctx, res)
        return problems
    return go


def run_ok(rel="out", epoch=None):
    """OUT's checkpoint and metrics.json exist, parse, and agree (with the epoch if given)."""
    return lambda ctx, res: common.run_dir_problems(ctx.path(rel), epoch)


def unchanged(ctx, res):
    rel, snap = ctx.state["snapshot"]
    problems = []
    for name, data in snap.items():
        try:
            with open(os.path.join(ctx.path(rel), name), "rb") as f:
                now = f.read()
        except OSError as e:
            problems.append("%s/%s vanished (%s)" % (rel, name, e.strerror))
            continue
        if now != data:
            problems.append("%s/%s was changed" % (rel, name))
    return problems


def no_temps(rel="out"):
    def go(ctx, res):
        out = ctx.path(rel)
        left = common.temp_leftovers(out)
        problems = ["temporary files left in %s: %s" % (rel, left)] if left else []
        orphans = common.orphan_hidden_dirs(out)
        if orphans:
            problems.append("hidden directories left in %s: %s" % (rel, orphans))
        return problems
    return go


def kept(rel):
    def go(ctx, res):
        return [] if os.path.lexists(ctx.path(rel)) else ["%s was removed" % rel]
    return go


def absent(rel):
    def go(ctx, res):
        return ["%s was created" % rel] if os.path.lexists(ctx.path(rel)) else []
    return go


def stdout_has_any(*words):
    def go(ctx, res):
        text = res.stdout.decode(errors="replace").lower()
        if any(w.lower() in text for w in words):
            return []
        return ["stdout mentions none of %s: %r" % (list(words), text[-200:])]
    return go


def stdout_json(ctx, res):
    try:
        json.loads(res.stdout)
        return []
    except ValueError as e:
        return ["stdout is not JSON: %s" % e]


def loads(rel="out/checkpoint.bin"):
    """The checkpoint a run left loads (evaluate exits 0)."""
    def go(ctx, res):
        r = ctx.run(evaluate("{d}/" + rel), "evaluate")
        if r.code != 0:
            return ["evaluate of %s: exit %s: %s" % (rel, r.code, r.stderr[:200])]
        return []
    return go


def claims_true(ctx, res):
    """If the line says '<path>/checkpoint.bin holds epoch N', that file must hold epoch N."""
    m = re.search(r"(\S*checkpoint\.bin) holds epoch (\d+)", res.stderr.decode(errors="replace"))
    if not m:
        return []
    path = m.group(1) if os.path.isabs(m.group(1)) else ctx.path(m.group(1))
    try:
        epoch = common.checkpoint_header(path)["epoch"]
    except (OSError, ValueError, KeyError) as e:
        return ["the line says %s holds epoch %s, but it cannot be read: %s"
                % (m.group(1), m.group(2), e)]
    if epoch != int(m.group(2)):
        return ["the line says %s holds epoch %s; it holds %s" % (m.group(1), m.group(2), epoch)]
    return []


def mentions_epoch(ctx, res):
    return [] if b"epoch" in res.stderr.lower() else ["the stop line does not name the epoch"]


# ---- the cases -----------------------------------------------------------------------------

def cli_cases():
    case("no-arguments", [], 2)
    case("unknown-subcommand", ["nosuch"], 2, contains=("nosuch", "train"))
    case("unknown-subcommand-escape", ["nosuch\x1b[31m"], 2, contains=("\\x1b",))
    case("unknown-subcommand-newline", ["no\nsuch"], 2)
    case("unknown-subcommand-invalid-utf8", [b"\xff\xfe\xc3\x28"], 2)
    case("unknown-subcommand-10000-chars", ["x" * 10000], 2)
    case("unknown-subcommand-empty", [""], 2)
    case("subcommand-wrong-case", ["TRAIN"], 2)
    case("unknown-global-flag", ["--frobnicate"], 2)
    case("version", ["--version"], 0)
    case("help", ["--help"], 0)
    case("train-help", ["train", "--help"], 0)
    case("demo-no-subcommand", ["demo"], 2)
    case("demo-unknown", ["demo", "nosuch"], 2)
    case("demo-unknown-flag", ["demo", "multichannel", "--frob"], 2)
    case("demo-out-empty", ["demo", "multichannel", "--out", ""], 2)
    case("download-no-subcommand", ["download"], 2)
    case("download-unknown", ["download", "nosuch"], 2)
    case("download-dest-empty", ["download", "cifar10", "--dest", ""], 2)

    # train: every flag value that must be refused before any work, exit 2.
    bad = [
        ("seed", "-1"), ("seed", "18446744073709551616"), ("seed", "1.5"), ("seed", "abc"),
        ("seed", ""), ("seed", "99999999999999999999999999"),
        ("epochs", "99999999999999999999"), ("epochs", "-1"), ("epochs", "abc"),
        ("epochs", "1.5"), ("epochs", ""), ("epochs", "1e3"),
        ("batch-size", "0"), ("batch-size", "1e3"), ("batch-size", "-5"),
        ("batch-size", "99999999999999999999"), ("batch-size", "abc"),
        ("lr", "nan"), ("lr", "NaN"), ("lr", "inf"), ("lr", "-inf"), ("lr", "-1"), ("lr", "0"),
        ("lr", "1e400"), ("lr", "1e-400"), ("lr", "abc"), ("lr", ""), ("lr", "1e-3junk"),
        ("momentum", "1"), ("momentum", "-0.1"), ("momentum", "nan"), ("momentum", "inf"),
        ("momentum", "2"),
        ("weight-decay", "nan"), ("weight-decay", "inf"), ("weight-decay", "-1"),
        ("weight-decay", "-inf"),
        ("threads", "0"), ("threads", "100000"), ("threads", "-1"), ("threads", "abc"),
        ("threads", "99999999999999999999"),
        ("optimizer", "rmsprop"), ("optimizer", ""),
        ("out", ""), ("data", ""), ("model", ""),
        ("chunk-size", "-1"), ("chunk-size", "abc"), ("chunk-size", "1.5"),
        ("chunk-size", "99999999999999999999"), ("chunk-size", "1000001"),
    ]
    for flag, value in bad:
        case("train-flag-%s-%s" % (flag, value or "empty"), train({"--" + flag: value}), 2,
             timeout=10, check=absent("out") if flag != "out" else None)
    case("train-momentum-sgd-1", train({"--optimizer": "sgd", "--momentum": "1"}), 2)
    case("train-resume-empty", train({"--resume": ""}), 2)
    # A run keeps its chunk size: the numbers depend on it.
    case("train-resume-chunk-size-change", resume() + ["--chunk-size", "4"], 1,
         setup=header_edit(lambda h: None), check=absent("out/checkpoint.bin"))
    case("train-unknown-flag", train({}, "--frobnicate"), 2)
    case("train-flag-without-value", train({}, "--epochs"), 2)
    case("train-extra-positional", train({}, "extra"), 2)
    case("train-unknown-flag-escape", train({}, "--\x1b[2Jx"), 2, contains=("\\x1b",))

    # A huge or extreme value that is valid in form: no crash, no hang, one line if refused.
    case("train-seed-max-u64", train({"--seed": "18446744073709551615"}), (0, 2))
    case("train-batch-size-1e8", train({"--batch-size": "100000000"}), (0, 1, 2), timeout=20)
    case("train-batch-size-2-31", train({"--batch-size": "2147483648"}), (0, 1, 2), timeout=20)

    case("evaluate-no-checkpoint", ["evaluate", "--data", "{tiny}"], 2)
    case("evaluate-checkpoint-empty", evaluate(""), 2)
    case("evaluate-data-empty", evaluate("{ckpt}", ""), 2)
    case("evaluate-batch-size-0", evaluate("{ckpt}") + ["--batch-size", "0"], 2)
    case("evaluate-batch-size-neg", evaluate("{ckpt}") + ["--batch-size", "-1"], 2)
    case("evaluate-batch-size-20-digits",
         evaluate("{ckpt}") + ["--batch-size", "99999999999999999999"], 2)
    case("evaluate-batch-size-1e12", evaluate("{ckpt}") + ["--batch-size", "1000000000000"],
         (0, 1, 2), timeout=20)

    case("inspect-model-empty", ["inspect", "--model", "", "--data", "{tiny}"], 2)
    case("inspect-checkpoint-empty", ["inspect", "--checkpoint", "", "--data", "{tiny}"], 2)
    case("inspect-data-empty", ["inspect", "--data", ""], 2)
    case("inspect-out-empty", ["inspect", "--data", "{tiny}", "--out", ""], 2)
    case("inspect-seed-neg", ["inspect", "--data", "{tiny}", "--seed", "-1"], 2)
    case("inspect-image-20-digits",
         ["inspect", "--data", "{tiny}", "--image", "99999999999999999999"], 2)
    case("inspect-image-neg", ["inspect", "--data", "{tiny}", "--image", "-1"], (1, 2))
    case("inspect-image-past-end", ["inspect", "--data", "{tiny}", "--image", "100000"], 1)

    dec = ["decompose", "--checkpoint", "{ckpt}", "--data", "{tiny}"]
    case("decompose-layer-neg", dec + ["--layer", "-1"], (1, 2))
    case("decompose-layer-20-digits", dec + ["--layer", "99999999999999999999"], 1)
    case("decompose-layer-empty", dec + ["--layer", ""], 1)
    case("decompose-layer-dotted-missing", dec + ["--layer", "0.body.1"], 1)
    case("decompose-layer-dots-only", dec + ["--layer", "..."], 1)
    case("decompose-layer-control-chars", dec + ["--layer", "3\n\x1b[2J"], 1)
    case("decompose-layer-not-conv", dec + ["--layer", "1"], 1)
    case("decompose-layer-past-end", dec + ["--layer", "999"], 1)
    case("decompose-filter-past-end", dec + ["--filter", "4"], 1)
    case("decompose-filter-neg", dec + ["--filter", "-1"], (1, 2))
    case("decompose-image-past-end", dec + ["--image", "100000"], 1)
    case("decompose-checkpoint-empty", ["decompose", "--checkpoint", "", "--data", "{tiny}"], 2)
    case("decompose-model-empty", ["decompose", "--model", "", "--data", "{tiny}"], 2)

    cmp = ["compare", "--data", "{tiny}", "--epochs", "1", "--batch-size", "32", "--out",
           "{d}/out", "--threads", "1"]
    case("compare-seeds-0", cmp + ["--seeds", "0"], 2)
    case("compare-seeds-neg", cmp + ["--seeds", "-1"], 2)
    case("compare-seeds-20-digits", cmp + ["--seeds", "99999999999999999999"], 2)
    case("compare-seed-wraps", cmp + ["--seed", "18446744073709551615", "--seeds", "2"], (1, 2))
    case("compare-epochs-neg", cmp + ["--epochs", "-1"], 2)
    case("compare-lr-nan", cmp + ["--lr", "nan"], 2)
    case("compare-threads-0", cmp + ["--threads", "0"], 2)
    case("compare-out-empty", cmp + ["--out", ""], 2)
    case("compare-data-empty", cmp + ["--data", ""], 2)

    case("isa-bogus", ["inspect", "--data", "{tiny}"], (1, 2), env={"CONVLAB_ISA": "bogus"})
    case("isa-escape", ["inspect", "--data", "{tiny}"], (1, 2),
         env={"CONVLAB_ISA": "\x1b[2J\x1b[31m"}, contains=("\\x1b",))
    # The memory limit override: a bad value is one line; 2^34 G overflows a byte count.
    for name, value in (("garbage", "garbage"), ("zero", "0"), ("neg", "-1"),
                        ("24-digits", "9" * 24), ("overflow-2-64", "17179869184G"),
                        ("escape", "\x1b[31m")):
        case("memory-limit-" + name, ["inspect", "--data", "{tiny}"], (1, 2),
             env={"CONVLAB_MEMORY_LIMIT": value},
             contains=("\\x1b",) if name == "escape" else ())
    case("memory-limit-1M-train", train(), 1, env={"CONVLAB_MEMORY_LIMIT": "1M"})
    case("isa-5000-chars", ["inspect", "--data", "{tiny}"], (1, 2), env={"CONVLAB_ISA": "a" * 5000})


def positive_cases():
    """What must work: a broken happy path would hide every other result."""
    case("ok-train-standard", train(), 0, timeout=20, check=run_ok("out", 1))
    case("ok-train-sumfirst", train({"--model": "sumfirst"}), 0, timeout=20,
         check=run_ok("out", 1))
    case("ok-train-model-file", train({"--model": "{d}/model.txt"}), 0, setup=model(SMALL_MODEL),
         timeout=20, check=run_ok("out", 1))
    case("ok-train-sgd", train({"--optimizer": "sgd", "--momentum": "0.9",
                                "--weight-decay": "1e-4", "--threads": "2"}), 0, timeout=20,
         check=run_ok("out", 1))
    case("ok-train-mnist", train({"--data": "{mnist}", "--model": "{d}/model.txt"}), 0,
         setup=model(MNIST_MODEL), timeout=20, check=run_ok("out", 1))
    case("ok-evaluate", evaluate("{ckpt}"), 0)
    case("ok-evaluate-json", evaluate("{ckpt}") + ["--json"], 0, check=stdout_json)
    case("ok-inspect-standard", ["inspect", "--data", "{tiny}"], 0)
    case("ok-inspect-json", ["inspect", "--data", "{tiny}", "--json"], 0, check=stdout_json)
    case("ok-inspect-checkpoint", ["inspect", "--checkpoint", "{ckpt}", "--data", "{tiny}"], 0)
    case("ok-decompose", ["decompose", "--checkpoint", "{ckpt}", "--data", "{tiny}", "--layer",
                          "0", "--filter", "3"], 0)
    case("ok-demo", ["demo", "multichannel"], 0)
    case("ok-compare", ["compare", "--data", "{tiny}", "--epochs", "1", "--batch-size", "32",
                        "--out", "{d}/out", "--threads", "2"], 0, timeout=30)
    case("ok-model-bom", inspect_model(), 0, setup=model(b"\xef\xbb\xbf" + SMALL_MODEL.encode()))
    case("ok-model-crlf", inspect_model(), 0, setup=model(SMALL_MODEL.replace("\n", "\r\n")))
    case("ok-model-pytorch-print", inspect_model(), 0, setup=model(PYTORCH_PRINTED))
    case("ok-model-tabs-comments", inspect_model(), 0,
         setup=model("# my net\n\tConv2d(3, 4, 3, padding=1)  # first\n\tReLU()\n"
                     "\tMaxPool2d(4)\n\tFlatten()\n\tLinear(256, 10)"))
    case("ok-model-constructor-list", inspect_model(), 0,
         setup=model("nn.Sequential(\n  nn.Conv2d(3, 4, kernel_size=3, padding=1),\n"
                     "  nn.ReLU(),\n  nn.MaxPool2d(4),\n  nn.Flatten(),\n"
                     "  nn.Linear(256, 10),\n)\n"))


# Model files that must be refused: (name, content, substrings of the error line).
BAD_MODELS = [
    ("conv-overflow", "# the output size overflows int64\n" + CONV_OVERFLOW +
     "\nFlatten()\nLinear(8, 10)\n", ("model.txt:2",)),
    ("conv-overflow-square-padding", "Conv2d(3, 8, 1, padding=999999999999)\nFlatten()\n"
     "Linear(8, 10)\n", ("model.txt:1",)),
    ("conv-overflow-params", "Conv2d(999999999999, 999999999999, kernel_size=(999999, 999999))\n",
     ("model.txt:1",)),
    ("linear-2e9", "Conv2d(3, 16, 3, padding=1)\nMaxPool2d(2)\nFlatten()\n"
     "Linear(4096, 2000000000)\nReLU()\nLinear(2000000000, 10)\n", ()),
    ("conv-padding-100000", "Conv2d(3, 8, 3, padding=100000)\nReLU()\nMaxPool2d(2)\nFlatten()\n"
     "Linear(80024001800, 10)\n", ()),
    ("conv-padding-100000-alone", "Conv2d(3,8,3,padding=100000)\n", ()),
    # Few parameters, but 64 x 40030 x 40030 activations (410 GB) for one image.
    ("conv-activations-410gb", "Conv2d(3, 64, 3, padding=20000)\nMaxPool2d(4003)\nFlatten()\n"
     "Linear(6400, 10)\n", ()),
    ("conv-100000-channels", "Conv2d(3, 100000, 3, padding=1)\nConv2d(100000, 100000, 3)\n"
     "Flatten()\nLinear(90000000000, 10)\n", ()),
    # The layers of issue 10: mismatched shapes and options, named with the dotted path.
    ("batchnorm-wrong-features", "Conv2d(3, 8, 3, padding=1)\nBatchNorm2d(16)\nFlatten()\n"
     "Linear(8192, 10)\n", ("model.txt:2", "[N, 16, H, W]", "[1, 8, 32, 32]")),
    ("batchnorm1d-on-4d", "BatchNorm1d(3)\nFlatten()\nLinear(3072, 10)\n", ("model.txt:1",)),
    ("residual-shapes-disagree", "Sequential(\n  (0): Residual(\n    (body): Conv2d(3, 4, 3, "
     "padding=1)\n    (shortcut): Identity()\n  )\n  (1): Flatten()\n  (2): Linear(4096, 10)\n)\n",
     ("model.txt:2 layer 0", "[1, 4, 32, 32]", "[1, 3, 32, 32]")),
    ("residual-missing-shortcut", "Sequential(\n  (0): Residual(\n    (body): Identity()\n  )\n)\n",
     ("model.txt:4", "shortcut")),
    ("residual-wrong-child-name", "Sequential(\n  (0): Residual(\n    (main): Identity()\n"
     "    (shortcut): Identity()\n  )\n)\n", ("expected (body): here",)),
    ("residual-at-top", "Residual(\n  (body): Identity()\n  (shortcut): Identity()\n)\n",
     ("model.txt:1",)),
    ("adaptive-larger-than-input", "AdaptiveAvgPool2d(64)\nFlatten()\nLinear(12288, 10)\n",
     ("larger than the input",)),
    ("dropout-p-1", "Dropout(1.0)\nFlatten()\nLinear(3072, 10)\n", ("p must be at least 0",)),
    ("dropout-p-negative", "Dropout(p=-0.1)\nFlatten()\nLinear(3072, 10)\n", ("model.txt:1",)),
    ("dropout-p-nan", "Dropout(p=nan)\nFlatten()\nLinear(3072, 10)\n", ("model.txt:1",)),
    ("batchnorm-momentum-2", "BatchNorm2d(3, momentum=2.0)\nFlatten()\nLinear(3072, 10)\n",
     ("momentum",)),
    ("batchnorm-eps-0", "BatchNorm2d(3, eps=0)\nFlatten()\nLinear(3072, 10)\n", ("eps",)),
    ("avgpool-padding-over-half", "AvgPool2d(2, padding=2)\nFlatten()\nLinear(3072, 10)\n",
     ("model.txt:1",)),
    ("leakyrelu-word", "LeakyReLU(negative_slope=abc)\nFlatten()\nLinear(3072, 10)\n",
     ("must be a number",)),
    ("nested-never-closed", "Sequential(\n  (0): Sequential(\n    (0): ReLU()\n)\n",
     ("never closed",)),
    ("unknown-layer", "Conv2d(3, 4, 3)\nFrobnicate(0.5)\n",
     ("unknown layer 'Frobnicate'", "model.txt:2")),
    ("unknown-layer-keyword", "Frobnicate(p=0.5, inplace=True)\n", ("unknown layer 'Frobnicate'",)),
    ("unknown-layer-cyrillic", "\u0421onv2d(3, 4, 3)\n", ("model.txt:1",)),
    ("10mb-line", "Conv2d(" + "3, " * 3500000 + ")\n", ()),
    ("10mb-name", "A" * 10_000_000 + "()\n", ()),
    ("10mb-comment", "#" + "x" * 10_000_000 + "\n" + SMALL_MODEL, ()),
    ("300kb-line", "Conv2d(3, 8, 3" + " " * 300000 + "x\n", ("model.txt:1",)),
    ("5000-char-name", "B" * 5000 + "(3)\n", ("model.txt:1",)),
    ("escape-after-layer", "Conv2d(3, 8, 3)\x1b[31m\n", ("\\x1b",)),
    ("escape-osc", "\x1b]0;owned\x07ReLU()\n", ("\\x1b",)),
    ("empty", "", ("model.txt",)),
    ("only-comments", "# nothing\n# here\n", ("model.txt",)),
    ("only-blank", "\n \n\t\n   \n", ("model.txt",)),
    ("missing-paren", "Conv2d(3, 8, 3\n", ("model.txt:1",)),
    ("sequential-not-closed", "Sequential(\n  (0): ReLU()\n", ("model.txt",)),
    ("close-without-open", "ReLU()\n)\n", ("model.txt:2",)),
    ("text-after-close", "Sequential(\n  (0): ReLU()\n)\nReLU()\n", ("model.txt:4",)),
    ("sequential-empty", "Sequential(\n)\n", ("model.txt",)),
    ("index-out-of-order", "Sequential(\n  (1): ReLU()\n)\n", ("model.txt:2",)),
    ("index-huge", "Sequential(\n  (99999999999999999999): ReLU()\n)\n", ("model.txt:2",)),
    ("linear-in-wrong", SMALL_MODEL.replace("Linear(256, 10)", "Linear(1000, 10)"), ()),
    ("not-10-classes", SMALL_MODEL.replace("Linear(256, 10)", "Linear(256, 7)"), ("10",)),
    ("output-4d", "Conv2d(3, 10, 3)\n", ()),
    ("conv-in-channels-neg", "Conv2d(-3, 8, 3)\n", ("model.txt:1",)),
    ("conv-out-channels-0", "Conv2d(3, 0, 3)\n", ("model.txt:1",)),
    ("conv-kernel-0", "Conv2d(3, 8, 0)\n", ("model.txt:1",)),
    ("conv-kernel-neg", "Conv2d(3, 8, (3, -3))\n", ("model.txt:1",)),
    ("conv-stride-0", "Conv2d(3, 8, 3, stride=0)\n", ("model.txt:1",)),
    ("conv-stride-neg", "Conv2d(3, 8, 3, stride=-1)\n", ("model.txt:1",)),
    ("conv-padding-neg", "Conv2d(3, 8, 3, padding=-1)\n", ("model.txt:1",)),
    ("conv-kernel-3d", "Conv2d(3, 8, kernel_size=(3, 3, 3))\n", ("model.txt:1",)),
    ("conv-kernel-empty-tuple", "Conv2d(3, 8, kernel_size=())\n", ("model.txt:1",)),
    ("conv-float-channels", "Conv2d(3.5, 8, 3)\n", ("model.txt:1",)),
    ("conv-unknown-keyword", "Conv2d(3, 8, 3, frob=1)\n", ("model.txt:1",)),
    ("conv-argument-twice", "Conv2d(3, 8, 3, kernel_size=3)\n", ("model.txt:1",)),
    ("conv-bias-maybe", "Conv2d(3, 8, 3, bias=Maybe)\n", ("model.txt:1",)),
    ("conv-dilation-2", "Conv2d(3, 8, 3, dilation=2)\n", ("model.txt:1",)),
    ("conv-groups-3", "Conv2d(3, 3, 3, groups=3)\n", ("model.txt:1",)),
    ("conv-padding-mode", "Conv2d(3, 8, 3, padding_mode='reflect')\n", ("model.txt:1",)),
    ("conv-too-many-args", "Conv2d(3, 8, 3, 1, 1, 1, 1, True, 1, 1)\n", ("model.txt:1",)),
    ("conv-kernel-bigger-than-input", "Conv2d(3, 8, 64)\nFlatten()\nLinear(8, 10)\n", ()),
    ("pool-bigger-than-input", "MaxPool2d(64)\nFlatten()\nLinear(3, 10)\n", ()),
    ("pool-0", "MaxPool2d(0)\n", ("model.txt:1",)),
    ("pool-stride-0", "MaxPool2d(2, stride=0)\n", ("model.txt:1",)),
    ("pool-padding-over-half", "MaxPool2d(2, padding=5)\n", ("model.txt:1",)),
    ("linear-out-neg", "Flatten()\nLinear(3072, -10)\n", ("model.txt:2",)),
    ("linear-in-0", "Flatten()\nLinear(0, 10)\n", ("model.txt:2",)),
    ("number-over-int64", "Conv2d(99999999999999999999999, 8, 3)\n", ("model.txt:1",)),
    ("number-int64-max", "Flatten()\nLinear(9223372036854775807, 10)\n", ("model.txt:2",)),
    ("number-int64-min", "Flatten()\nLinear(-9223372036854775808, 10)\n", ("model.txt:2",)),
    ("flatten-start-0", "Flatten(start_dim=0)\n", ("model.txt:1",)),
    ("channelsum-dim-2", "ChannelSum(dim=2)\n", ("model.txt:1",)),
    ("nested-parens", "Conv2d(((((3)))), 8, 3)\n", ("model.txt:1",)),
    ("nested-sequential", "Sequential(Sequential(ReLU()))\n", ("model.txt:1",)),
    ("100000-open-parens", "(" * 100000 + ")" * 100000 + "\n", ("model.txt:1",)),
    ("extra-close-parens", "Conv2d(3, 8, 3))))\n", ("model.txt:1",)),
    ("call-twice", "ReLU()()\n", ("model.txt:1",)),
    ("trailing-garbage", "Conv2d(3, 8, 3) garbage\n", ("model.txt:1",)),
    ("nul-in-line", b"Conv2d(3, 8,\x00 3)\n", ("model.txt:1",)),
    ("nul-bytes", b"\x00" * 1000, ("model.txt",)),
    ("invalid-utf8", b"Conv2d(3, 8, 3) \xff\xfe\n", ("model.txt:1",)),
    ("invalid-utf8-name", b"Re\xc3\x28LU()\n", ("model.txt:1",)),
    ("binary-junk", bytes(range(256)) * 16, ("model.txt",)),
]

# The dangerous ones also go through train (and decompose): a different path builds the model.
THROUGH_TRAIN = {"conv-overflow", "conv-overflow-params", "linear-2e9", "conv-padding-100000",
                 "conv-activations-410gb",
                 "unknown-layer", "10mb-line", "escape-after-layer", "empty", "linear-in-wrong",
                 "conv-kernel-bigger-than-input", "not-10-classes", "100000-open-parens"}


def model_cases():
    for name, content, contains in BAD_MODELS:
        big = len(content) > 1_000_000
        case("model-" + name, inspect_model(), 1, setup=model(content), contains=contains,
             timeout=20 if big else 10)
        if name in THROUGH_TRAIN:
            case("train-model-" + name, train({"--model": "{d}/model.txt"}), 1,
                 setup=model(content), contains=contains, timeout=20 if big else 10,
                 check=absent("out/checkpoint.bin"))
    # The recipe flags of issue 10: a typo is a flag error (exit 2).
    for name, flag, value in [("augment-unknown", "--augment", "crop,rotate"),
                              ("schedule-garbage", "--schedule", "step:x:0.5"),
                              ("schedule-zero-step", "--schedule", "step:0:0.5"),
                              ("schedule-unknown", "--schedule", "linear"),
                              ("normalize-one-list", "--normalize", "0.5,0.5,0.5"),
                              ("normalize-nan", "--normalize", "nan,0.5,0.5/1,1,1"),
                              ("normalize-zero-std", "--normalize", "0.5,0.5,0.5/1,0,1"),
                              ("optimizer-unknown", "--optimizer", "adamx")]:
        case("train-" + name, train({flag: value}), 2, check=absent("out"))
    case("train-normalize-wrong-channels", train({"--normalize": "0.5/0.5"}), 1,
         contains=("3 channels",), check=absent("out"))
    case("decompose-model-conv-overflow", ["decompose", "--model", "{d}/model.txt", "--data",
                                           "{tiny}"], 1,
         setup=model(BAD_MODELS[0][1]), contains=("model.txt:2",))
    # 100,000 ReLUs after the classifier: a deep but legal model; no stack overflow, no hang.
    case("model-100000-layers", inspect_model(), (0, 1), timeout=30,
         setup=model(SMALL_MODEL + "ReLU()\n" * 100000))


def special_file_cases():
    """Paths that are not regular files, or not readable, wherever convlab reads one."""
    data_dir = "{d}/data"
    for kind, make in (("dir", mkdir), ("fifo", fifo), ("loop", symlink_loop),
                       ("devzero", lambda rel: symlink(rel, "/dev/zero"))):
        t = 10
        case("data-batch-%s" % kind, train({"--data": data_dir}), 1, timeout=t,
             setup=seq(tiny_copy(), remove("data/data_batch_1.bin"),
                       make("data/data_batch_1.bin")))
        case("data-test-batch-%s" % kind, evaluate("{ckpt}", data_dir), 1, timeout=t,
             setup=seq(tiny_copy(), remove("data/test_batch.bin"), make("data/test_batch.bin")))
        case("data-meta-%s" % kind, train({"--data": data_dir}), 1, timeout=t,
             setup=seq(tiny_copy(), remove("data/batches.meta.txt"),
                       make("data/batches.meta.txt")))
        case("model-is-%s" % kind, inspect_model("m"), 1, timeout=t, setup=make("m"))
        case("train-model-is-%s" % kind, train({"--model": "{d}/m"}), 1, timeout=t,
             setup=make("m"))
        case("checkpoint-is-%s" % kind, evaluate("{d}/m"), 1, timeout=t, setup=make("m"))
        case("resume-is-%s" % kind, resume("{d}/m"), 1, timeout=t, setup=make("m"))
        case("inspect-checkpoint-is-%s" % kind,
             ["inspect", "--checkpoint", "{d}/m", "--data", "{tiny}"], 1, timeout=t,
             setup=make("m"))
    case("data-batch-2-fifo", train({"--data": data_dir}), 1,
         setup=seq(tiny_copy(), fifo("data/data_batch_2.bin")))
    case("decompose-checkpoint-is-dir", ["decompose", "--checkpoint", "{d}", "--data", "{tiny}"], 1)
    case("data-is-fifo", train({"--data": "{d}/f"}), 1, setup=fifo("f"))
    case("data-is-loop", train({"--data": "{d}/l"}), 1, setup=symlink_loop("l"))
    case("data-is-devnull", train({"--data": "/dev/null"}), 1)
    case("data-is-file", train({"--data": "{d}/f"}), 1, setup=write("f", "x"),
         contains=("not a directory",))
    case("evaluate-data-is-file", evaluate("{ckpt}", "{d}/f"), 1, setup=write("f", "x"),
         contains=("not a directory",))
    case("data-missing", train({"--data": "{d}/nope"}), 1)
    case("data-unreadable-dir", train({"--data": data_dir}), DENIED, timeout=20,
         setup=seq(tiny_copy(), chmod("data", 0)))
    case("data-batch-unreadable", train({"--data": data_dir}), DENIED, timeout=20,
         setup=seq(tiny_copy(), chmod("data/data_batch_1.bin", 0)))
    case("data-batch-dangling-link", train({"--data": data_dir}), 1,
         setup=seq(tiny_copy(), remove("data/data_batch_1.bin"),
                   symlink("data/data_batch_1.bin", "/nonexistent/x")))
    case("model-devzero", ["inspect", "--model", "/dev/zero", "--data", "{tiny}"], 1)
    case("train-model-devzero", train({"--model": "/dev/zero"}), 1)
    case("checkpoint-devzero", evaluate("/dev/zero"), 1)
    case("resume-devzero", resume("/dev/zero"), 1)
    case("model-devnull", ["inspect", "--model", "/dev/null", "--data", "{tiny}"], 1)
    case("model-devurandom", ["inspect", "--model", "/dev/urandom", "--data", "{tiny}"], 1)
    case("model-proc-file", ["inspect", "--model", "/proc/self/status", "--data", "{tiny}"], 1)
    case("model-socket", inspect_model("s"), 1, setup=unix_socket("s"))
    case("model-dangling-link", inspect_model("m"), 1, setup=symlink("m", "/nonexistent/x"))
    case("model-missing", inspect_model("nope.txt"), 1)
    case("train-model-missing", train({"--model": "{d}/nope.txt"}), 1)
    case("model-unreadable", inspect_model(), DENIED, setup=seq(model(SMALL_MODEL),
                                                                chmod("model.txt", 0)))
    case("model-in-unsearchable-dir", inspect_model("dir/model.txt"), DENIED,
         setup=seq(model(SMALL_MODEL, "dir/model.txt"), chmod("dir", 0o600)))
    case("model-path-newline", ["inspect", "--model", "{d}/no\nsuch", "--data", "{tiny}"], 1)
    case("model-path-100k", ["inspect", "--model", "/" + "x" * 100000, "--data", "{tiny}"], 1)
    case("checkpoint-devnull", evaluate("/dev/null"), 1)
    case("checkpoint-missing", evaluate("{d}/nope.bin"), 1)
    case("checkpoint-unreadable", evaluate(), DENIED,
         setup=seq(ckpt(lambda c: None), chmod("ck.bin", 0)))
    case("checkpoint-path-escape", evaluate("{d}/a\x1b[31mb"), 1, contains=("\\x1b",))
    case("resume-missing", resume("{d}/nope.bin"), 1)
    case("data-path-newline", train({"--data": "{d}/x\ny"}), 1)

    # --out that cannot be a directory.
    case("out-is-file", train({"--out": "{d}/f"}), 1, setup=write("f", "x"), timeout=20)
    case("out-under-file", train({"--out": "{d}/f/sub"}), 1, setup=write("f", "x"), timeout=20)
    case("out-is-devnull", train({"--out": "/dev/null"}), 1, timeout=20)
    case("out-is-fifo", train({"--out": "{d}/f"}), 1, setup=fifo("f"), timeout=20)
    case("out-is-loop", train({"--out": "{d}/l"}), 1, setup=symlink_loop("l"), timeout=20)
    case("out-path-100k", train({"--out": "{d}/" + "x" * 100000}), 1, timeout=20)
    case("out-unwritable", train({"--out": "{d}/ro/out"}), DENIED, timeout=20,
         setup=seq(mkdir("ro"), chmod("ro", 0o555)))
    case("inspect-out-is-file", ["inspect", "--data", "{tiny}", "--out", "{d}/f"], 1,
         setup=write("f", "x"))
    case("decompose-out-is-file", ["decompose", "--checkpoint", "{ckpt}", "--data", "{tiny}",
                                   "--out", "{d}/f"], 1, setup=write("f", "x"))
    case("compare-out-is-file", ["compare", "--data", "{tiny}", "--epochs", "1", "--out",
                                 "{d}/f", "--threads", "1"], 1, setup=write("f", "x"), timeout=20)
    case("demo-out-is-file", ["demo", "multichannel", "--out", "{d}/f"], 1, setup=write("f", "x"))


def data_cases():
    d = {"--data": "{d}/data"}
    batch, test, meta = "data/data_batch_1.bin", "data/test_batch.bin", "data/batches.meta.txt"

    def label(value, record=5):
        return lambda b: b[:record * CIFAR_RECORD] + bytes([value]) + b[record * CIFAR_RECORD + 1:]

    cifar = [
        ("size-not-multiple", batch, lambda b: b + b"\0", ("data_batch_1.bin",)),
        ("label-10", batch, label(10), ("data_batch_1.bin",)),
        ("label-255", batch, label(255), ("data_batch_1.bin",)),
        ("empty", batch, lambda b: b"", ("data_batch_1.bin",)),
        ("truncated-record", batch, lambda b: b[:3072], ("data_batch_1.bin",)),
        ("truncated-middle", batch, lambda b: b[:len(b) // 2 + 17], ("data_batch_1.bin",)),
        ("meta-3-names", meta, lambda b: b"cat\ndog\nbird\n", ("batches.meta.txt",)),
        ("meta-5mb-line", meta, lambda b: b"x" * 5_000_000, ("batches.meta.txt",)),
    ]
    for name, rel, fn, contains in cifar:
        case("cifar-" + name, train(d), 1, setup=seq(tiny_copy(), mutate_file(rel, fn)),
             contains=contains, timeout=20)
    for name, fn in (("size-not-multiple", lambda b: b[:-1]), ("label-10", label(10, 3)),
                     ("empty", lambda b: b"")):
        case("cifar-test-" + name, evaluate("{ckpt}", "{d}/data"), 1,
             setup=seq(tiny_copy(), mutate_file(test, fn)), contains=("test_batch.bin",))
    case("cifar-batch-2-junk", train(d), 1,
         setup=seq(tiny_copy(), write("data/data_batch_2.bin", b"junk")),
         contains=("data_batch_2.bin",))
    case("cifar-no-train-files", train(d), 1, setup=seq(tiny_copy(), remove(batch)))
    case("cifar-no-test-file", train(d), 1, setup=seq(tiny_copy(), remove(test)))
    case("cifar-empty-dir", train(d), 1, setup=mkdir("data"))

    m = {"--data": "{d}/mnist", "--model": "{d}/model.txt"}
    images, labels = "mnist/train-images-idx3-ubyte", "mnist/train-labels-idx1-ubyte"

    def header(magic, *dims):
        hdr = common.idx_header(magic, dims)
        return lambda b: hdr + b[len(hdr):]

    mnist = [
        ("images-bad-magic", images, header(2049, 128, 28, 28)),
        ("labels-bad-magic", labels, header(2051, 128)),
        ("count-mismatch", labels, lambda b: common.idx_header(2049, (127,)) + b[8:-1]),
        ("images-2-31", images, header(2051, 1 << 31, 28, 28)),
        ("images-2-32-huge-dims", images, header(2051, 0xFFFFFFFF, 4096, 4096)),
        ("images-rows-0", images, header(2051, 128, 0, 28)),
        ("images-rows-5000", images, header(2051, 128, 5000, 28)),
        ("images-truncated", images, lambda b: b[:len(b) - 100]),
        ("images-10-bytes", images, lambda b: b[:10]),
        ("images-empty", images, lambda b: b""),
        ("labels-truncated", labels, lambda b: b[:-3]),
        ("label-10", labels, lambda b: b[:20] + b"\x0a" + b[21:]),
    ]
    for name, rel, fn in mnist:
        case("mnist-" + name, train(m), 1, setup=seq(mnist_copy(), model(MNIST_MODEL),
                                                     mutate_file(rel, fn)), timeout=20)
    case("mnist-no-test-files", train(m), 1,
         setup=seq(mnist_copy(), model(MNIST_MODEL), remove("mnist/t10k-images-idx3-ubyte"),
                   remove("mnist/t10k-labels-idx1-ubyte")))
    case("mnist-standard-model", train({"--data": "{d}/mnist"}), 1, setup=mnist_copy())


def checkpoint_cases():
    def trunc(n):
        return lambda c: c.build()[:n]

    def header_end(c):
        return 20 + len(c.header)

    def flip(at):
        def fn(c):
            b = bytearray(c.build())
            b[at(c, len(b))] ^= 0x5A
            return bytes(b)
        return fn

    raw = [
        ("empty", lambda c: b""),
        ("truncated-4", trunc(4)), ("truncated-8", trunc(8)), ("truncated-12", trunc(12)),
        ("truncated-19", trunc(19)),
        ("truncated-in-header", lambda c: c.build()[:20 + len(c.header) // 2]),
        ("truncated-after-header", lambda c: c.build()[:header_end(c) + 2]),
        ("truncated-in-data", lambda c: c.build()[:len(c.build()) // 2]),
        ("truncated-checksum", trunc(-8)), ("truncated-1", trunc(-1)),
        ("flip-version", flip(lambda c, n: 9)),
        ("flip-header", flip(lambda c, n: 20 + len(c.header) // 2)),
        ("flip-data", flip(lambda c, n: n - 100)),
        ("flip-checksum", flip(lambda c, n: n - 1)),
        ("zeros", lambda c: bytes(len(c.build()))),
    ]
    for name, fn in raw:
        case("ckpt-" + name, evaluate(), 1, setup=ckpt(fn))

    def field(attr, value):
        return lambda c: setattr(c, attr, value)

    def shape(dims, name="model.0.weight"):
        return lambda c: setattr(c.tensor(name), "dims", dims)

    def name_size_max(c):
        # The first tensor's name length field set to 2^32-1, checksum recomputed.
        body = bytearray(c.body())
        struct.pack_into("<I", body, 20 + len(c.header) + 4, 0xFFFFFFFF)
        return bytes(body) + struct.pack("<Q", common.fnv1a64(body))

    crafted = [
        ("bad-magic", field("magic", b"CONVLABX")),
        ("version-2", field("version", 2)), ("version-0", field("version", 0)),
        ("version-max", field("version", 0xFFFFFFFF)),
        ("header-size-2-63", field("header_size", 1 << 63)),
        ("header-size-max", field("header_size", (1 << 64) - 1)),
        ("header-size-short", lambda c: setattr(c, "header_size", len(c.header) - 10)),
        ("count-max", field("count", 0xFFFFFFFF)),
        ("count-plus-1", lambda c: setattr(c, "count", len(c.tensors) + 1)),
        ("name-size-max", name_size_max),
        ("shape-2-31-squared", shape([1 << 31, 1 << 31])),
        ("shape-2-31-x4", shape([1 << 31] * 4)),
        ("shape-2-62-x4", shape([1 << 62, 4])),
        ("shape-int64-max", shape([(1 << 63) - 1])),
        ("shape-negative", shape([-1, 8, 3, 3])),
        ("shape-rank-5", shape([1, 8, 3, 3, 3])),
        ("shape-rank-huge", shape([1] * 1000)),
        ("shape-permuted", shape([3, 4, 3, 3])),
        ("shape-zero", lambda c: setattr(c.tensor("model.0.weight"), "dims", [0])
         or setattr(c.tensor("model.0.weight"), "data", b"")),
        ("tensor-missing", lambda c: c.tensors.remove(c.tensor("model.0.weight"))),
        ("tensor-name-escape", lambda c: setattr(c.tensor("model.0.bias"), "dims", [1] * 7)
         or setattr(c.tensor("model.0.bias"), "name", b"\x1b]0;owned\x07")),
        ("trailing-bytes", field("trailing", b"\0" * 16)),
        ("header-not-json", field("header", b"{not json")),
        ("header-empty", field("header", b"")),
        ("header-array", field("header", b"[1, 2]")),
        ("header-string", field("header", b'"str"')),
        ("header-null", field("header", b"null")),
        ("header-number", field("header", b"42")),
        ("header-nested-100000", field("header", b"[" * 100000 + b"]" * 100000)),
        ("header-invalid-utf8", field("header", b'{"model_text": "\xff\xfe"}')),
    ]
    for name, fn in crafted:
        case("ckpt-" + name, evaluate(), 1, setup=ckpt(fn), timeout=20)
    # The [2^31, 2^31] shape must also be caught when a tensor name is the one a size check
    # reads last: put the huge shape on the final tensor.
    case("ckpt-shape-2-31-squared-last", evaluate(), 1,
         setup=ckpt(lambda c: setattr(c.tensors[-1], "dims", [1 << 31, 1 << 31])))

    def drop(key):
        def fn(h):
            del h[key]
        return fn

    headers = [
        ("no-model-text", drop("model_text"), ()),
        ("model-text-number", lambda h: h.update(model_text=42), ()),
        ("model-text-empty", lambda h: h.update(model_text=""), ()),
        # The stored tensors fit this text (only the padding differs from the model that wrote
        # them), so loading gets as far as computing the convolution's output size.
        ("model-text-conv-overflow", lambda h: h.update(model_text=SMALL_MODEL.replace(
            "padding=1", "padding=(6291443, 733007402310)")), ("Conv2d",)),
        ("model-text-2mb", lambda h: h.update(model_text="Conv2d(" + "3, " * 700000 + ")"), ()),
        ("model-text-escape", lambda h: h.update(model_text="ReLU() \x1b[2J\n"), ("\\x1b",)),
        ("model-text-other-model", lambda h: h.update(model_text="Flatten()\nLinear(3072, 10)\n"),
         ()),
        ("model-text-unknown-layer", lambda h: h.update(model_text="Frobnicate(1)\n"),
         ("unknown layer 'Frobnicate'",)),
    ]
    for name, fn, contains in headers:
        case("ckpt-" + name, evaluate(), 1, setup=header_edit(fn), contains=contains)
    for name in ("model-text-conv-overflow", "no-model-text"):
        fn = dict((n, f) for n, f, _ in headers)[name]
        case("inspect-ckpt-" + name, ["inspect", "--checkpoint", "{d}/ck.bin", "--data",
                                      "{tiny}"], 1, setup=header_edit(fn))
        case("decompose-ckpt-" + name, ["decompose", "--checkpoint", "{d}/ck.bin", "--data",
                                        "{tiny}"], 1, setup=header_edit(fn))
        case("resume-ckpt-" + name, resume(), 1, setup=header_edit(fn),
             check=absent("out/checkpoint.bin"))

    # What only a resumed run reads: the recipe, history, generator and optimizer state.
    resumes = [
        ("recipe-epochs-neg", recipe_edit("epochs", -5)),
        ("recipe-lr-string", recipe_edit("lr", "x")),
        ("recipe-lr-null", recipe_edit("lr", None)),
        ("recipe-lr-neg", recipe_edit("lr", -1.0)),
        ("recipe-batch-size-0", recipe_edit("batch_size", 0)),
        ("recipe-batch-size-float", recipe_edit("batch_size", 32.5)),
        ("recipe-chunk-size-neg", recipe_edit("chunk_size", -4)),
        ("recipe-chunk-size-string", recipe_edit("chunk_size", "16")),
        ("recipe-chunk-size-huge", recipe_edit("chunk_size", 1e12)),
        ("recipe-optimizer-rmsprop", recipe_edit("optimizer", "rmsprop")),
        ("recipe-momentum-5", recipe_edit("momentum", 5)),
        ("recipe-seed-neg", recipe_edit("seed", -1)),
        ("recipe-epochs-1e30", recipe_edit("epochs", 1e30)),
        ("recipe-missing", header_edit(drop("recipe"))),
        ("recipe-array", header_edit(lambda h: h.update(recipe=[1, 2]))),
        ("epoch-mismatch", header_edit(lambda h: h.update(epoch=7))),
        ("epoch-neg", header_edit(lambda h: h.update(epoch=-1))),
        ("history-string", header_edit(lambda h: h.update(history="x"))),
        ("history-entry-empty", header_edit(lambda h: h.update(history=[{}]))),
        ("generator-garbage", header_edit(lambda h: h.update(generator="garbage"))),
        ("generator-missing", header_edit(drop("generator"))),
        ("optimizer-state-shape", ckpt(shape([3, 4, 3, 3], "optimizer.0.exp_avg"))),
        ("optimizer-state-missing", ckpt(lambda c: c.tensors.remove(
            c.tensor("optimizer.0.exp_avg")))),
    ]
    # Without --epochs, so the stored recipe is the one used (and must be checked).
    for name, setup in resumes:
        case("resume-ckpt-" + name, resume(epochs=None), 1, setup=setup,
             check=absent("out/checkpoint.bin"))
    # NaN weights load, but the first step's loss is NaN: training stops with one line.
    case("resume-ckpt-nan-weights", resume(), 1, check=claims_true,
         setup=ckpt(lambda c: setattr(c.tensor("model.4.weight"), "data",
                                      struct.pack("<f", float("nan")) * 2560)))
    case("resume-ckpt-batch-size-2-40", resume(), (0, 1), timeout=20,
         setup=recipe_edit("batch_size", 1 << 40))
    case("evaluate-ckpt-nan-weights", evaluate(), (0, 1),
         setup=ckpt(lambda c: setattr(c.tensor("model.4.weight"), "data",
                                      struct.pack("<f", float("nan")) * 2560)))


def run_dir_cases():
    again = train({"--model": "{d}/model.txt"})
    case("rundir-existing-run", again, 1, setup=seq(model(SMALL_MODEL), prior_run()),
         contains=("--resume", "--overwrite"), check=unchanged, timeout=20)
    case("rundir-existing-metrics-only", again, 1,
         setup=seq(model(SMALL_MODEL), prior_run(), remove("out/checkpoint.bin"), snapshot()),
         contains=("--resume", "--overwrite"), check=unchanged, timeout=20)
    case("rundir-existing-checkpoint-only", again, 1,
         setup=seq(model(SMALL_MODEL), prior_run(), remove("out/metrics.json"), snapshot()),
         contains=("--resume", "--overwrite"), check=unchanged, timeout=20)
    case("rundir-metrics-is-dir", again, 1, setup=seq(model(SMALL_MODEL), mkdir("out/metrics.json")),
         timeout=20)
    case("rundir-overwrite", again + ["--overwrite"], 0, timeout=20,
         setup=seq(model(SMALL_MODEL), prior_run(), write("out/notes.txt", "mine")),
         check=checks(run_ok("out", 1), kept("out/notes.txt"), no_temps()))
    case("rundir-resume", resume("{d}/out/checkpoint.bin"), 0, timeout=20, setup=prior_run(),
         check=checks(run_ok("out", 2), no_temps()))
    case("rundir-resume-elsewhere", resume("{run}/checkpoint.bin"), 0, timeout=20,
         check=run_ok("out", 2))
    case("rundir-resume-stale-temps", resume("{d}/out/checkpoint.bin"), 0, timeout=20,
         setup=seq(prior_run(), stale_temps()), check=checks(run_ok("out", 2), no_temps()))
    case("rundir-overwrite-stale-temps", again + ["--overwrite"], 0, timeout=20,
         setup=seq(model(SMALL_MODEL), prior_run(), stale_temps()),
         check=checks(run_ok("out", 1), no_temps()))
    # A temporary file of a live process belongs to a run in progress: it must be left alone.
    case("rundir-live-temp-kept", resume("{d}/out/checkpoint.bin"), 0, timeout=20,
         setup=seq(prior_run(), stale_temps(pid=os.getpid())),
         check=checks(run_ok("out", 2), kept("out/metrics.json.tmp.%d" % os.getpid())))

    def symlinked_layout(ctx):
        # OUT/checkpoint.bin and OUT/metrics.json as symlinks into a hidden directory.
        prior_run()(ctx)
        out = ctx.path("out")
        os.makedirs(os.path.join(out, ".keep"))
        for name in ("checkpoint.bin", "metrics.json"):
            os.rename(os.path.join(out, name), os.path.join(out, ".keep", name))
            os.symlink(os.path.join(".keep", name), os.path.join(out, name))
    case("rundir-resume-symlinked", resume("{d}/out/checkpoint.bin"), 0, timeout=20,
         setup=symlinked_layout, check=run_ok("out", 2))
    case("rundir-epochs-0", train({"--epochs": "0"}), 0,
         check=checks(absent("out"), stdout_has_any("nothing", "no epoch", "0 epochs")))
    case("rundir-epochs-0-existing", train({"--model": "{d}/model.txt", "--epochs": "0"}), (0, 1),
         setup=seq(model(SMALL_MODEL), prior_run()), check=unchanged)
    case("rundir-resume-already-done", resume("{d}/out/checkpoint.bin", "1"), (0, 1),
         setup=prior_run(), check=run_ok("out", 1))
    case("rundir-failed-resume-keeps-run",
         ["train", "--resume", "{d}/out/checkpoint.bin", "--data", "{d}/data", "--out", "{d}/out",
          "--epochs", "2", "--threads", "1"], 1,
         setup=seq(prior_run(), tiny_copy(), mutate_file("data/data_batch_1.bin",
                                                         lambda b: b[:-1])),
         check=unchanged)


def background_train(seed):
    """Starts a second training run into OUT at the same moment as the case's own."""
    def go(ctx):
        argv = [ctx.suite.cli] + [ctx.suite.expand(a, ctx) for a in train(
            {"--epochs": "5", "--batch-size": "8", "--seed": seed})]
        ctx.state["other"] = common.start(argv, ctx.d, os.path.join(ctx.suite.logs,
                                                                    "%d-other" % ctx.index))
        ctx.state["other_t0"] = time.monotonic()
    return go


def one_winner(ctx, res):
    """Of two runs into one OUT, exactly one may succeed; the other says why in one line; OUT
    holds the winner's run."""
    other = common.finish(ctx.state["other"], os.path.join(ctx.suite.logs, "%d-other" % ctx.index),
                          60 * ctx.suite.scale, ctx.state["other_t0"])
    codes = (res.code, other.code)
    if other.timed_out or other.code < 0 or other.code == 3:
        return ["the other run: exit %s%s" % (other.code, " (hang)" if other.timed_out else "")]
    if sorted(codes) != [0, 1]:
        return ["two runs into one OUT exited %s and %s; exactly one must succeed (the other "
                "losing its results or the first's)" % codes]
    loser = other if other.code else res
    if loser.stderr.count(b"\n") != 1 or not loser.stderr.startswith(b"convlab: error:"):
        return ["the refused run's stderr is not one error line: %r" % loser.stderr[:300]]
    problems = common.run_dir_problems(ctx.path("out"), 5)
    seed = common.checkpoint_header(ctx.path("out/checkpoint.bin"))["recipe"]["seed"]
    winner_seed = 1 if res.code == 0 else 2
    if seed != winner_seed:
        problems.append("OUT holds the run with seed %s; the one that succeeded had seed %s"
                        % (seed, winner_seed))
    return problems


def epoch_reached(n):
    """A wait condition: OUT/checkpoint.bin holds epoch n or later."""
    def ready(ctx, proc):
        try:
            return common.checkpoint_header(ctx.path("out/checkpoint.bin"))["epoch"] >= n
        except (OSError, ValueError, KeyError):
            return False
    return ready


def concurrency_and_output_cases():
    # Two runs started together into one OUT: one may win; neither may silently lose results.
    case("rundir-two-runs-at-once", train({"--epochs": "5", "--batch-size": "8", "--seed": "1"}),
         (0, 1), setup=background_train("2"), check=one_winner, timeout=60)
    # Resuming run A into B's directory would replace B's run.
    case("rundir-resume-into-other-run", resume("{run}/checkpoint.bin"), 1, setup=prior_run(),
         contains=("--overwrite",), check=unchanged)
    # Output that cannot be written is an error, not a silent success.
    case("stdout-full-evaluate-json", evaluate("{ckpt}") + ["--json"], 1, stdout="/dev/full")
    case("stdout-full-inspect", ["inspect", "--data", "{tiny}"], 1, stdout="/dev/full")
    case("stdout-full-demo", ["demo", "multichannel"], 1, stdout="/dev/full")


def started(delay):
    """A wait condition: `delay` seconds (times --timeout-scale) after the process has installed
    its SIGINT handler (the SigCgt mask in /proc/PID/status: convlab does it first thing in main),
    i.e. early in main, while it is still loading its inputs. Before that moment a signal finds the
    default action, as for any program still being loaded by the dynamic linker."""
    def ready(ctx, proc):
        if "mapped" not in ctx.state:
            try:
                with open("/proc/%d/status" % proc.pid) as f:
                    caught = next((int(line.split()[1], 16) for line in f
                                   if line.startswith("SigCgt:")), 0)
            except (OSError, ValueError):
                return False
            if not caught & (1 << (signal.SIGINT - 1)):
                return False
            ctx.state["mapped"] = time.monotonic()
        return time.monotonic() - ctx.state["mapped"] >= delay * ctx.suite.scale
    return ready


def any_file(pattern):
    """A wait condition: a file matching the glob (under the case directory) exists."""
    return lambda ctx, proc: bool(glob.glob(ctx.path(pattern)))


def signal_cases():
    """Ctrl-C and SIGTERM during training: stop at a safe point, the last epoch saved."""
    argv = train({"--epochs": "50", "--model": "{d}/model.txt"})
    after = checks(mentions_epoch, claims_true, loads(), run_ok("out"), no_temps())
    case("sigint-training", argv, 130, setup=model(SMALL_MODEL), timeout=60, prefix=None,
         interrupt=(signal.SIGINT, "out/checkpoint.bin", 1), check=after)
    case("sigterm-training", argv, 143, setup=model(SMALL_MODEL), timeout=60, prefix=None,
         interrupt=(signal.SIGTERM, "out/checkpoint.bin", 1), check=after)
    case("sigint-twice", argv, 130, setup=model(SMALL_MODEL), timeout=60, prefix=None,
         interrupt=(signal.SIGINT, "out/checkpoint.bin", 2), check=checks(loads(), run_ok("out")))
    case("sigint-resumed", resume("{d}/out/checkpoint.bin", "50"), 130, setup=prior_run(),
         timeout=60, prefix=None, interrupt=(signal.SIGINT, epoch_reached(2), 1),
         check=checks(claims_true, loads(), run_ok("out"), no_temps()))
    # Ctrl-C before the first epoch (while the full shipped data set loads): nothing to save,
    # but still one line and exit 130, not a death by the signal.
    full = train({"--data": "{data}", "--epochs": "3"})
    case("sigint-while-loading", full, 130, timeout=60, prefix=None,
         interrupt=(signal.SIGINT, started(0.02), 1), check=absent("out/checkpoint.bin"))
    case("sigterm-while-loading", full, 143, timeout=60, prefix=None,
         interrupt=(signal.SIGTERM, started(0.02), 1), check=absent("out/checkpoint.bin"))
    case("sigint-while-resuming", ["train", "--resume", "{d}/out/checkpoint.bin", "--data",
                                   "{data}", "--out", "{d}/out", "--epochs", "3", "--threads",
                                   "1"], 130,
         setup=prior_run(), timeout=60, prefix=None,
         interrupt=(signal.SIGINT, started(0.02), 1), check=checks(unchanged, loads()))
    case("sigint-compare", ["compare", "--data", "{tiny}", "--epochs", "50", "--batch-size",
                            "32", "--out", "{d}/out", "--threads", "2"], 130, timeout=60,
         prefix=None, interrupt=(signal.SIGINT, any_file("out/*/*/checkpoint.bin"), 1))


def st_file(tensors, header_extra=None, raw_header=None, length=None, tail=b""):
    """A safetensors file; tensors: [(name, dtype, shape, raw bytes, offsets or None)]."""
    header, data = dict(header_extra or {}), b""
    for name, dtype, shape, raw, offsets in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": offsets or [len(data), len(data) + len(raw)]}
        data += raw
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data + tail


WEIGHTS_MODEL = ("Sequential(\n  (0): Conv2d(3, 2, kernel_size=(1, 1), stride=(1, 1))\n"
                 "  (1): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
                 "  (2): AdaptiveAvgPool2d(output_size=(1, 1))\n  (3): Flatten(start_dim=1, end_dim=-1)\n"
                 "  (4): Linear(in_features=2, out_features=10, bias=True)\n)\n")


def weights_state(skip=(), extra=(), dtype="F32", count_dtype="I64"):
    shapes = [("0.weight", [2, 3, 1, 1]), ("0.bias", [2]), ("1.weight", [2]), ("1.bias", [2]),
              ("1.running_mean", [2]), ("1.running_var", [2]), ("4.weight", [10, 2]), ("4.bias", [10])]
    size = {"F32": 4, "F16": 2, "I32": 4, "I64": 8}
    out = []
    for name, shape in [s for s in shapes if s[0] not in skip] + list(extra):
        n = 1
        for d in shape:
            n *= d
        out.append((name, dtype, shape, b"\x00" * (n * size[dtype]), None))
    if "1.num_batches_tracked" not in skip:
        out.append(("1.num_batches_tracked", count_dtype, [], b"\x00" * size[count_dtype], None))
    return out


def weights_cases():
    """Safetensors state_dicts through --weights (evaluate, inspect, train) and export."""
    def ev(rel="w.safetensors"):
        return ["evaluate", "--model", "{d}/model.txt", "--weights", "{d}/" + rel, "--data", "{tiny}"]

    def setup(content, rel="w.safetensors"):
        return seq(model(WEIGHTS_MODEL), write(rel, content))

    good = st_file(weights_state())
    case("weights-ok", ev(), 0, setup=setup(good), prefix=None,
         check=checks(stdout_has_any("accuracy")))
    case("weights-empty-file", ev(), 1, setup=setup(b""), contains=("fewer than the 8",))
    case("weights-garbage", ev(), 1, setup=setup(bytes(range(256)) * 4), contains=("safetensors",))
    case("weights-truncated", ev(), 1, setup=setup(good[:len(good) - 3]), contains=("data_offsets",))
    case("weights-header-past-file", ev(), 1, setup=setup(st_file(weights_state(), length=50_000)),
         contains=("longer than",))
    case("weights-header-over-100mb", ev(), 1, setup=setup(st_file(weights_state(), length=200_000_000)),
         contains=("100 MB",))
    case("weights-header-not-json", ev(), 1, setup=setup(st_file([], raw_header=b"{not json")),
         contains=("not valid JSON",))
    case("weights-overlap", ev(), 1, setup=setup(st_file(
        [("a", "F32", [2], b"\x00" * 8, None), ("b", "F32", [1], b"", [4, 8])])), contains=("overlap",))
    case("weights-hole", ev(), 1, setup=setup(st_file(
        [("a", "F32", [1], b"\x00" * 4, None), ("b", "F32", [1], b"\x00" * 8, [8, 12])])),
         contains=("hole",))
    case("weights-trailing-bytes", ev(), 1, setup=setup(st_file(weights_state(), tail=b"xx")),
         contains=("belong to none",))
    case("weights-absurd-shape", ev(), 1, setup=setup(st_file(
        [("a", "F32", [1 << 30, 1 << 30], b"", [0, 0])])), contains=("needs",))
    case("weights-ints-for-floats", ev(), 1, setup=setup(st_file(weights_state(dtype="I32"))),
         contains=("where floats belong",))
    case("weights-float-count", ev(), 1, setup=setup(st_file(weights_state(count_dtype="F32"))),
         contains=("num_batches_tracked", "integer"))
    case("weights-missing-key", ev(), 1, setup=setup(st_file(weights_state(skip=("4.bias",)))),
         contains=("missing key(s): 4.bias",))
    case("weights-unexpected-key", ev(), 1,
         setup=setup(st_file(weights_state(extra=(("5.weight", [3]),)))),
         contains=("unexpected key(s): 5.weight",))
    case("weights-shape-mismatch", ev(), 1, setup=setup(st_file(
        weights_state(skip=("4.weight",), extra=(("4.weight", [10, 3]),)))),
         contains=("size mismatch for 4.weight",))
    case("weights-f16-ok", ev(), 0, setup=setup(st_file(weights_state(dtype="F16"))), prefix=None)
    case("weights-pt-zip", ev("w.pt"), 1, setup=setup(b"PK\x03\x04" + b"\x00" * 60, "w.pt"),
         contains=("pickle", "safetensors"))
    case("weights-pickle-bytes", ev(), 1, setup=setup(b"\x80\x02}q\x00." + b"\x00" * 8),
         contains=("pickle",))
    case("weights-is-directory", ev("wd"), 1, setup=seq(model(WEIGHTS_MODEL), mkdir("wd")),
         contains=("not a regular file",))
    case("weights-with-checkpoint", ["inspect", "--checkpoint", "{d}/ck.bin", "--weights", "{d}/w.safetensors"],
         2, setup=setup(good), contains=("excludes",))
    case("weights-inspect", ["inspect", "--model", "{d}/model.txt", "--weights", "{d}/w.safetensors",
                             "--data", "{tiny}"], 0, setup=setup(good), prefix=None)
    case("weights-train-finetune", train({"--model": "{d}/model.txt"}, "--weights", "{d}/w.safetensors"),
         0, setup=setup(good), prefix=None, check=checks(run_ok()))
    case("weights-train-bad-weights", train({"--model": "{d}/model.txt"}, "--weights", "{d}/w.safetensors"),
         1, setup=setup(st_file(weights_state(skip=("0.weight",)))), contains=("missing key(s): 0.weight",),
         check=checks(absent("out")))
    exp = ["export", "--model", "{d}/model.txt", "--weights", "{d}/w.safetensors"]
    case("export-ok", exp + ["--to", "{d}/x.safetensors"], 0, setup=setup(good), prefix=None,
         check=checks(kept("x.safetensors")))
    case("export-refuses-overwrite", exp + ["--to", "{d}/w2.safetensors"], 1,
         setup=seq(setup(good), write("w2.safetensors", b"keep")), contains=("exists", "--overwrite"),
         check=checks(kept("w2.safetensors")))
    case("export-onto-itself", exp + ["--to", "{d}/w.safetensors", "--overwrite"], 1, setup=setup(good),
         contains=("is the model being exported",))
    case("export-wrong-suffix", exp + ["--to", "{d}/x.pt"], 2, setup=setup(good), contains=("safetensors",))
    case("export-no-to", ["export", "--model", "standard"], 2, contains=("--to",))


ONNX_FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "onnx")


def onnx_fixture(name):
    with open(os.path.join(ONNX_FIXTURES, name), "rb") as f:
        return f.read()


def onnx_cases():
    """ONNX models through --model: PyTorch's exports, and broken ones."""
    def ev(rel="m.onnx"):
        return ["evaluate", "--model", "{d}/" + rel, "--data", "{tiny}"]

    residual = onnx_fixture("residual.onnx")
    case("onnx-evaluate-ok", ev(), 0, setup=write("m.onnx", residual), prefix=None,
         check=checks(stdout_has_any("accuracy")))
    case("onnx-inspect-ok", ["inspect", "--model", "{d}/m.onnx", "--data", "{tiny}"], 0,
         setup=write("m.onnx", residual), prefix=None, check=checks(stdout_has_any("3.body.0")))
    case("onnx-train-finetune", train({"--model": "{d}/m.onnx"}), 0, setup=write("m.onnx", residual),
         prefix=None, check=checks(run_ok()))
    case("onnx-export-safetensors", ["export", "--model", "{d}/m.onnx", "--to", "{d}/w.safetensors"], 0,
         setup=write("m.onnx", residual), prefix=None, check=checks(kept("w.safetensors")))
    case("onnx-export-roundtrip", ["export", "--model", "{d}/m.onnx", "--to", "{d}/x.onnx"], 0,
         setup=write("m.onnx", residual), prefix=None, check=checks(kept("x.onnx")))
    case("onnx-export-onto-model", ["export", "--model", "{d}/m.onnx", "--to", "{d}/m.onnx", "--overwrite"], 1,
         setup=write("m.onnx", residual), contains=("is the model being exported",))
    case("onnx-export-inexpressible", ["export", "--model", "{d}/model.txt", "--to", "{d}/x.onnx"], 1,
         setup=model("Sequential(\n  (0): AdaptiveAvgPool2d(output_size=(2, 2))\n)\n"),
         contains=("cannot be exported to ONNX",), check=checks(absent("x.onnx")))
    case("onnx-garbage", ev(), 1, setup=write("m.onnx", bytes(range(256)) * 8), contains=("ONNX",))
    case("onnx-empty", ev(), 1, setup=write("m.onnx", b""), contains=("m.onnx",))
    case("onnx-truncated", ev(), 1, setup=write("m.onnx", residual[:len(residual) // 2]),
         contains=("m.onnx",))
    case("onnx-pickle-inside", ev(), 1, setup=write("m.onnx", b"PK\x03\x04" + b"\x00" * 200),
         contains=("pickle",))
    case("onnx-input-shape-misfit", ev(), 1, setup=write("m.onnx", onnx_fixture("view_flatten.onnx")),
         contains=("Linear",))
    case("model-pt-refused", ["inspect", "--model", "{d}/m.pt"], 1, setup=write("m.pt", b"PK\x03\x04"),
         contains=("pickle", "torch.onnx.export"))


def png_bytes(width, height, channels, fill=128):
    """A valid PNG, written with zlib (stdlib only)."""
    import zlib
    row = b"\x00" + bytes([fill]) * (width * channels)
    color = {1: 0, 2: 4, 3: 2, 4: 6}[channels]

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def predict_cases():
    """convlab predict on image files: good ones, and every way an image can be wrong."""
    def pr(*extra):
        return ["predict", "--checkpoint", "{ckpt}"] + list(extra)
    case("predict-ok", pr("{d}/a.png"), 0, setup=write("a.png", png_bytes(32, 32, 3)), prefix=None,
         check=checks(stdout_has_any("a.png:")))
    case("predict-rgba-ok", pr("{d}/a.png"), 0, setup=write("a.png", png_bytes(32, 32, 4)), prefix=None)
    case("predict-json", pr("{d}/a.png", "--json"), 0, setup=write("a.png", png_bytes(32, 32, 3)), prefix=None,
         check=checks(stdout_json))
    case("predict-data", pr("--data", "{tiny}"), 0, prefix=None, check=checks(stdout_has_any("label")))
    case("predict-wrong-size", pr("{d}/a.png"), 1, setup=write("a.png", png_bytes(40, 20, 3)),
         contains=("40x20", "--resize"))
    case("predict-resize", pr("{d}/a.png", "--resize"), 0, setup=write("a.png", png_bytes(40, 20, 3)), prefix=None)
    case("predict-gray", pr("{d}/a.png"), 1, setup=write("a.png", png_bytes(32, 32, 1)), contains=("1 channel",))
    case("predict-not-image", pr("{d}/a.png"), 1, setup=write("a.png", b"hello, world\n" * 10),
         contains=("not a PNG, JPEG or BMP",))
    case("predict-empty", pr("{d}/a.png"), 1, setup=write("a.png", b""), contains=("a.png",))
    case("predict-truncated", pr("{d}/a.png"), 1, setup=write("a.png", png_bytes(32, 32, 3)[:60]),
         contains=("a.png",))
    # A header that promises 60000 x 60000 pixels: refused before decoding.
    bomb = bytearray(png_bytes(32, 32, 3))
    bomb[16:24] = struct.pack(">II", 60000, 60000)
    case("predict-bomb", pr("{d}/a.png"), 1, setup=write("a.png", bytes(bomb)),
         env={"CONVLAB_MEMORY_LIMIT": "1G"}, contains=("a.png",))
    case("predict-missing", pr("{d}/nope.png"), 1, contains=("nope.png",))
    case("predict-directory", pr("{d}/dir"), 1, setup=mkdir("dir"), contains=("not a regular file",))
    case("predict-nothing", ["predict", "--checkpoint", "{ckpt}"], 2, contains=("image files or --data",))
    case("predict-bad-size-flag", pr("{d}/a.png", "--size", "32by32"), 2, setup=write("a.png", png_bytes(32, 32, 3)),
         contains=("WIDTHxHEIGHT",))
    case("predict-size-trailing-junk", pr("{d}/a.png", "--size", "32x32x3"), 2,
         setup=write("a.png", png_bytes(32, 32, 3)), contains=("WIDTHxHEIGHT",))


def all_cases():
    cli_cases()
    predict_cases()
    weights_cases()
    onnx_cases()
    positive_cases()
    model_cases()
    special_file_cases()
    data_cases()
    checkpoint_cases()
    run_dir_cases()
    concurrency_and_output_cases()
    signal_cases()
    return CASES


# ---- running -------------------------------------------------------------------------------

class Suite:
    """The binary, the shared fixtures (tiny data, one valid run), and where logs go."""

    def __init__(self, args, tmp):
        self.cli = os.path.abspath(args.cli)
        self.scale = args.timeout_scale
        self.tmp = tmp
        self.data = os.path.abspath(args.data)
        self.logs = os.path.join(tmp, "logs")
        os.makedirs(self.logs)
        self.tiny = common.make_tiny_cifar(self.data, os.path.join(tmp, "tiny"))
        mnist = os.path.join(os.path.dirname(self.data), "mnist")
        self.tiny_mnist = common.make_tiny_mnist(mnist, os.path.join(tmp, "tinymnist"))
        self.base_run = os.path.join(tmp, "run")
        self.base_ckpt = os.path.join(self.base_run, "checkpoint.bin")
        self.base_ckpt_bytes = None

    def make_base_run(self):
        """One real run (small model, 1 epoch): the valid checkpoint every mutation starts from."""
        with open(os.path.join(self.tmp, "small.txt"), "w") as f:
            f.write(SMALL_MODEL)
        r = common.run([self.cli, "train", "--model", os.path.join(self.tmp, "small.txt"),
                        "--data", self.tiny, "--epochs", "1", "--batch-size", "32",
                        "--threads", "1", "--seed", "1", "--out", self.base_run], self.tmp,
                       os.path.join(self.logs, "base-run"), 60 * self.scale)
        if r.code != 0 or not os.path.exists(self.base_ckpt):
            raise SystemExit("hostile: cannot make the base run: exit %s: %s"
                             % (r.code, r.stderr.decode(errors="replace")[:300]))
        with open(self.base_ckpt, "rb") as f:
            self.base_ckpt_bytes = f.read()

    def expand(self, arg, ctx):
        if isinstance(arg, bytes):
            return arg
        for key, value in (("{d}", ctx.d), ("{tiny}", self.tiny), ("{mnist}", self.tiny_mnist),
                           ("{ckpt}", self.base_ckpt), ("{run}", self.base_run),
                           ("{data}", self.data)):
            arg = arg.replace(key, value)
        return arg


def error_line_problems(c, res):
    """A failure must be exactly one stderr line: prefix, length, no raw control bytes."""
    err = res.stderr
    if not err.endswith(b"\n") or err.count(b"\n") != 1:
        return ["stderr is %d lines, not exactly one" % len(err.splitlines())]
    line = err[:-1]
    problems = []
    if c.prefix and not line.startswith(c.prefix.encode()):
        problems.append("stderr does not start with %r" % c.prefix)
    if len(line) > MAX_LINE:
        problems.append("error line is %d bytes (limit %d)" % (len(line), MAX_LINE))
    if any(b < 0x20 or b == 0x7F for b in line):
        problems.append("error line holds raw control characters")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("error line is not valid UTF-8")
        text = line.decode("utf-8", errors="replace")
    for s in c.contains:
        if s not in text:
            problems.append("error line lacks %r" % s)
    return problems


def interrupt_run(c, argv, ctx, log, limit):
    """Starts the run, waits for the file that says an epoch is saved, then signals it (as
    Ctrl-C does: to the whole process group)."""
    sig, wait_for, count = c.interrupt
    ready = wait_for if callable(wait_for) else lambda ctx, proc: os.path.exists(
        ctx.path(wait_for))
    t0 = time.monotonic()
    proc = common.start(argv, ctx.d, log, c.env and {**os.environ, **c.env})
    while time.monotonic() - t0 < limit and proc.poll() is None and not ready(ctx, proc):
        time.sleep(0.002)
    if proc.poll() is None:
        for i in range(count):
            if i:
                time.sleep(0.05)
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
    return common.finish(proc, log, limit, t0)


def run_case(suite, c, index):
    d = os.path.join(suite.tmp, "c", str(index))
    os.makedirs(d)
    ctx = Ctx(d, suite, index)
    try:
        if c.setup:
            c.setup(ctx)
    except Exception as e:  # noqa: BLE001 - a broken fixture is a failure of this case
        return None, ["setup failed: %r" % e]
    argv = [suite.cli] + [suite.expand(a, ctx) for a in c.argv]
    env = {**os.environ, **c.env} if c.env else None
    limit = c.timeout * suite.scale
    log = os.path.join(suite.logs, str(index))
    try:
        if c.interrupt:
            res = interrupt_run(c, argv, ctx, log, limit)
        else:
            res = common.run(argv, d, log, limit, env, c.stdout)
    except OSError as e:  # the binary is missing or not executable (e.g. mid-rebuild)
        return None, ["cannot run %s: %s" % (suite.cli, e)]
    try:
        return res, verify(c, res, ctx, limit)
    finally:
        stop_background(ctx)


def stop_background(ctx):
    """Kills any process a setup started that a check did not wait for."""
    for value in ctx.state.values():
        if isinstance(value, subprocess.Popen) and value.poll() is None:
            try:
                os.killpg(value.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            value.wait()


def verify(c, res, ctx, limit):
    if res.timed_out:
        return ["HANG: no exit within %.0f s (process group killed)" % limit]
    problems = []
    if res.code < 0:
        problems.append("CRASH: killed by %s" % common.signal_name(res.code))
    elif res.code == 3:
        problems.append("INTERNAL ERROR: exit 3")
    elif res.code not in c.expect:
        problems.append("exit %d, expected %s" % (res.code, "/".join(map(str, c.expect))))
    if res.code != 0:
        problems += error_line_problems(c, res)
    elif b"error" in res.stderr:
        problems.append("exit 0 but stderr reports an error")
    if not problems and c.check:
        try:
            problems += c.check(ctx, res)
        except Exception as e:  # noqa: BLE001
            problems.append("post-check failed: %r" % e)
    return problems


def show_argv(argv):
    text = " ".join(shlex.quote(a.decode(errors="backslashreplace") if isinstance(a, bytes)
                                else a) for a in argv)
    return text if len(text) <= 300 else text[:300] + "...(%d chars)" % len(text)


def report(c, res, problems):
    lines = ["FAIL %s: %s" % (c.name, "; ".join(problems)),
             "     argv: convlab %s" % show_argv(c.argv)]
    if res is not None:
        err = res.stderr.decode(errors="backslashreplace")
        lines.append("     exit %s%s, stderr: %r" % (
            res.code, " (%s)" % common.signal_name(res.code) if res.code < 0 else "",
            err[:300] + ("...(%d chars)" % len(err) if len(err) > 300 else "")))
    print("\n".join(lines), flush=True)


def remove_tree(path):
    """Removes the temporary tree, restoring the permissions cases took away."""
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            try:
                os.chmod(os.path.join(root, name), 0o700)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=False, help="the convlab binary")
    ap.add_argument("--data", required=False, help="the shipped CIFAR-10 directory")
    ap.add_argument("-k", dest="filter", default="", help="run cases whose name holds this")
    ap.add_argument("--timeout-scale", type=float, default=1.0,
                    help="multiply every time limit (sanitizer builds are 5-10x slower)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = ap.parse_args()

    cases = [c for c in all_cases() if args.filter in c.name]
    if args.list:
        for c in cases:
            print("%-45s exit %-6s convlab %s" % (c.name, "/".join(map(str, c.expect)),
                                                 show_argv(c.argv)))
        print("%d cases" % len(cases))
        return 0
    if not args.cli or not args.data:
        ap.error("--cli and --data are required")

    tmp = tempfile.mkdtemp(prefix="hostile-")
    t0 = time.monotonic()
    try:
        suite = Suite(args, tmp)
        suite.make_base_run()
        passed = failed = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [(c, pool.submit(run_case, suite, c, i)) for i, c in enumerate(cases)]
            for c, fut in futures:
                res, problems = fut.result()
                if problems:
                    failed += 1
                    report(c, res, problems)
                else:
                    passed += 1
                    if args.verbose:
                        print("ok   %s (%.2f s, exit %d) %s" % (
                            c.name, res.seconds, res.code,
                            res.stderr.decode(errors="backslashreplace").strip()[:200]),
                            flush=True)
    finally:
        if args.keep:
            print("kept %s" % tmp)
        else:
            remove_tree(tmp)
    print("(%.1f s)" % (time.monotonic() - t0))
    print("hostile: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
