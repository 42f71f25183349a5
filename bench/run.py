#!/usr/bin/python3
"""Runs convlab_bench and torch_bench.py side by side (alternating, several repetitions) and
reports medians and ratios (convlab / PyTorch, higher is better for throughput)."""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_ENV = dict(os.environ,
                 GLIBC_TUNABLES="glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296",
                 OPENBLAS_NUM_THREADS="1")


def training_flops_per_image(model):
    """Floating-point operations (a multiply-add counts 2) of one training image: forward, then
    backward (weight and bias gradients everywhere; input gradients except for the first layer
    with parameters, which no library computes). ChannelSum's additions are left out."""
    conv1_in = 1 if model == "sumfirst" else 3
    conv1 = 2 * conv1_in * 9 * 8 * 32 * 32     # Conv2d(c, 8, 3, padding=1) on 32 x 32
    conv2 = 2 * 8 * 9 * 16 * 32 * 32           # Conv2d(8, 16, 3, padding=1)
    fc1, fc2 = 2 * 4096 * 64, 2 * 64 * 10      # Linear(4096, 64), Linear(64, 10)
    forward = conv1 + conv2 + fc1 + fc2
    backward = conv1 + 2 * (conv2 + fc1 + fc2)  # conv1: weight gradient only
    return forward + backward


def add_gflops(rows, fma):
    """Achieved GFLOP/s of each training row and its share of the FMA probe's peak."""
    peak = {f["threads"]: f["gflops"] for f in fma if "gflops" in f}
    for r in rows:
        if not r["work"].startswith("train "):
            continue
        model, threads = r["work"].split()[1], int(r["work"].split(", ")[1].split()[0])
        if model not in ("standard", "sumfirst"):  # FLOPs counted for the notebook's two only
            continue
        flops = training_flops_per_image(model)
        for lib in ["convlab", "pytorch"]:
            g = r[lib] * flops / 1e9
            r[f"{lib}_gflops"] = g
            if threads in peak:
                r[f"{lib}_share_of_peak"] = g / peak[threads]
        if threads in peak:
            print(f"{r['work']:42s} GFLOP/s: convlab {r['convlab_gflops']:6.1f} "
                  f"({r['convlab_share_of_peak']:5.1%} of peak)  pytorch {r['pytorch_gflops']:6.1f} "
                  f"({r['pytorch_share_of_peak']:5.1%})")


def run(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])

