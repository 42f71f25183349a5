#!/usr/bin/python3
"""Writes the golden fixtures convlab's tests compare against, using Debian's python3-torch.

Run with Debian's interpreter (the first python3 on PATH may lack torch):
    /usr/bin/python3 tools/make_golden.py            # writes tests/fixtures/*.json
    /usr/bin/python3 tools/make_golden.py --only weights   # just weights.json and its files
    /usr/bin/python3 tools/make_golden.py --only onnx      # just onnx.json and its files
    /usr/bin/python3 tools/make_golden.py --only resize    # just resize.json
    /usr/bin/python3 tools/make_golden.py --only python    # just python/*.out
The fixtures are committed, so the tests need no PyTorch when they run. Floats are float32 values
written as JSON doubles, which read back exactly.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import Residual  # noqa: E402  (convlab's Residual, one definition)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def flat(t):
    """Values as JSON numbers; NaN and infinities (not JSON) as the strings "nan", "inf", "-inf"."""
    def enc(v):
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return [enc(float(v)) for v in t.detach().reshape(-1).tolist()]


def tensor_record(t):
    return {"shape": list(t.shape), "values": flat(t)}


def sampled_record(t, n=128):
    """Large tensors: shape, first and last n values, and the double-precision sum of all."""
    v = flat(t)
    return {"shape": list(t.shape), "head": v[:n], "tail": v[-n:], "sum": math.fsum(v)}


def write(name, payload):
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def print_cases():
    """repr() of float tensors covering every formatting rule of torch/_tensor_str.py."""
    g = torch.Generator().manual_seed(1)
    cases = {
        "int_3x3": torch.tensor([[-4.0, 0, 4], [-4, 0, 4], [-4, 0, 4]]),
        "zeros_1d": torch.zeros(3),
        "negative_zero": -0.0 * torch.ones(2, 3, 3),
        "halves_4d": torch.tensor([[[[0.5, 0.5], [0.5, 1.0]], [[1, 1], [1, 0]]]]),
        "fixed_random": torch.randn(2, 3, 4, generator=g),
        "sci_small": torch.tensor([1e-5, 0.5, 2.0]),
        "sci_ratio_int": torch.tensor([1.0, 5000.0]),
        "big_int": torch.tensor([123456789.0, 1.0]),
        "nonfinite": torch.tensor([float("nan"), float("inf"), -float("inf"), 1.5]),
        "nonfinite_int": torch.tensor([float("nan"), 2.0]),
        "scalar": torch.tensor(0.25),
        "scalar_int": torch.tensor(3.0),
        "long_row": torch.arange(40, dtype=torch.float32) * 1.5,
        "summarized_1d": torch.arange(2000, dtype=torch.float32) / 7,
        "summarized_4d": torch.randn(1, 8, 32, 32, generator=g),
        "summarized_2d_int": torch.arange(1100, dtype=torch.float32).reshape(11, 100),
        "empty": torch.zeros(0),
        "rounding": torch.tensor([0.00005, 0.00015, 2.5, 0.12345, -0.98765]),
        "wide_5d_like_3d": torch.randn(3, 1, 25, generator=g) * 100,
    }
    return {name: {"shape": list(t.shape), "values": flat(t), "repr": repr(t)} for name, t in cases.items()}


def conv_cases():
    """Random conv2d problems with forward output and all gradients (double-checked in float64)."""
    g = torch.Generator().manual_seed(2)
    rng = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    cases = []
    for i in range(24):
        n, c, o = rng(1, 3), rng(1, 6), rng(1, 6)
        kh, kw = rng(1, 5), rng(1, 5)
        sh, sw, ph, pw = rng(1, 3), rng(1, 3), rng(0, 2), rng(0, 2)
        h = max(kh - 2 * ph, 1) + rng(0, 7)
        w = max(kw - 2 * pw, 1) + rng(0, 7)
        bias = i % 4 != 3
        x = torch.randn(n, c, h, w, generator=g).requires_grad_()
        wt = (torch.randn(o, c, kh, kw, generator=g) * 0.5).requires_grad_()
        b = torch.randn(o, generator=g).requires_grad_() if bias else None
        y = F.conv2d(x, wt, b, stride=(sh, sw), padding=(ph, pw))
        gy = torch.randn(y.shape, generator=g)
        y.backward(gy)
        case = {"stride": [sh, sw], "padding": [ph, pw], "input": tensor_record(x), "weight": tensor_record(wt),
                "output": tensor_record(y), "grad_output": tensor_record(gy), "grad_input": tensor_record(x.grad),
                "grad_weight": tensor_record(wt.grad)}
        if bias:
            case["bias"] = tensor_record(b)
            case["grad_bias"] = tensor_record(b.grad)
        cases.append(case)
    return cases


def init_cases():
    """Default initial parameters of Conv2d (and Linear) right after torch.manual_seed(seed)."""
    cases = []
    for seed, (cin, cout, k) in [(0, (1, 3, 3)), (1, (3, 8, 3)), (42, (8, 16, 3)), (7, (2, 5, (2, 4)))]:
        torch.manual_seed(seed)
        m = nn.Conv2d(cin, cout, k)
        ks = list(m.kernel_size)
        cases.append({"seed": seed, "layer": "Conv2d", "in": cin, "out": cout, "kernel": ks,
                      "weight": sampled_record(m.weight), "bias": sampled_record(m.bias)})
    for seed, (fin, fout) in [(0, (4096, 64)), (3, (64, 10))]:
        torch.manual_seed(seed)
        m = nn.Linear(fin, fout)
        cases.append({"seed": seed, "layer": "Linear", "in": fin, "out": fout,
                      "weight": sampled_record(m.weight), "bias": sampled_record(m.bias)})
    return cases


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "cifar-10-batches-bin")


def load_cifar_train():
    """The shipped CIFAR-10 training subset, read straight from the official binary format."""
    import numpy as np
    xs, ys = [], []
    for i in range(1, 6):
        raw = np.fromfile(os.path.join(DATA, f"data_batch_{i}.bin"), dtype=np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs), np.concatenate(ys)


class SumFirstCNN(nn.Module):
    """The notebook's model B, verbatim: channels summed first, then the standard network."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 16 * 16, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.sum(dim=1, keepdim=True)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.pool(x)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def standard_model():
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, kernel_size=3, stride=1, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 16 * 16, 64), nn.ReLU(), nn.Linear(64, 10))


