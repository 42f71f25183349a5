#!/usr/bin/python3
"""How far direct convolution could go: for each network of a saved zoo run (bench/results/zoo.json
by default), PyTorch's layers alone (forward + backward, from the run's layer rows) against the
time their multiply-adds would take at the FMA probe's peak. The ratio bounds the speed-up any
kernel that performs every multiply-add can reach over PyTorch on those layers; a larger one needs
fewer multiplications (Winograd, FFT). Usage: bench/zoo_bound.py [zoo.json]"""
import json
import os
import sys

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          "results", "zoo.json")
try:
    with open(path) as f:
        run = json.load(f)
    peak = {f["threads"]: f["gflops"] for f in run["fma"] if "gflops" in f}
except (OSError, ValueError, KeyError) as e:
    sys.exit(f"zoo_bound.py: error: {path}: not a saved zoo run ({e})")
nets = {}
for r in run["rows"]:
    if r.get("mode") == "layer" and r["threads"] in peak:
        nets.setdefault((r["zoo"], r["threads"]), []).append(r)
print(f"{path} ({run.get('when')}): FMA peak {peak[1]:.0f} GFLOP/s on 1 thread, {peak.get(2, 0):.0f} on 2")
print("| network | threads | PyTorch's layers, ms | their multiply-adds at the peak, ms | bound on the speed-up "
      "| PyTorch's heaviest layer: share of peak |")
print("|---|---:|---:|---:|---:|---|")
for (net, threads), layers in nets.items():
    theirs = sum(l["pytorch"] for l in layers)
    at_peak = sum(l["pytorch_gflops"] * l["pytorch"] for l in layers) / peak[threads]  # GFLOP/s x ms / GFLOP/s
    heavy = max(layers, key=lambda l: l["pytorch"])
    shape = "x".join(str(v) for v in heavy["input"][1:])
    print(f"| {net} | {threads} | {theirs:.2f} | {at_peak:.2f} | {theirs / at_peak:.2f} | {heavy['type']} "
          f"{heavy['layer']} on {shape}: {heavy['pytorch_gflops'] / peak[threads]:.0%} |")
