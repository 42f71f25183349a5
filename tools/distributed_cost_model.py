#!/usr/bin/env python3
"""The cost model of docs/distributed.md: measures convlab's constants on this machine, then
predicts data-parallel throughput and efficiency at 8, 64 and 512 processes on 10 and 100 Gb/s
networks, for the notebook's network and ResNet-20, and the global batch each needs.

  tools/distributed_cost_model.py --bench build/release/bench/convlab_bench [--json OUT]

Measured here (one thread per process, as each process of a job would run):
  t_img   forward + backward + data of one training image (the step's time without the optimizer,
          per image), from convlab_bench train;
  t_opt   one optimizer step (Adam) over all P parameters, which every process does whole;
  t_add   one element-wise sum of two gradient vectors (P floats), which combining the tree costs
          per received subtree: from mpirun -np 2 convlab_bench train-dp ("combine").
Assumed (not measurable on one machine; typical published MPI figures): per-message latency
alpha and bandwidth beta, 25 us and 1.25 GB/s for 10 Gb/s Ethernet (TCP), 2 us and 12.5 GB/s
for 100 Gb/s InfiniBand/RoCE.

Per step, with b images per process, N processes, G = 4P bytes of gradient:
  T(N, b) = b t_img + t_opt + T_reduce(N)
  allgather (implemented): every process receives every other's subtree sum and finishes the tree:
      T_reduce = (N - 1)(alpha + G / beta) + (N - 1) t_add
  halving-doubling (the same tree, bandwidth-optimal; not implemented): partners are sibling
  subtrees, so each element is summed in the same tree order as on one process:
      T_reduce = 2 log2(N) alpha + 2 (N - 1)/N G / beta + t_add
  efficiency E = b t_img / T; throughput N b / T; the global batch for E >= 0.8 is N b with the
  smallest b such that b t_img >= 4 (t_opt + T_reduce).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

NETWORKS = {"10 Gb/s": (25e-6, 1.25e9), "100 Gb/s": (2e-6, 12.5e9)}
PROCESSES = [8, 64, 512]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"notebook (standard)": "standard",
          "ResNet-20": os.path.join(ROOT, "models", "resnet20.txt")}


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(bench, model, images, mpirun):
    r = run_json([bench, "train", "--model", model, "--threads", "1", "--images", str(images)])
    ms = r["ms_per_step"]
    batch = 64
    t_img = (ms["data"] + ms["zero_grad_forward_loss"] + ms["backward"]) / 1e3 / batch
    t_opt = ms["optimizer"] / 1e3
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    d = run_json([mpirun, "-np", "2", bench, "train-dp", "--model", model, "--threads", "1",
                  "--chunk", "32", "--images", str(images)], env)
    t_add = d["ms_per_step"]["combine"] / 1e3
    return {"parameters": r["parameters"], "t_img": t_img, "t_opt": t_opt, "t_add": t_add,
            "local_exchange_ms_per_step": d["ms_per_step"]["exchange"]}


def reduce_time(design, n, g, alpha, beta, t_add):
    if design == "allgather":
        return (n - 1) * (alpha + g / beta) + (n - 1) * t_add
    return 2 * math.log2(n) * alpha + 2 * (n - 1) / n * g / beta + t_add


def predict(c, n, b, design, network):
    alpha, beta = NETWORKS[network]
    g = 4 * c["parameters"]
    t_reduce = reduce_time(design, n, g, alpha, beta, c["t_add"])
    t = b * c["t_img"] + c["t_opt"] + t_reduce
    need_b = math.ceil(4 * (c["t_opt"] + t_reduce) / c["t_img"])
    return {"step_ms": t * 1e3, "reduce_ms": t_reduce * 1e3, "efficiency": b * c["t_img"] / t,
            "images_per_second": n * b / t, "global_batch_for_80": n * need_b}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--mpirun", default=shutil.which("mpirun"))
    ap.add_argument("--per-process-batch", type=int, default=64)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not a.mpirun:
        sys.exit("mpirun not found (scripts/deps.sh installs openmpi-bin)")
    result = {"assumed_networks": {k: {"alpha_s": v[0], "beta_bytes_per_s": v[1]}
                                   for k, v in NETWORKS.items()},
              "per_process_batch": a.per_process_batch, "models": {}}
    b = a.per_process_batch
    for name, model in MODELS.items():
        images = 10000 if model == "standard" else 1000
        c = measure(a.bench, model, images, a.mpirun)
        print(f"{name}: P = {c['parameters']:,} parameters ({4 * c['parameters'] / 1e6:.2f} MB of "
              f"gradient); t_img = {c['t_img'] * 1e6:.0f} us, t_opt = {c['t_opt'] * 1e3:.3f} ms, "
              f"t_add = {c['t_add'] * 1e3:.3f} ms; one process alone: "
              f"{b / (b * c['t_img'] + c['t_opt']):.0f} images/s")
        print(f"| processes | network | reduction | step ms | reduce ms | efficiency | images/s "
              f"| global batch for 80 % |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        rows = []
        for n in PROCESSES:
            for network in NETWORKS:
                for design in ["allgather", "halving-doubling"]:
                    p = predict(c, n, b, design, network)
                    rows.append(dict(p, processes=n, network=network, design=design))
                    print(f"| {n} | {network} | {design} | {p['step_ms']:.2f} | {p['reduce_ms']:.2f} "
                          f"| {p['efficiency']:.0%} | {p['images_per_second']:,.0f} "
                          f"| {p['global_batch_for_80']:,} |")
        result["models"][name] = {"constants": c, "predictions": rows}
        print()
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(a.json + ".tmp", a.json)
        print("saved", a.json)


if __name__ == "__main__":
    main()