def run_zoo(a, rows, raw, fma, save, side_by_side, torch_py):
    """bench/run.sh --zoo: each network of bench/zoo/zoo.json trained one epoch (and run for
    inference at batch 64 and 1) in convlab and in PyTorch alternately at 1 and 2 threads, medians
    of --reps; then each of its Conv2d and Linear layers alone. GFLOP/s count the multiply-adds of
    convolutions and linear layers (2 FLOPs each; training: forward, weight gradient and, past the
    first layer, input gradient); pooling, BatchNorm and activations are left out."""
    root = os.path.dirname(HERE)
    with open(os.path.join(HERE, "zoo", "zoo.json")) as f:
        zoo = json.load(f)
    only = set(a.only.split(",")) if a.only else None
    if only and only - {n["name"] for n in zoo}:
        sys.exit(f"bench --only: not in the zoo: {', '.join(sorted(only - {n['name'] for n in zoo}))}")
    fma.extend(run([a.bench, "fma", "--threads", str(t)]) for t in [1, 2])
    peak = {f["threads"]: f["gflops"] for f in fma if "gflops" in f}
    best_peak = {f["threads"]: f["gflops_best"] for f in fma if "gflops_best" in f}
    for f in fma:
        print(f"FMA probe, {f.get('threads')} thread(s): {f.get('gflops', 0):.1f} GFLOP/s (median of "
              f"5 rounds; fastest {f.get('gflops_best', 0):.1f})", flush=True)
    for net in zoo:
        name = net["name"]
        if only and name not in only:
            continue
        model = net["model"] if net["model"] in ("standard", "sumfirst") else os.path.join(root, net["model"])
        base = ["--model", model, "--input", net["input"]]
        # Multiply-adds per image of each layer, from convlab's layer walk (the same shapes as PyTorch's).
        macs = {l["name"]: l["macs_per_image"] for l in run([a.bench, "layers", "--threads", "1"] + base
                                                            + ["--batch", "1"])["layers"]}
        first = next(iter(macs), None)
        train_flops = sum(2 * m * (2 if n == first else 3) for n, m in macs.items())
        infer_flops = sum(2 * m for m in macs.values())
        for threads in [1, 2]:
            t = ["--threads", str(threads)]
            work = [("train", net["batch"], net["images"], train_flops)]
            work += [("infer", b, net["images"] if b > 1 else max(200, net["images"] // 10), infer_flops)
                     for b in (64, 1)]
            for mode, batch, images, flops in work:
                args = base + t + ["--batch", str(batch), "--images", str(images)]
                side_by_side(f"zoo {name} {mode} batch {batch}, {threads} thread(s)", [a.bench, mode] + args,
                             torch_py + [mode] + args, "images_per_second", one_core=threads == 1, zoo=name,
                             mode=mode, batch=batch, threads=threads)
                r = rows[-1]
                r["convlab_gflops"], r["pytorch_gflops"] = r["convlab"] * flops / 1e9, r["pytorch"] * flops / 1e9
                r["convlab_share_of_peak"] = r["convlab_gflops"] / peak[threads] if threads in peak else None
            # The layers alone, at the network's batch: forward + backward (one thread: both on
            # core 0, as side_by_side pins).
            pin = ["taskset", "-c", "0"] if threads == 1 else []
            lc = run(pin + [a.bench, "layers"] + base + t + ["--batch", str(net["batch"])])
            lt = run(pin + torch_py + ["layers"] + base + t + ["--batch", str(net["batch"])], TORCH_ENV)
            raw.extend([lc, lt])
            theirs = {l["name"]: l for l in lt["layers"]}
            for l in lc["layers"]:
                o = theirs.get(l["name"])
                if o is None:
                    continue
                flops = net["batch"] * 2 * l["macs_per_image"] * (2 if l["name"] == first else 3)
                g = flops / (l["forward_backward_ms"] * 1e6)
                # The fastest window against the fastest probe round: the layer's speed with the
                # host quiet, as a share of the peak with the host quiet.
                gb = flops / (l["forward_backward_best_window_ms"] * 1e6)
                shape = "x".join(str(v) for v in l["input"][1:])
                rows.append({"work": f"zoo {name} layer {l['name']} {l['type']} {shape}, {threads} thread(s)",
                             "zoo": name, "mode": "layer", "layer": l["name"], "type": l["type"],
                             "input": l["input"], "output": l["output"], "threads": threads,
                             "convlab": l["forward_backward_ms"], "pytorch": o["forward_backward_ms"],
                             "ratio": o["forward_backward_ms"] / l["forward_backward_ms"],
                             "convlab_forward_ms": l["forward_ms"], "pytorch_forward_ms": o["forward_ms"],
                             "convlab_gflops": g, "pytorch_gflops": flops / (o["forward_backward_ms"] * 1e6),
                             "convlab_share_of_peak": g / peak[threads] if threads in peak else None,
                             "convlab_best_window": l["forward_backward_best_window_ms"],
                             "pytorch_best_window": o["forward_backward_best_window_ms"],
                             "convlab_best_gflops": gb,
                             "convlab_best_share_of_peak":
                                 gb / best_peak[threads] if threads in best_peak else None,
                             "unit": "ms forward+backward (ratio = speed-up)"})
                print(f"  layer {l['name']:>4s} {l['type']:6s} {shape:>10s}: convlab {l['forward_backward_ms']:8.3f} ms "
                      f"pytorch {o['forward_backward_ms']:8.3f} ms  speed-up {rows[-1]['ratio']:5.2f}  "
                      f"{g:6.1f} GFLOP/s ({rows[-1]['convlab_share_of_peak'] or 0:.0%} of peak; fastest window "
                      f"{gb:6.1f}, {rows[-1]['convlab_best_share_of_peak'] or 0:.0%} of the fastest probe)",
                      flush=True)
            save()
    if not only:  # the whole zoo also measures the start-up bound
        run_startup(a, rows, raw, save)
    print_zoo_table(rows)
    save()


def run_startup(a, rows, raw, save):
    """The issue's start-up bound: `convlab train` for one epoch of 50,000 CIFAR-10 images (and a
    test pass over 10,000) at 2 threads, its wall time minus the epoch's own seconds (metrics.json:
    the training loop alone), i.e. start-up, loading the 184 MB of files, the test pass and saving
    the checkpoint and metrics. The files are the shipped subset's records repeated to the full
    set's size, in the official binary format (5 training files and a test file of 10,000
    records). Median of --reps + 2 runs: the first run after the files are written has been the
    slowest (0.65-0.82 s on 2026-12-05), as a process's first touch of fresh memory is on this
    virtual machine."""
    import tempfile
    cli = a.cli or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(a.bench))), "convlab")
    if not (os.path.isfile(cli) and os.access(cli, os.X_OK)):
        sys.exit(f"bench startup: {cli}: no convlab command there (build it, or give --cli)")
    src = os.path.join(os.path.dirname(HERE), "data", "cifar-10-batches-bin")
    record = 1 + 3 * 32 * 32

    def records(names):
        data = b""
        for n in names:
            with open(os.path.join(src, n), "rb") as f:
                data += f.read()
        return [data[i:i + record] for i in range(0, len(data), record)]

    train = records([f"data_batch_{i}.bin" for i in range(1, 6)])
    test = records(["test_batch.bin"])
    with tempfile.TemporaryDirectory(prefix="convlab_startup_") as tmp:
        data = os.path.join(tmp, "cifar-10-batches-bin")
        os.makedirs(data)
        shutil.copy(os.path.join(src, "batches.meta.txt"), data)
        for f in range(5):
            with open(os.path.join(data, f"data_batch_{f + 1}.bin"), "wb") as out:
                out.write(b"".join(train[(f * 10000 + i) % len(train)] for i in range(10000)))
        with open(os.path.join(data, "test_batch.bin"), "wb") as out:
            out.write(b"".join(test[i % len(test)] for i in range(10000)))
        beyond, walls = [], []
        for rep in range(a.reps + 2):
            out_dir = os.path.join(tmp, "run")
            t0 = time.perf_counter()
            done = subprocess.run([cli, "train", "--data", data, "--epochs", "1", "--threads", "2",
                                   "--out", out_dir, "--overwrite"], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"bench startup: {cli} train exited {done.returncode}: "
                         f"{done.stderr.strip() or done.stdout.strip()}")
            wall = time.perf_counter() - t0
            with open(os.path.join(out_dir, "metrics.json")) as f:
                epoch = json.load(f)["epochs"][0]["seconds"]
            walls.append(wall)
            beyond.append(wall - epoch)
            raw.append({"lib": "convlab", "mode": "startup", "wall_seconds": wall,
                        "epoch_seconds": epoch})
    m = statistics.median(beyond)
    rows.append({"work": "start-up, loading, test pass and saving beyond a 50,000-image epoch, 2 threads",
                 "mode": "startup", "convlab": m, "runs": beyond, "wall_seconds": walls,
                 "unit": "seconds"})
    print(f"Start-up, loading, test pass and saving beyond the epoch (50,000 images, 2 threads): "
          f"median {m:.3f} s over {len(beyond)} runs ({', '.join(f'{b:.3f}' for b in beyond)}); "
          f"the issue's bound is 0.4 s", flush=True)
    save()