def param_record(t, limit=2048):
    """Small parameters whole; large ones as every k-th value plus the double-precision sum."""
    v = flat(t)
    stride = max(1, -(-len(v) // limit))
    return {"shape": list(t.shape), "stride": stride, "values": v[::stride], "sum": math.fsum(v)}


def basic_block(cin, cout, stride):
    """He et al.'s basic block: two 3x3 convolutions with BatchNorm; a 1x1 projection shortcut
    when the shape changes (option B), else the identity."""
    body = nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(cout))
    if stride == 1 and cin == cout:
        shortcut = nn.Identity()
    else:
        shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
    return Residual(body, shortcut)


def residual_model():
    """A small residual network with BatchNorm: identity and projection shortcuts."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        basic_block(8, 8, 1), nn.ReLU(),
        basic_block(8, 16, 2), nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(16, 10))


def module_cases():
    """Layers and containers run in training mode (forward, backward, running statistics after)
    and in evaluation mode, from random parameters and buffers; the model text is repr(module)."""
    g = torch.Generator().manual_seed(5)
    specs = [
        ("batchnorm2d", nn.BatchNorm2d(4), (3, 4, 5, 5)),
        ("batchnorm2d_eps_no_affine", nn.BatchNorm2d(3, eps=1e-3, momentum=0.3, affine=False), (2, 3, 4, 3)),
        ("batchnorm2d_momentum_none", nn.BatchNorm2d(2, momentum=None), (4, 2, 3, 3)),
        ("batchnorm1d_2d", nn.BatchNorm1d(6), (5, 6)),
        ("batchnorm1d_3d", nn.BatchNorm1d(3), (4, 3, 7)),
        ("avgpool2", nn.AvgPool2d(2), (2, 3, 7, 6)),
        ("avgpool3_s2_p1", nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 7, 9)),
        ("avgpool3_s2_p1_ceil_exclude", nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 7, 9)),
        ("avgpool_2x3_ceil", nn.AvgPool2d((2, 3), stride=(2, 2), ceil_mode=True), (1, 2, 5, 8)),
        ("adaptive_1x1", nn.AdaptiveAvgPool2d((1, 1)), (2, 3, 5, 5)),
        ("adaptive_3x2", nn.AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5)),
        ("adaptive_4", nn.AdaptiveAvgPool2d(4), (1, 2, 9, 6)),
        ("leaky_relu", nn.LeakyReLU(0.2), (2, 3, 4, 4)),
        ("leaky_relu_default", nn.LeakyReLU(), (3, 5)),
        ("maxpool3_s2_p1", nn.MaxPool2d(3, 2, 1), (2, 3, 9, 8)),
        ("maxpool3_s2_ceil", nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 8, 8)),
        ("identity", nn.Identity(), (2, 3)),
        ("residual_identity", basic_block(4, 4, 1), (2, 4, 6, 6)),
        ("residual_projection", basic_block(4, 6, 2), (2, 4, 7, 7)),
        ("residual_network", residual_model(), (4, 3, 12, 12)),
    ]
    cases = []
    for name, module, shape in specs:
        with torch.no_grad():
            for pname, p in module.named_parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if "weight" in pname and p.dim() == 1 else 0.0))
            for bname, b in module.named_buffers():
                if bname.endswith("running_mean"):
                    b.copy_(torch.randn(b.shape, generator=g) * 0.2)
                elif bname.endswith("running_var"):
                    b.copy_(torch.rand(b.shape, generator=g) + 0.5)
        before = {k: tensor_record(v.float()) for k, v in module.state_dict().items()}
        x = torch.randn(*shape, generator=g)
        case = {"name": name, "model_text": repr(module), "input": tensor_record(x), "state": before}
        # PyTorch's print of AvgPool2d drops ceil_mode and count_include_pad; convlab's keeps them.
        if isinstance(module, nn.AvgPool2d) and (module.ceil_mode or not module.count_include_pad):
            extra = (", ceil_mode=True" if module.ceil_mode else "") + \
                    ("" if module.count_include_pad else ", count_include_pad=False")
            case["convlab_text"] = repr(module)[:-1] + extra + ")"
        for mode in ("train", "eval"):
            module.train(mode == "train")
            module.zero_grad()
            xi = x.clone().requires_grad_()
            y = module(xi)
            gy = torch.randn(y.shape, generator=g)
            y.backward(gy)
            case[mode] = {"output": tensor_record(y), "grad_output": tensor_record(gy),
                          "grad_input": tensor_record(xi.grad),
                          "grads": {n: tensor_record(p.grad) for n, p in module.named_parameters()},
                          "state_after": {k: tensor_record(v.float()) for k, v in module.state_dict().items()}}
        cases.append(case)
    return cases


def schedule_cases():
    """The learning rate of every epoch under StepLR and CosineAnnealingLR (stepped once per epoch)."""
    cases = []
    for name, make, epochs in [
            ("step:3:0.5", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10),
            ("step:1:0.9", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.9), 7),
            ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12), 12),
            ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5), 5)]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = make(opt)
        lrs = []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        cases.append({"schedule": name, "lr": 0.1, "epochs": epochs, "lrs": lrs})
    return cases


def adamw_cases():
    """torch.optim.AdamW steps on fixed parameters and gradients (decoupled weight decay)."""
    g = torch.Generator().manual_seed(6)
    cases = []
    for lr, wd in [(1e-3, 0.01), (0.05, 0.1)]:
        p = torch.randn(7, 5, generator=g).requires_grad_()
        opt = torch.optim.AdamW([p], lr=lr, weight_decay=wd)
        initial = tensor_record(p)
        grads, after = [], []
        for _ in range(5):
            grad = torch.randn(7, 5, generator=g)
            p.grad = grad.clone()
            opt.step()
            grads.append(tensor_record(grad))
            after.append(tensor_record(p))
        cases.append({"lr": lr, "weight_decay": wd, "initial": initial, "grads": grads, "after": after})
    return cases


def train_run(X, Y, model_name, opt_name, seed, steps, batch, dtype):
    """One run; returns (recipe, initial records, batches, losses, final parameters)."""
    import numpy as np
    torch.manual_seed(seed)
    factories = {"standard": standard_model, "sumfirst": SumFirstCNN, "residual": residual_model}
    model = factories[model_name]().to(dtype)
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        recipe = {"lr": 1e-3}
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        recipe = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}
    initial = [param_record(p) for p in model.parameters()]
    rng = np.random.RandomState(seed)
    batches, losses = [], []
    criterion = nn.CrossEntropyLoss()
    for _ in range(steps):
        idx = rng.choice(len(Y), batch, replace=False)
        x = torch.from_numpy(X[idx]).to(dtype).div(255)
        y = torch.from_numpy(Y[idx])
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        batches.append([int(i) for i in idx])
        losses.append(float(loss.item()))
    return recipe, initial, batches, losses, [p.detach() for p in model.parameters()]


def train_cases(steps=20, batch=64):
    """The first `steps` optimizer steps from torch.manual_seed(seed) on fixed batches, in float32
    (the reference) and float64 (the exact answer float32 approximates; Adam's division by
    sqrt(v) lets float32 rounding move some weights by more than 1e-4, in PyTorch too)."""
    X, Y = load_cifar_train()
    cases = []
    for model_name, opt_name, seed in [("standard", "adam", 0), ("standard", "sgd", 1), ("sumfirst", "adam", 2),
                                       ("residual", "adam", 3)]:
        recipe, initial, batches, losses, final = train_run(X, Y, model_name, opt_name, seed, steps, batch, torch.float32)
        _, _, _, _, final64 = train_run(X, Y, model_name, opt_name, seed, steps, batch, torch.float64)
        records = [param_record(p) for p in final]
        records64 = [param_record(p) for p in final64]
        for r, r64 in zip(records, records64):
            r["values_f64"] = r64["values"]
            r["f32_vs_f64"] = max(abs(a - b) for a, b in zip(r["values"], r64["values"]))
        text = repr(residual_model()) if model_name == "residual" else model_name
        cases.append({"model": model_name, "model_text": text, "optimizer": opt_name, "seed": seed, "recipe": recipe,
                      "batches": batches, "losses": losses, "initial": initial, "final": records})
    return cases


def weights_cases():
    """State_dicts of PyTorch models in safetensors files (tests/fixtures/safetensors/), with the
    model text and the eval-mode logits PyTorch computes on a fixed batch: the notebook's two
    networks (stored as F16 and BF16, so the logits are those of the rounded weights), a BatchNorm
    network and a residual network (F32, and F64 for the residual one)."""
    from safetensors_io import save_file
    from torch_models import ChannelSum
    g = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    bn = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(), nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3), nn.Linear(6, 10))
    sumfirst = nn.Sequential(ChannelSum(), *list(standard_model().children())[1:])
    sumfirst[1] = nn.Conv2d(1, 8, kernel_size=3, stride=1, padding=1)
    specs = [("standard", standard_model(), torch.float16, (2, 3, 32, 32)),
             ("sumfirst", sumfirst, torch.bfloat16, (2, 3, 32, 32)),
             ("batchnorm", bn, torch.float32, (4, 3, 16, 16)),
             ("residual", residual_model(), torch.float32, (4, 3, 12, 12)),
             ("residual_f64", residual_model(), torch.float64, (4, 3, 12, 12))]
    os.makedirs(os.path.join(OUT, "safetensors"), exist_ok=True)
    cases = []
    for name, model, dtype, shape in specs:
        with torch.no_grad():  # trained-looking buffers and a num_batches_tracked of its own
            for bname, b in model.named_buffers():
                if bname.endswith("running_mean"):
                    b.copy_(torch.randn(b.shape, generator=g) * 0.2)
                elif bname.endswith("running_var"):
                    b.copy_(torch.rand(b.shape, generator=g) + 0.5)
                elif bname.endswith("num_batches_tracked"):
                    b.fill_(1234)
            state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
            # The logits of the weights as stored (F16 and BF16 round them).
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
            model.eval()
            x = torch.randn(*shape, generator=g)
            logits = model(x)
        file = f"safetensors/{name}.safetensors"
        save_file(state, os.path.join(OUT, file), {"format": "pt"})
        print(f"wrote {file}")
        cases.append({"name": name, "model_text": repr(model), "file": file, "dtype": str(dtype),
                      "input": tensor_record(x), "logits": tensor_record(logits)})
    return cases


class ViewFlatten(nn.Module):
    """A network that flattens with x.view(x.size(0), -1): the Shape-Gather-Unsqueeze-Concat-Reshape
    pattern torch.onnx.export writes for it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
                                      nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False))
        self.fc = nn.Linear(4 * 2 * 2, 10)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))


