#!/usr/bin/python3
"""PyTorch's twin of `convlab train` for a model file: the same network (read from the same
text), data (the CIFAR-10 binary files), recipe and evaluation, to compare accuracies.

    /usr/bin/python3 tools/torch_train.py --model models/resnet20.txt --epochs 15 --seed 1 \
        --augment crop,flip --schedule cosine [--threads 1] [--data data/cifar-10-batches-bin]

The recipe is convlab's default and the flags it shares: Adam (lr 1e-3), batch 64, shuffled each
epoch, images scaled to [0, 1]; `--augment crop,flip` is torchvision's RandomCrop(32, padding=4)
then RandomHorizontalFlip() (written out here: Debian has no torchvision); `--schedule cosine` is
CosineAnnealingLR over the run, stepped per epoch. Training in train mode, testing in eval mode.
Prints one JSON line: per-epoch loss and test accuracy, and the final accuracy.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import from_text  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_cifar(paths):
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in paths])
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, labels


def augment(x, kinds, gen):
    """RandomCrop(32, padding=4) (zero padding) then RandomHorizontalFlip(), per image."""
    n = x.shape[0]
    if "crop" in kinds:
        padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
        offsets = torch.randint(0, 9, (n, 2), generator=gen)
        x = torch.stack([padded[i, :, dy:dy + 32, dx:dx + 32] for i, (dy, dx) in enumerate(offsets.tolist())])
    if "flip" in kinds:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def evaluate(model, images, labels):
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(labels), 256):
            out = model(images[s:s + 256].float().div_(255))
            correct += int((out.argmax(1) == labels[s:s + 256]).sum())
    return correct / len(labels)


def predictions(model, images):
    """The predicted class of every image, in eval mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), 256):
            out += model(images[s:s + 256].float().div_(255)).argmax(1).tolist()
    return out


def confusion(model, images, labels):
    """[true class][predicted class] counts in eval mode, as `convlab evaluate --json` gives them."""
    model.eval()
    m = [[0] * 10 for _ in range(10)]
    with torch.no_grad():
        for s in range(0, len(labels), 256):
            pred = model(images[s:s + 256].float().div_(255)).argmax(1)
            for t, p in zip(labels[s:s + 256].tolist(), pred.tolist()):
                m[t][p] += 1
    return m


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", default=os.path.join(ROOT, "data", "cifar-10-batches-bin"))
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", default="")
    p.add_argument("--schedule", default="", choices=["", "cosine"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save", help="write the trained state_dict here (.safetensors)")
    p.add_argument("--save-onnx", help="export the trained model here (torch.onnx.export, opset 13, eval mode)")
    p.add_argument("--save-onnx-nodes", help="the same with BatchNorm kept as BatchNormalization nodes "
                   "(training=PRESERVE, do_constant_folding=False)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    train_x, train_y = load_cifar(sorted(glob.glob(os.path.join(a.data, "data_batch_*.bin"))))
    test_x, test_y = load_cifar([os.path.join(a.data, "test_batch.bin")])
    with open(a.model) as f:
        model = from_text(f.read())
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs) if a.schedule == "cosine" else None
    crit = nn.CrossEntropyLoss()
    kinds = set(filter(None, a.augment.split(",")))
    epochs = []
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(train_y), generator=gen)
        losses = []
        for s in range(0, len(order), a.batch_size):
            idx = order[s:s + a.batch_size]
            x = augment(train_x[idx], kinds, gen).float().div_(255)
            opt.zero_grad()
            loss = crit(model(x), train_y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        lr = opt.param_groups[0]["lr"]
        if sched:
            sched.step()
        acc = evaluate(model, test_x, test_y)
        epochs.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "lr": lr, "test_accuracy": acc})
        print(f"epoch {epoch + 1}/{a.epochs}  loss {epochs[-1]['loss']:.4f}  test accuracy {acc:.4f}",
              file=sys.stderr, flush=True)
    if a.save:
        from safetensors_io import save_file
        save_file(model.state_dict(), a.save, {"format": "pt"})
    for path, fold in [(a.save_onnx, True), (a.save_onnx_nodes, False)]:
        if path:
            model.eval()
            torch.onnx.export(model, test_x[:2].float().div(255), path, opset_version=13,
                              training=torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE,
                              do_constant_folding=fold, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(json.dumps({"lib": "pytorch", "model": a.model, "seed": a.seed, "epochs": epochs,
                      "test_accuracy": epochs[-1]["test_accuracy"] if epochs else evaluate(model, test_x, test_y),
                      "confusion": confusion(model, test_x, test_y),
                      "predictions": predictions(model, test_x)}))


if __name__ == "__main__":
    sys.exit(main())
