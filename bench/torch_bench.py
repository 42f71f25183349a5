#!/usr/bin/python3
"""PyTorch's side of bench/run.sh: the same measurements as convlab_bench, one JSON line each.

Tuned as well as PyTorch 1.13 can be here (run.sh sets the environment): glibc malloc thresholds
fixed (GLIBC_TUNABLES), OPENBLAS_NUM_THREADS=1, torch.set_num_threads(T), the data set held as
one uint8 tensor and batched by index.
    torch_bench.py train --model standard --threads 2 [--images 50000] [--batch 64]
    torch_bench.py infer --model standard --threads 2 [--images 10000]
    torch_bench.py layers --model M --threads 2 [--input C,H,W] [--batch 64]   each Conv2d/Linear alone
    torch_bench.py micro --threads 2
    torch_bench.py ddp --processes 2 --threads 1 [--images 50000]   DistributedDataParallel, gloo
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from torch_models import from_text  # noqa: E402  (model files read as PyTorch modules)


class SumFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = standard(in_channels=1)

    def forward(self, x):
        return self.body(x.sum(dim=1, keepdim=True))


def standard(in_channels=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, kernel_size=3, stride=1, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, kernel_size=3, stride=1, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 16 * 16, 64), nn.ReLU(), nn.Linear(64, 10))


def build(name):
    """The notebook's two networks by name, anything else as a model file (PyTorch's printed text)."""
    if name == "standard":
        return standard()
    if name == "sumfirst":
        return SumFirst()
    with open(name) as f:
        return from_text(f.read())


def synthetic(n, shape=(3, 32, 32)):
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return images, labels


def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def step(model, opt, crit, images, labels, idx):
    """One optimizer step on the images idx; returns the loss."""
    x = images[idx].float().div_(255)
    opt.zero_grad()
    loss = crit(model(x), labels[idx])
    loss.backward()
    opt.step()
    return loss.item()


def train(a):
    torch.manual_seed(0)
    images, labels = synthetic(a.images, a.input)
    model = build(a.model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    order = torch.randperm(a.images)
    t0 = time.perf_counter()
    loss_sum, batches, after_first = 0.0, 0, 0
    for s in range(0, a.images, a.batch):
        loss_sum += step(model, opt, crit, images, labels, order[s:s + a.batch])
        batches += 1
        if batches == 1:
            after_first = faults()
    s = time.perf_counter() - t0
    return {"lib": "pytorch", "mode": "train", "model": a.model, "threads": a.threads, "images": a.images,
            "seconds": s, "images_per_second": a.images / s, "mean_loss": loss_sum / batches,
            "minor_faults_after_first_batch": faults() - after_first, "peak_rss_mb": peak_rss_mb()}


def ddp_worker(rank, a, port, results):
    """One process of a DistributedDataParallel run over gloo (PyTorch's CPU backend): each
    process takes its contiguous share of every batch of a.batch, DDP averages the gradients."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=a.processes)
    torch.manual_seed(0)
    images, labels = synthetic(a.images, a.input)
    model = DistributedDataParallel(build(a.model))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    order = torch.randperm(a.images)
    dist.barrier()
    t0 = time.perf_counter()
    loss_sum, batches = 0.0, 0
    for s in range(0, a.images, a.batch):
        loss_sum += step(model, opt, crit, images, labels,
                         order[s:s + a.batch].tensor_split(a.processes)[rank])
        batches += 1
    dist.barrier()
    s = time.perf_counter() - t0
    if rank == 0:
        results.put({"lib": "pytorch", "mode": "ddp", "model": a.model, "processes": a.processes,
                     "threads": a.threads, "images": a.images, "seconds": s,
                     "images_per_second": a.images / s, "mean_loss": loss_sum / batches})
    dist.destroy_process_group()


def ddp(a):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as sock:  # a free local port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=ddp_worker, args=(r, a, port, results)) for r in range(a.processes)]
    for p in procs:
        p.start()
    out = results.get()
    for p in procs:
        p.join()
    return out


def infer(a):
    torch.manual_seed(0)
    images, _ = synthetic(a.images, a.input)
    model = build(a.model)
    model.eval()
    t0 = time.perf_counter()
    checksum = 0.0
    with torch.no_grad():
        for s in range(0, a.images, a.batch):
            checksum += float(model(images[s:s + a.batch].float().div_(255))[0, 0])
    s = time.perf_counter() - t0
    return {"lib": "pytorch", "mode": "infer", "model": a.model, "threads": a.threads, "images": a.images,
            "seconds": s, "images_per_second": a.images / s, "checksum": checksum}


def timed(fn, reps=30, warmup=5):
    """Median ms of `reps` calls after `warmup`."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def times_s(fn, seconds, warmup=2):
    """Seconds of each call of fn: at least 5 and at least `seconds` of them, after `warmup`."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def layers(a):
    """Each Conv2d and Linear alone at the input shape it sees in the network (convlab_bench
    layers' twin, matched by dotted name): median ms of forward, and of forward + backward over all
    its calls and in its fastest of 3 windows of 0.15 s, each layer's windows a round apart."""
    g = torch.Generator().manual_seed(3)
    model = build(a.model)
    model.train()
    shapes, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: shapes.__setitem__(name, tuple(inp[0].shape))))
    with torch.no_grad():
        model(torch.randn(a.batch, *a.input, generator=g))
    for h in hooks:
        h.remove()
    mods = [(name, m) for name, m in model.named_modules() if name in shapes]
    forward, calls, windows = {}, {name: [] for name, _ in mods}, {name: [] for name, _ in mods}
    for rnd in range(3):
        for i, (name, m) in enumerate(mods):
            # The network's first layer computes no input gradient (nothing needs it), as in training.
            x = torch.randn(*shapes[name], generator=g, requires_grad=i > 0)
            with torch.no_grad():
                y = m(x)
                if rnd == 0:
                    forward[name] = statistics.median(times_s(lambda: m(x), 0.3)) * 1e3
            gy = torch.randn(*y.shape, generator=g)
            ms = [t * 1e3 for t in times_s(lambda: torch.autograd.backward(m(x), gy), 0.15)]
            calls[name] += ms
            windows[name].append(statistics.median(ms))
    out = []
    for name, m in mods:
        with torch.no_grad():
            y = m(torch.zeros(*shapes[name]))
        out.append({"name": name, "type": type(m).__name__, "input": list(shapes[name]),
                    "output": list(y.shape), "forward_ms": forward[name],
                    "forward_backward_ms": statistics.median(calls[name]),
                    "forward_backward_best_window_ms": min(windows[name])})
    return {"lib": "pytorch", "mode": "layers", "model": a.model, "threads": a.threads,
            "batch": a.batch, "layers": out}