def onnx_cases():
    """Models exported by torch.onnx.export (tests/fixtures/onnx/), with the logits PyTorch computes
    on a fixed batch in eval mode: the notebook's two networks, a BatchNorm network exported both
    ways (folded into the convolutions, and as BatchNormalization nodes), a residual network, and a
    view-flatten network; opsets 11 to 17, batch dimension dynamic."""
    from torch_models import ChannelSum
    g = torch.Generator().manual_seed(12)
    torch.manual_seed(12)
    bn = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 10))
    sumfirst = nn.Sequential(ChannelSum(), *list(standard_model().children())[1:])
    sumfirst[1] = nn.Conv2d(1, 8, kernel_size=3, stride=1, padding=1)
    small_sumfirst = nn.Sequential(ChannelSum(), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    E, P = torch.onnx.TrainingMode.EVAL, torch.onnx.TrainingMode.PRESERVE
    specs = [("standard", standard_model(), (2, 3, 32, 32), 11, E, True),
             ("sumfirst", sumfirst, (2, 3, 32, 32), 13, E, True),
             ("small_sumfirst_opset11", small_sumfirst, (2, 3, 8, 8), 11, E, True),
             ("batchnorm_folded", bn, (3, 3, 16, 16), 13, E, True),
             ("batchnorm_nodes", bn, (3, 3, 16, 16), 17, P, False),
             ("residual", residual_model(), (3, 3, 12, 12), 13, P, False),
             ("view_flatten", ViewFlatten(), (2, 3, 8, 8), 15, E, True)]
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    cases = []
    for name, model, shape, opset, mode, fold in specs:
        with torch.no_grad():
            for bname, b in model.named_buffers():
                if bname.endswith("running_mean"):
                    b.copy_(torch.randn(b.shape, generator=g) * 0.2)
                elif bname.endswith("running_var"):
                    b.copy_(torch.rand(b.shape, generator=g) + 0.5)
        model.eval()
        x = torch.randn(*shape, generator=g)
        with torch.no_grad():
            logits = model(x)
        file = f"onnx/{name}.onnx"
        torch.onnx.export(model, x, os.path.join(OUT, file), opset_version=opset, training=mode,
                          do_constant_folding=fold, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        print(f"wrote {file}")
        cases.append({"name": name, "opset": opset, "file": file, "pytorch_text": repr(model),
                      "input": tensor_record(x), "logits": tensor_record(logits)})
    return cases


def resize_cases():
    """F.interpolate(mode="bilinear", align_corners=False), no antialiasing: what `convlab predict
    --resize` does to an image of another size; down and up, odd sizes."""
    g = torch.Generator().manual_seed(13)
    cases = []
    for (h, w), (oh, ow) in [((7, 9), (4, 5)), ((5, 4), (11, 8)), ((64, 48), (32, 32)), ((3, 3), (3, 3))]:
        x = torch.rand(1, 3, h, w, generator=g)
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
        cases.append({"input": tensor_record(x), "output": tensor_record(y)})
    return cases


def python_examples():
    """What PyTorch prints running examples/python/multichannel_convolution.py and
    tests/python/snippets/*.py: each imports convlab as torch, so run here with `convlab` standing
    for PyTorch itself (tests/python compares convlab's output with these, character for
    character)."""
    import io
    import runpy
    import types
    from contextlib import redirect_stdout
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(os.path.join(OUT, "python"), exist_ok=True)
    shim = types.ModuleType("convlab")
    shim.__dict__.update({k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
    shim.nn = torch.nn
    sys.modules["convlab"], sys.modules["convlab.nn"] = shim, torch.nn
    sys.modules["convlab.nn.functional"] = torch.nn.functional
    os.environ["CONVLAB_NO_PLOTS"] = "1"
    snippets = os.path.join(root, "tests", "python", "snippets")
    scripts = {"multichannel_convolution": os.path.join(root, "examples", "python",
                                                        "multichannel_convolution.py")}
    for f in sorted(os.listdir(snippets)):
        if f.endswith(".py"):
            scripts[f[:-3]] = os.path.join(snippets, f)
    try:
        for name, path in scripts.items():
            torch.manual_seed(0)
            buf = io.StringIO()
            with redirect_stdout(buf):
                runpy.run_path(path, run_name="__main__")
            with open(os.path.join(OUT, "python", name + ".out"), "w") as f:
                f.write(buf.getvalue())
            print("wrote", os.path.join(OUT, "python", name + ".out"))
    finally:
        del sys.modules["convlab"], sys.modules["convlab.nn"], sys.modules["convlab.nn.functional"]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    meta = {"torch": torch.__version__}
    if sys.argv[1:] == ["--only", "weights"]:
        write("weights.json", {"meta": meta, "cases": weights_cases()})
        return
    if sys.argv[1:] == ["--only", "resize"]:
        write("resize.json", {"meta": meta, "cases": resize_cases()})
        return
    if sys.argv[1:] == ["--only", "python"]:
        python_examples()
        return
    if sys.argv[1:] == ["--only", "onnx"]:
        write("onnx.json", {"meta": meta, "cases": onnx_cases()})
        return
    write("print.json", {"meta": meta, "cases": print_cases()})
    write("conv2d.json", {"meta": meta, "cases": conv_cases()})
    write("init.json", {"meta": meta, "cases": init_cases()})
    write("train.json", {"meta": meta, "cases": train_cases()})
    write("modules.json", {"meta": meta, "cases": module_cases()})
    write("schedules.json", {"meta": meta, "cases": schedule_cases()})
    write("adamw.json", {"meta": meta, "cases": adamw_cases()})
    write("weights.json", {"meta": meta, "cases": weights_cases()})
    write("onnx.json", {"meta": meta, "cases": onnx_cases()})
    write("resize.json", {"meta": meta, "cases": resize_cases()})
    python_examples()


if __name__ == "__main__":
    sys.exit(main())