def print_zoo_table(rows):
    """The zoo's summary as a Markdown table: convlab / PyTorch per network, mode and threads."""
    nets = list(dict.fromkeys(r["zoo"] for r in rows if r.get("mode") in ("train", "infer")))
    cols = [("train", 1), ("train", 2), ("infer", 1), ("infer", 2)]
    print("\n| network | train 1T | train 2T | infer b64 1T | infer b64 2T | infer b1 1T | infer b1 2T "
          "| train GFLOP/s 2T (share of peak) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in nets:
        def ratio(mode, threads, batch=None):
            for r in rows:
                if (r.get("zoo") == n and r.get("mode") == mode and r.get("threads") == threads
                        and (batch is None or r.get("batch") == batch)):
                    return r
            return None
        cells = []
        for mode, batch in [("train", None), ("infer", 64), ("infer", 1)]:
            for threads in (1, 2):
                r = ratio(mode, threads, batch)
                cells.append(f"{r['ratio']:.2f}" if r else "")
        r = ratio("train", 2)
        share = r.get("convlab_share_of_peak") if r else None
        cells.append(f"{r['convlab_gflops']:.1f} ({share:.0%})" if r and share is not None else "")
        print(f"| {n} | " + " | ".join(cells) + " |")
    # The layer criterion: Conv2d layers of 32 channels or more in and out at 70 % of the
    # FMA probe's peak, by the median of all calls and by the fastest window.
    wide = [r for r in rows if r.get("mode") == "layer" and r.get("type") == "Conv2d"
            and min(r["input"][1], r["output"][1]) >= 32 and r.get("convlab_share_of_peak") is not None]
    for threads in (1, 2):
        here = [r for r in wide if r["threads"] == threads]
        if not here:
            continue
        for key, what in [("convlab_share_of_peak", "median of all calls, median probe round"),
                          ("convlab_best_share_of_peak", "fastest window, fastest probe round")]:
            measured = [r for r in here if r.get(key) is not None]  # older runs lack the windows
            if not measured:
                continue
            under = [r for r in measured if r[key] < 0.70]
            listed = ", ".join(f"{r['zoo']} {r['layer']} {r[key]:.0%}" for r in under)
            print(f"Conv2d layers of 32+ channels under 70 % of peak, {threads} thread(s), {what}: "
                  f"{len(under)} of {len(measured)}" + (f" ({listed})" if listed else ""))
    for r in rows:
        if r.get("mode") == "startup":
            print(f"Start-up, loading, test pass and saving beyond a 50,000-image epoch: median "
                  f"{r['convlab']:.3f} s ({', '.join(f'{b:.3f}' for b in r['runs'])}); bound 0.4 s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", help="path of convlab_bench (required unless --from-json)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="10,000 training images instead of 50,000")
    p.add_argument("--from-json", help="print the GFLOP/s table of a saved run and add it to the file")
    p.add_argument("--mpi", action="store_true",
                   help="only the data-parallel comparison (saved to results/mpi.json): 1 process x "
                        "2 threads against mpirun -np 2 x 1 thread, and PyTorch DDP (gloo) alike")
    p.add_argument("--zoo", action="store_true",
                   help="only the zoo (bench/zoo/zoo.json, saved to results/zoo.json): every network "
                        "trained and run for inference in convlab and PyTorch, and its layers alone")
    p.add_argument("--only", help="with --zoo: comma-separated zoo names to run")
    p.add_argument("--parts", default="train,models,infer,micro,busy,startup",
                   help="comma-separated: train, models (the files in models/), infer, micro, busy, "
                        "startup (convlab train's time beyond a 50,000-image epoch)")
    p.add_argument("--cli", help="path of the convlab command (default: beside --bench's directory)")
    a = p.parse_args()
    if a.reps < 1:
        p.error(f"--reps must be at least 1; got {a.reps}")
    if a.from_json:
        try:
            with open(a.from_json) as f:
                saved = json.load(f)
            rows, fma = saved["rows"], saved["fma"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"run.py: error: {a.from_json}: not a saved bench run ({e})")
        add_gflops(rows, fma)
        if any(r.get("zoo") for r in rows):
            print_zoo_table(rows)
        with open(a.from_json + ".tmp", "w") as f:
            json.dump(saved, f, indent=1)
        os.replace(a.from_json + ".tmp", a.from_json)
        return
    if not a.bench:
        p.error("--bench is required")
    parts = {"mpi"} if a.mpi else {"zoo"} if a.zoo else set(a.parts.split(","))
    unknown = parts - {"mpi", "zoo", "train", "models", "infer", "micro", "busy", "startup"}
    if unknown:
        p.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; "
                "known: train, models, infer, micro, busy, startup")
    images = 10000 if a.quick else 50000
    torch_py = [sys.executable, os.path.join(HERE, "torch_bench.py")]
    rows, raw, fma = [], [], []
    path = os.path.join(HERE, "results", "mpi.json" if a.mpi else "zoo.json" if a.zoo
                        else "startup.json" if parts == {"startup"} else "latest.json")

    def save():  # after every row, so an interrupted run keeps what it measured
        result = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.processor() or platform.machine(),
                  "cpus": os.cpu_count(), "reps": a.reps, "training_images": images, "parts": sorted(parts),
                  "rows": rows, "fma": fma, "raw": raw}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(path + ".tmp", path)

    def side_by_side(name, conv_cmd, torch_cmd, key, one_core=False, **fields):
        c, t = [], []
        for rep in range(a.reps):  # alternate, so drifts in machine load hit both alike
            # One thread: both libraries pinned to the same core, core after core across the
            # repetitions. On this virtual machine one core ran 20 % slower than the other for
            # hours (strided, 1 thread: 10,600-11,000 images/s on core 0, 13,300-13,500 on core 1),
            # and an unpinned process lands on either, so a ratio measured unpinned could be off
            # by a fifth either way.
            pin = ["taskset", "-c", str(rep % (os.cpu_count() or 1))] if one_core else []
            rc = run(pin + conv_cmd)
            rt = run(pin + torch_cmd, TORCH_ENV)
            raw.extend([rc, rt])
            c.append(rc[key])
            t.append(rt[key])
        mc, mt = statistics.median(c), statistics.median(t)
        rows.append({"work": name, "convlab": mc, "pytorch": mt, "ratio": mc / mt, "unit": key, **fields})
        print(f"{name:42s} convlab {mc:10.1f}  pytorch {mt:10.1f}  ratio {mc / mt:5.2f}", flush=True)
        save()
        return rc, rt

    if "zoo" in parts:
        run_zoo(a, rows, raw, fma, save, side_by_side, torch_py)
        return
    if "startup" in parts:
        run_startup(a, rows, raw, save)

    for model in ["standard", "sumfirst"] if "train" in parts else []:
        for threads in [1, 2]:
            args = ["--model", model, "--threads", str(threads), "--images", str(images)]
            rc, rt = side_by_side(f"train {model} images/s, {threads} thread(s)", [a.bench, "train"] + args,
                                  torch_py + ["train"] + args, "images_per_second", one_core=threads == 1)
            rows[-1]["convlab_minor_faults_after_first_batch"] = rc["minor_faults_after_first_batch"]
            rows[-1]["pytorch_minor_faults_after_first_batch"] = rt["minor_faults_after_first_batch"]
            rows[-1]["convlab_peak_rss_mb"] = rc["peak_rss_mb"]
            rows[-1]["pytorch_peak_rss_mb"] = rt["peak_rss_mb"]
    # The networks users start from (models/*.txt), each read by PyTorch from the same file.
    root = os.path.dirname(HERE)
    for name in ["resnet20", "vgg_bn"] if "models" in parts else []:
        for threads in [1, 2]:
            args = ["--model", os.path.join(root, "models", name + ".txt"), "--threads", str(threads),
                    "--images", str(images // 10)]
            side_by_side(f"train {name} images/s, {threads} thread(s)", [a.bench, "train"] + args,
                         torch_py + ["train"] + args, "images_per_second", one_core=threads == 1)
    for threads in [1, 2] if "infer" in parts else []:
        args = ["--model", "standard", "--threads", str(threads), "--images", "10000"]
        side_by_side(f"infer standard images/s, {threads} thread(s)", [a.bench, "infer"] + args,
                     torch_py + ["infer"] + args, "images_per_second", one_core=threads == 1)

    # Microbenchmarks: convlab through Google Benchmark, PyTorch by median wall time.
    conv_ms = {}
    if "micro" in parts:
        micro = json.loads(subprocess.run([a.bench, "micro", "--benchmark_format=json"], check=True,
                                          capture_output=True, text=True).stdout)
        for b in micro["benchmarks"]:
            # "conv/conv_3_8_forward/1/real_time" (captured: the capture's name) or "linear/2/real_time"
            fields = b["name"].split("/")
            kernel = fields[1] if not fields[1].isdigit() else fields[0]
            threads = int(next(f for f in fields[1:] if f.isdigit()))
            conv_ms[(kernel, threads)] = b["real_time"]
    for threads in [1, 2] if "micro" in parts else []:
        tm = run(torch_py + ["micro", "--threads", str(threads)], TORCH_ENV)["ms"]
        for key, ms in tm.items():
            mine = conv_ms.get((key, threads))
            if mine is None:
                continue
            rows.append({"work": f"{key} ms, {threads} thread(s)", "convlab": mine, "pytorch": ms,
                         "ratio": ms / mine, "unit": "ms (ratio = speed-up)"})
            print(f"{key + ' ms, ' + str(threads) + ' thread(s)':42s} convlab {mine:10.3f}  pytorch {ms:10.3f}  "
                  f"speed-up {ms / mine:5.2f}", flush=True)
            save()

    # A second process busy on core 0 (a spin loop pinned there) while a 2-thread run trains:
    # the share of the quiet throughput each library keeps. Threads that spin-wait without bound
    # fight the busy process for core 0 and collapse.
    if "busy" in parts:
        args = ["--model", "standard", "--threads", "2", "--images", "10000"]
        for lib, cmd, env in [("convlab", [a.bench, "train"] + args, None),
                              ("pytorch", torch_py + ["train"] + args, TORCH_ENV)]:
            quiet, busy = [], []
            for _ in range(a.reps):
                quiet.append(run(cmd, env)["images_per_second"])
                spinner = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
                try:
                    time.sleep(0.5)
                    busy.append(run(cmd, env)["images_per_second"])
                finally:
                    spinner.kill()
                    spinner.wait()
            mq, mb = statistics.median(quiet), statistics.median(busy)
            rows.append({"work": f"busy core 0: {lib} 2-thread training keeps", "quiet": mq, "busy": mb,
                         "kept": mb / mq, "unit": "images_per_second"})
            print(f"busy core 0, {lib:8s} 2 threads: quiet {mq:10.1f}  busy {mb:10.1f}  kept {mb / mq:6.1%}",
                  flush=True)
            save()

    # Data-parallel: the same epoch on one process with two threads and on two processes with one
    # thread each (convlab: mpirun and train/data_parallel.h, chunks of 16; PyTorch: DDP on gloo).
    if "mpi" in parts:
        mpirun = shutil.which("mpirun")
        if not mpirun:
            sys.exit("bench --mpi: mpirun not found (scripts/deps.sh installs openmpi-bin)")
        mpi_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        base = ["--model", "standard", "--images", str(images)]
        configs = [
            ("1 process x 2 threads", None, [a.bench, "train", "--threads", "2"] + base,
             torch_py + ["train", "--threads", "2"] + base),
            ("1 process x 2 threads, chunks of 16", None,
             [a.bench, "train-dp", "--threads", "2", "--chunk", "16"] + base, None),
            ("2 processes x 1 thread", mpi_env,
             [mpirun, "-np", "2", a.bench, "train-dp", "--threads", "1", "--chunk", "16"] + base,
             torch_py + ["ddp", "--processes", "2", "--threads", "1"] + base),
        ]
        # Each core alone (one thread pinned there), measured in every repetition: on a virtual
        # machine one core can be much slower than the other for minutes. Two processes each own
        # half of every batch and wait for the slower; one process's threads share out the work.
        core_speed = {0: [], 1: []}

        def probe_cores():
            for core in core_speed:
                core_speed[core].append(run(["taskset", "-c", str(core), a.bench, "train", "--threads",
                                             "1", "--images", "10000"])["images_per_second"])
        # The configurations alternate within each repetition (as every other part of the bench
        # does), so a core that slows down for a minute hits the rows it runs beside alike, and
        # their order rotates, so that no configuration always runs first after the probes; the
        # headline is the median of each repetition's own ratio. The raw runs are saved after
        # every repetition, so an interrupted run keeps what it measured.
        c = {name: [] for name, *_ in configs}
        t = {name: [] for name, *_ in configs}
        exchange = {name: [] for name, *_ in configs}
        for rep in range(a.reps):
            probe_cores()
            for name, env, conv_cmd, torch_cmd in configs[rep % 3:] + configs[:rep % 3]:
                rc = run(conv_cmd, env)
                raw.append(rc)
                c[name].append(rc["images_per_second"])
                if "ms_per_step" in rc and "exchange" in rc["ms_per_step"]:
                    exchange[name].append(rc["ms_per_step"]["exchange"])
                if torch_cmd:
                    rt = run(torch_cmd, TORCH_ENV)
                    raw.append(rt)
                    t[name].append(rt["images_per_second"])
            save()
        got = {}
        for name, *_ in configs:
            row = {"work": f"train standard images/s, {name}", "convlab": statistics.median(c[name]),
                   "convlab_runs": c[name], "unit": "images_per_second"}
            if t[name]:
                row["pytorch"] = statistics.median(t[name])
                row["pytorch_runs"] = t[name]
                row["ratio"] = row["convlab"] / row["pytorch"]
            if exchange[name]:
                row["convlab_exchange_ms_per_step"] = statistics.median(exchange[name])
            got[name] = row
            rows.append(row)
            print(f"{row['work']:58s} convlab {row['convlab']:9.1f}"
                  + (f"  pytorch {row['pytorch']:9.1f}  ratio {row['ratio']:5.2f}" if t[name] else "")
                  + (f"  exchange {row['convlab_exchange_ms_per_step']:.3f} ms/step" if exchange[name] else ""),
                  flush=True)
        fast, slow = (statistics.median(core_speed[k]) for k in (0, 1))
        fast, slow = max(fast, slow), min(fast, slow)
        rows.append({"work": "one thread on each core alone", "core_images_per_second": core_speed,
                     "slow_over_fast": slow / fast, "unit": "images_per_second"})
        print(f"one thread alone: {fast:.0f} images/s on the faster core, {slow:.0f} on the slower "
              f"({slow / fast:.0%}); a static half each can reach at most "
              f"{2 * slow / (fast + slow):.0%} of what both cores give together", flush=True)
        one_name, two_name = "1 process x 2 threads", "2 processes x 1 thread"
        chunked_name = "1 process x 2 threads, chunks of 16"

        def paired(lib, num, den):
            return [x / y for x, y in zip(lib[num], lib[den], strict=True)]
        scaling = {"work": "2 processes x 1 thread / 1 process x 2 threads",
                   "convlab": statistics.median(paired(c, two_name, one_name)),
                   "convlab_runs": paired(c, two_name, one_name),
                   "convlab_ratio_of_medians": got[two_name]["convlab"] / got[one_name]["convlab"],
                   "convlab_vs_chunked": statistics.median(paired(c, two_name, chunked_name)),
                   "pytorch": statistics.median(paired(t, two_name, one_name)),
                   "pytorch_runs": paired(t, two_name, one_name),
                   "unit": "share of throughput (median of the repetitions' own ratios)"}
        rows.append(scaling)
        print("2 processes x 1 thread / 1 process x 2 threads, each repetition: convlab "
              + " ".join(f"{x:.1%}" for x in scaling["convlab_runs"]) + ", PyTorch DDP "
              + " ".join(f"{x:.1%}" for x in scaling["pytorch_runs"]), flush=True)
        print(f"2 processes x 1 thread keep (median): convlab {scaling['convlab']:.1%} of 1 x 2 threads "
              f"({scaling['convlab_vs_chunked']:.1%} of the same chunks on 1 x 2; ratio of medians "
              f"{scaling['convlab_ratio_of_medians']:.1%}), PyTorch DDP {scaling['pytorch']:.1%}", flush=True)
        save()
        print(f"saved {path}")
        return

    fma.extend(run([a.bench, "fma", "--threads", str(t)]) for t in [1, 2])
    for f in fma:
        print(f"FMA probe, {f.get('threads')} thread(s): {f.get('gflops', 0):.1f} GFLOP/s")
    add_gflops(rows, fma)
    save()
    print(f"saved {path}")


if __name__ == "__main__":
    main()
