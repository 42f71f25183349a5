#!/usr/bin/python3
"""Models across the convlab / PyTorch boundary through safetensors and ONNX, both ways, on the
shipped CIFAR-10 subset: issue 11's acceptance.

    /usr/bin/python3 tools/interop_check.py [--epochs 2] [--convlab build/release/convlab]

For each model file (the notebook's network, a VGG with BatchNorm and Dropout, ResNet-20):
  PyTorch -> convlab: tools/torch_train.py trains it and saves the state_dict (.safetensors);
    `convlab evaluate --model M --weights W` must give PyTorch's confusion matrix (so its accuracy)
    and `convlab predict --data` PyTorch's prediction for every test image.
    The same model exported by torch.onnx.export: `convlab evaluate --model M.onnx` likewise.
  convlab -> PyTorch: `convlab train`, `convlab export --to W.safetensors`; PyTorch loads W with
    load_state_dict(strict=True) into the model built from the same text and must give convlab's
    confusion matrix. `convlab export --to M.onnx`, run by tools/onnx_eval.py (numpy), likewise.
Prints a table and writes bench/results/interop.json; exit 1 if any pair differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
from safetensors_io import load_file  # noqa: E402
from torch_models import from_text  # noqa: E402
from torch_train import confusion, load_cifar, predictions  # noqa: E402


def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"interop_check: {' '.join(argv)} failed:\n{r.stderr}")
    return r.stdout


CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def convlab_predictions(cli, model_args, data):
    """Every test image's predicted class index, from `convlab predict --data DIR --json`."""
    out = json.loads(run([cli, "predict"] + model_args + ["--data", data, "--json"]))
    return [CLASSES.index(r["prediction"]) for r in out]


def accuracy(m):
    return sum(m[i][i] for i in range(len(m))) / sum(map(sum, m))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--convlab", default=os.path.join(ROOT, "build", "release", "convlab"))
    p.add_argument("--models", default="notebook,vgg_bn,resnet20")
    a = p.parse_args()
    data = os.path.join(ROOT, "data", "cifar-10-batches-bin")
    test_x, test_y = load_cifar([os.path.join(data, "test_batch.bin")])
    torch.set_num_threads(2)
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            model_file = os.path.join(ROOT, "models", name + ".txt")
            # PyTorch -> convlab.
            w = os.path.join(tmp, f"torch_{name}.safetensors")
            o = os.path.join(tmp, f"torch_{name}.onnx")
            o_nodes = os.path.join(tmp, f"torch_{name}_nodes.onnx")
            t = json.loads(run([sys.executable, os.path.join(HERE, "torch_train.py"), "--model", model_file,
                                "--epochs", str(a.epochs), "--threads", "2", "--save", w, "--save-onnx", o,
                                "--save-onnx-nodes", o_nodes]))
            c = json.loads(run([a.convlab, "evaluate", "--model", model_file, "--weights", w, "--json"]))
            same = t["confusion"] == c["confusion_matrix"] and t["predictions"] == convlab_predictions(
                a.convlab, ["--model", model_file, "--weights", w], data)
            rows.append({"model": name, "direction": "pytorch -> convlab", "pytorch_accuracy": accuracy(t["confusion"]),
                         "convlab_accuracy": c["accuracy"], "same_predictions": same})
            ok &= same
            for path, form in [(o, "onnx, BN folded"), (o_nodes, "onnx, BN nodes")]:
                c = json.loads(run([a.convlab, "evaluate", "--model", path, "--json"]))
                same = t["confusion"] == c["confusion_matrix"] and t["predictions"] == convlab_predictions(
                    a.convlab, ["--model", path], data)
                rows.append({"model": name, "direction": f"pytorch -> convlab ({form})",
                             "pytorch_accuracy": accuracy(t["confusion"]),
                             "convlab_accuracy": c["accuracy"], "same_predictions": same})
                ok &= same
            # convlab -> PyTorch.
            out = os.path.join(tmp, f"run_{name}")
            run([a.convlab, "train", "--model", model_file, "--epochs", str(a.epochs), "--threads", "2",
                 "--out", out])
            w2 = os.path.join(tmp, f"convlab_{name}.safetensors")
            run([a.convlab, "export", "--checkpoint", os.path.join(out, "checkpoint.bin"), "--to", w2])
            c2 = json.loads(run([a.convlab, "evaluate", "--checkpoint", os.path.join(out, "checkpoint.bin"),
                                 "--json"]))
            with open(model_file) as f:
                model = from_text(f.read())
            model.load_state_dict(load_file(w2), strict=True)
            m = confusion(model, test_x, test_y)
            ck = ["--checkpoint", os.path.join(out, "checkpoint.bin")]
            conv_preds = convlab_predictions(a.convlab, ck, data)
            same2 = m == c2["confusion_matrix"] and predictions(model, test_x) == conv_preds
            rows.append({"model": name, "direction": "convlab -> pytorch", "pytorch_accuracy": accuracy(m),
                         "convlab_accuracy": c2["accuracy"], "same_predictions": same2})
            ok &= same2
            o2 = os.path.join(tmp, f"convlab_{name}.onnx")
            run([a.convlab, "export", "--checkpoint", os.path.join(out, "checkpoint.bin"), "--to", o2])
            e = json.loads(run([sys.executable, os.path.join(HERE, "onnx_eval.py"), o2,
                                os.path.join(data, "test_batch.bin")]))
            same3 = e["confusion"] == c2["confusion_matrix"] and e["predictions"] == conv_preds
            rows.append({"model": name, "direction": "convlab -> onnx evaluator", "evaluator_accuracy": e["accuracy"],
                         "convlab_accuracy": c2["accuracy"], "same_predictions": same3})
            ok &= same3
            for r in rows[-5:]:
                other = r.get("pytorch_accuracy", r.get("evaluator_accuracy"))
                print(f"{r['model']:10s} {r['direction']:36s} other side {other:.4f}  "
                      f"convlab {r['convlab_accuracy']:.4f}  same predictions (every image): {r['same_predictions']}",
                      flush=True)
    path = os.path.join(ROOT, "bench", "results", "interop.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"epochs": a.epochs, "torch": torch.__version__, "rows": rows}, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
