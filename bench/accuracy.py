#!/usr/bin/python3
"""Test accuracy of a model file trained by convlab and by its PyTorch twin (tools/torch_train.py)
with the same recipe, over several seeds, on the data shipped in data/.

    bench/accuracy.sh [--model models/resnet20.txt] [--epochs 15] [--seeds 5]

Each seed runs convlab and PyTorch side by side, one thread each (two cores, the two runs at a
time). Prints a table per seed, the means and standard deviations, and saves
bench/results/accuracy_<model>.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--convlab", required=True, help="path of the convlab executable")
    p.add_argument("--model", default=os.path.join(ROOT, "models", "resnet20.txt"))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--augment", default="crop,flip")
    p.add_argument("--schedule", default="cosine")
    a = p.parse_args()
    recipe = ["--epochs", str(a.epochs), "--augment", a.augment, "--schedule", a.schedule, "--threads", "1"]
    name = os.path.splitext(os.path.basename(a.model))[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, a.seeds + 1):
            out = os.path.join(tmp, f"seed{seed}")
            conv = subprocess.Popen([a.convlab, "train", "--model", a.model, "--seed", str(seed), "--out", out]
                                    + recipe, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            torch = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "torch_train.py"),
                                    "--model", a.model, "--seed", str(seed)] + recipe,
                                   capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
            conv_err = conv.communicate()[1]
            if conv.returncode != 0 or torch.returncode != 0:
                sys.exit(f"accuracy.py: error: seed {seed}: convlab exit {conv.returncode} {conv_err.strip()}; "
                         f"pytorch exit {torch.returncode} {torch.stderr.strip()[-500:]}")
            with open(os.path.join(out, "metrics.json")) as f:
                mine = json.load(f)
            theirs = json.loads(torch.stdout.strip().splitlines()[-1])
            rows.append({"seed": seed, "convlab": mine["evaluation"]["accuracy"],
                         "pytorch": theirs["test_accuracy"],
                         "convlab_epochs": [e["test_accuracy"] for e in mine["epochs"]],
                         "pytorch_epochs": [e["test_accuracy"] for e in theirs["epochs"]]})
            print(f"seed {seed}: convlab {rows[-1]['convlab']:.4f}  pytorch {rows[-1]['pytorch']:.4f}", flush=True)
    c = [r["convlab"] for r in rows]
    t = [r["pytorch"] for r in rows]
    summary = {"convlab_mean": statistics.mean(c), "pytorch_mean": statistics.mean(t),
               "convlab_stdev": statistics.stdev(c) if len(c) > 1 else 0.0,
               "pytorch_stdev": statistics.stdev(t) if len(t) > 1 else 0.0}
    summary["difference_points"] = 100 * (summary["convlab_mean"] - summary["pytorch_mean"])
    print(f"mean over {len(rows)} seeds: convlab {summary['convlab_mean']:.4f} (sd {summary['convlab_stdev']:.4f})  "
          f"pytorch {summary['pytorch_mean']:.4f} (sd {summary['pytorch_stdev']:.4f})  "
          f"difference {summary['difference_points']:+.2f} points")
    result = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "model": os.path.relpath(a.model, ROOT),
              "epochs": a.epochs, "augment": a.augment, "schedule": a.schedule, "seeds": rows, **summary}
    path = os.path.join(HERE, "results", f"accuracy_{name}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