def micro(a):
    g = torch.Generator().manual_seed(3)
    out = {}
    for cin, cout in [(3, 8), (8, 16)]:
        x = torch.randn(64, cin, 32, 32, generator=g, requires_grad=True)
        w = torch.randn(cout, cin, 3, 3, generator=g, requires_grad=True)
        b = torch.randn(cout, generator=g, requires_grad=True)
        gy = torch.randn(64, cout, 32, 32, generator=g)
        with torch.no_grad():
            out[f"conv_{cin}_{cout}_forward"] = timed(lambda: F.conv2d(x, w, b, padding=1))
        out[f"conv_{cin}_{cout}_forward_backward"] = timed(
            lambda: torch.autograd.backward(F.conv2d(x, w, b, padding=1), gy))
    x = torch.randn(64, 16, 32, 32, generator=g, requires_grad=True)
    gy = torch.randn(64, 16, 16, 16, generator=g)
    out["maxpool_2x2"] = timed(lambda: torch.autograd.backward(F.max_pool2d(x, 2, 2), gy))
    x = torch.randn(64, 4096, generator=g, requires_grad=True)
    w = torch.randn(64, 4096, generator=g, requires_grad=True)
    b = torch.randn(64, generator=g, requires_grad=True)
    gy = torch.randn(64, 64, generator=g)
    out["linear"] = timed(lambda: torch.autograd.backward(F.linear(x, w, b), gy))
    # One optimizer step over Linear(4096, 64)'s weights, state as after 1000 steps; "stopped": the
    # weights of a third of the units (rows 0-20) with a zero gradient and a subnormal momentum
    # buffer / exp_avg (convlab_bench's optimizer_step builds the same).
    n = 4096 * 64
    for name in ["sgd", "adam"]:
        for stopped in [False, True]:
            w = torch.randn(n, generator=g) * 0.05
            grad = torch.randn(n, generator=g) * 1e-3
            buf = torch.randn(n, generator=g) * 1e-3
            if stopped:
                k = torch.arange(0, 21 * 4096)
                grad[k] = 0.0
                buf[k] = torch.where(k % 2 == 1, -1e-40, 1e-40) * (1 + k % 7).float()
            p = torch.nn.Parameter(w)
            p.grad = grad
            if name == "sgd":
                opt = torch.optim.SGD([p], lr=0.01, momentum=0.9)
                opt.state[p] = {"momentum_buffer": buf}
            else:
                opt = torch.optim.Adam([p])
                opt.state[p] = {"step": torch.tensor(1000.0), "exp_avg": buf,
                                "exp_avg_sq": torch.full((n,), 1e-8)}
            out[f"{name}_{'stopped' if stopped else 'live'}"] = timed(opt.step)
    return {"lib": "pytorch", "mode": "micro", "threads": a.threads, "ms": out}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "infer", "layers", "micro", "ddp"])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--model", default="standard")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", type=int, default=50000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input", default="3,32,32", help="C,H,W of the synthetic images")
    a = p.parse_args()
    a.input = tuple(int(v) for v in a.input.split(","))
    torch.set_num_threads(a.threads)
    print(json.dumps({"train": train, "infer": infer, "layers": layers, "micro": micro,
                      "ddp": ddp}[a.mode](a)))


if __name__ == "__main__":
    sys.exit(main())
