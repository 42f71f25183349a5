"""The Python module: the notebook's tensors printed exactly, numpy round trips, state_dict
write-through, training equal to the command line's bit for bit, errors as exceptions.

Run by ctest (tests/CMakeLists.txt) as
    PYTHONPATH=<build>/python CONVLAB_CLI=<build>/convlab /usr/bin/python3 -m pytest tests/python
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import convlab as torch
from convlab import nn

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "python")
DATA = os.path.join(ROOT, "data", "cifar-10-batches-bin")


def run_example(name):
    env = dict(os.environ, CONVLAB_NO_PLOTS="1")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", name + ".py")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def printed_tensors(text):
    """Every tensor(...) / torch.Size(...) that starts a line, with balanced parentheses."""
    found, pos = [], 0
    while True:
        m = re.compile(r"^(tensor\(\[|torch\.Size\(\[)", re.M).search(text, pos)
        if not m:
            return found
        depth, end = 0, m.start()
        for end in range(m.start(), len(text)):
            depth += text[end] == "("
            depth -= text[end] == ")"
            if depth == 0 and text[end] == ")":
                break
        found.append(text[m.start():end + 1])
        pos = end + 1


# ---- the notebook ---------------------------------------------------------------------------

def test_notebook_cells_print_what_pytorch_prints_character_for_character():
    got = run_example("multichannel_convolution")
    with open(os.path.join(FIXTURES, "multichannel_convolution.out")) as f:
        expected = f.read()
    assert got == expected
    assert len(printed_tensors(got)) >= 20  # the notebook's 19 tensors and its torch.Size


@pytest.mark.parametrize("name", sorted(f[:-3] for f in os.listdir(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "snippets")) if f.endswith(".py")))
def test_snippets_print_what_pytorch_prints(name):
    # Cells beyond the notebook's: other layers, strides, padding, functional forms, 0-d and
    # integer tensors, iteration, shapes, reductions.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snippets", name + ".py")
    p = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(FIXTURES, name + ".out")) as f:
        assert p.stdout == f.read()


def test_every_tensor_the_notebook_text_prints_is_printed_in_order():
    # The notebook text (whitespace collapsed by its extraction) is the specification itself.
    with open(os.path.join(ROOT, "docs", "notebooks", "multichannel_convolution.txt")) as f:
        spec = printed_tensors(f.read())
    assert len(spec) >= 20  # the notebook's tensors and its torch.Size
    got = "".join(run_example("multichannel_convolution").split())
    at = 0
    for e in spec:
        found = got.find("".join(e.split()), at)
        assert found >= 0, "not printed (in order):\n" + e
        at = found + 1


def test_signed_zeros_print_as_pytorch_prints_them():
    g = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert repr(-2 * g) == "tensor([[-0., -0.],\n        [-0., -2.]])"


# ---- tensors and numpy ------------------------------------------------------------------------

def test_numpy_round_trips_share_memory_for_float32():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.from_numpy(a)
    a[0, 0] = 7
    assert t[0][0].item() == 7
    t[1, 2] = -1
    assert a[1, 2] == -1
    assert t.numpy() is a or np.shares_memory(t.numpy(), a)
    assert t.shape == (2, 3) and repr(t.shape) == "torch.Size([2, 3])"


def test_non_contiguous_arrays_keep_their_view_and_print_in_order():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    t = torch.from_numpy(a)
    assert t.tolist() == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]
    assert repr(t) == "tensor([[ 0.,  2.],\n        [ 4.,  6.],\n        [ 8., 10.]])"
    t[0, 1] = 5
    assert a[0, 1] == 5  # a view, as torch.from_numpy of a strided array


def test_float64_is_converted_to_float32_as_a_copy():
    a = np.array([0.1, 0.2], dtype=np.float64)
    t = torch.from_numpy(a)
    assert t.dtype is torch.float32
    assert t.numpy().dtype == np.float32 and t.numpy()[0] == np.float32(0.1)
    a[0] = 5
    assert t[0].item() != 5  # converted: its own memory
    assert torch.from_numpy(np.array([1, 2], dtype=np.int32)).dtype is torch.int64
    assert repr(torch.tensor([1, 2, 3])) == "tensor([1, 2, 3])"


def test_bad_dtypes_and_shapes_raise_clear_exceptions():
    with pytest.raises(TypeError, match="complex"):
        torch.from_numpy(np.zeros(2, dtype=np.complex64))
    with pytest.raises(TypeError):
        torch.tensor(["a", "b"])
    conv = nn.Conv2d(in_channels=1, out_channels=3, kernel_size=3)
    with pytest.raises(ValueError, match="channel"):
        conv(torch.zeros(1, 2, 5, 5))
    with pytest.raises(TypeError, match="float32"):
        conv(torch.zeros(1, 1, 5, 5, dtype=torch.int64))
    with pytest.raises(ValueError):
        nn.Conv2d(in_channels=0, out_channels=3, kernel_size=3)
    with pytest.raises(ValueError, match="no_such"):
        nn.Conv2d(1, 3, 3, no_such=1)
    with pytest.raises(RuntimeError, match="requires grad"):
        conv(torch.zeros(1, 1, 5, 5)).numpy()
    with pytest.raises(ValueError, match="missing keys"):
        conv.load_state_dict({"weight": conv.weight.detach()})


# ---- layers ---------------------------------------------------------------------------------

def test_state_dict_writes_through_to_the_layer():
    conv = nn.Conv2d(in_channels=1, out_channels=1, kernel_size=3)
    conv.state_dict()["weight"][0][0] = torch.tensor([[0.0, 0, 0], [0, 2.0, 0], [0, 0, 0]])
    conv.state_dict()["bias"][:] = torch.tensor([0.5])
    image = torch.zeros(1, 1, 3, 3)
    image[0, 0, 1, 1] = 3
    assert conv(image).item() == 6.5
    assert conv.weight[0, 0, 1, 1].item() == 2.0
    assert repr(conv.bias) == "Parameter containing:\ntensor([0.5000], requires_grad=True)"


def test_layers_print_and_initialise_as_pytorch():
    torch.manual_seed(0)
    conv = nn.Conv2d(in_channels=2, out_channels=3, kernel_size=3)
    assert repr(conv) == "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1))"
    bound = 1 / np.sqrt(2 * 9)  # kaiming_uniform(a=sqrt(5)) on fan_in 18
    w = conv.weight.detach().numpy()
    assert w.shape == (3, 2, 3, 3) and np.all(np.abs(w) <= bound)
    torch.manual_seed(0)
    again = nn.Conv2d(in_channels=2, out_channels=3, kernel_size=3)
    assert np.array_equal(again.weight.detach().numpy(), w)  # the seed fixes initialisation
    model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))
    assert repr(model).startswith("Sequential(\n  (0): Conv2d(2, 3, kernel_size=(3, 3)")
    model.state_dict()["0.bias"][:] = torch.tensor([1.0, 2.0, 3.0])
    assert conv.bias.tolist() == [1.0, 2.0, 3.0]  # the Sequential holds the same layer
    out = model(torch.zeros(1, 2, 6, 6))
    assert out.shape == (1, 3, 2, 2)
    assert repr(out).endswith("grad_fn=<MaxPool2DWithIndicesBackward0>)")
    assert model.eval() is model and not model.training
    bn = nn.BatchNorm2d(3)
    assert [k for k in bn.state_dict()] == ["weight", "bias", "running_mean", "running_var",
                                            "num_batches_tracked"]


# ---- training -------------------------------------------------------------------------------

def test_training_from_python_equals_the_command_line_bit_for_bit(tmp_path):
    cli = os.environ["CONVLAB_CLI"]
    data = tmp_path / "data"
    data.mkdir()
    for name, records in (("data_batch_1.bin", 300), ("test_batch.bin", 100)):
        with open(os.path.join(DATA, name), "rb") as f:
            (data / name).write_bytes(f.read(records * 3073))
    recipe = dict(model="standard", epochs=2, batch_size=32, lr=2e-3, seed=5, augment="flip")
    epochs = []
    metrics = torch.train(data=str(data), out=str(tmp_path / "py"), threads=2,
                          on_epoch=epochs.append, **recipe)
    subprocess.run([cli, "train", "--model", "standard", "--epochs", "2", "--batch-size", "32",
                    "--lr", "0.002", "--seed", "5", "--augment", "flip", "--data", str(data),
                    "--out", str(tmp_path / "cli"), "--threads", "1"],
                   check=True, capture_output=True)
    py_bytes = (tmp_path / "py" / "checkpoint.bin").read_bytes()
    cli_bytes = (tmp_path / "cli" / "checkpoint.bin").read_bytes()
    assert py_bytes == cli_bytes
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert metrics["epochs"][1]["loss"] == epochs[1]["loss"]
    with pytest.raises(ValueError, match="optimizer"):
        torch.train(data=str(data), optimizer="rmsprop", epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        torch.train(data=str(data), batch_size=0, epochs=1)
    with pytest.raises(OSError):
        torch.train(data=str(tmp_path / "nowhere"), epochs=1)


def test_tool_functions_agree_with_the_command_line(tmp_path):
    cli = os.environ["CONVLAB_CLI"]
    images, labels, classes = torch.load_dataset(DATA, train=False)
    assert images.shape == (517, 3, 32, 32) and labels.dtype is torch.int64
    assert classes[0] == "airplane" and 0 <= images.numpy().min() and images.numpy().max() <= 1
    torch.manual_seed(3)
    model = nn.model("standard")
    # export, then the command line evaluates the file: the same confusion matrix as Python's.
    torch.export(model, str(tmp_path / "m.safetensors"))
    with pytest.raises(FileExistsError):
        torch.export(model, str(tmp_path / "m.safetensors"))
    torch.export(model, str(tmp_path / "m.onnx"))
    mine = torch.evaluate(model, data=DATA)
    p = subprocess.run([cli, "evaluate", "--model", "standard", "--weights",
                        str(tmp_path / "m.safetensors"), "--data", DATA, "--json"],
                       check=True, capture_output=True, text=True)
    import json
    assert json.loads(p.stdout)["confusion_matrix"] == mine["confusion_matrix"]
    assert torch.evaluate(model=str(tmp_path / "m.onnx"), data=DATA)["confusion_matrix"] == \
        mine["confusion_matrix"]
    table = torch.inspect(model, images[0:1])
    assert [r["output_shape"] for r in table][-1] == [1, 10]
    assert sum(r["parameters"] for r in table if r["depth"] == 0) == 264250
    d = torch.decompose(model, images[0:1], "0", 2)
    assert d["matches"] and len(d["contributions"]) == 3
    with pytest.raises(ValueError, match="no layer|layer"):
        torch.decompose(model, images[0:1], "9", 0)


def test_cifar_notebook_runs_and_prints_its_layer_shapes():
    env = dict(os.environ, CONVLAB_NO_PLOTS="1", CONVLAB_EPOCHS="1")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python",
                                                     "cifar10_sum_first.py")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(ROOT, "docs", "notebooks", "cifar10_sum_first.txt")) as f:
        notebook = f.read()
    # The notebook's printed shapes, layer by layer, and its per-channel check.
    shapes = re.findall(r"^(?:Conv2d|ReLU|MaxPool2d|Flatten|Linear) torch\.Size\(\[[0-9, ]+\]\)$",
                        notebook, re.M)
    assert len(shapes) == 9
    lines = p.stdout.splitlines()
    assert [l for l in lines if l in shapes] == shapes
    assert "torch.Size([64, 3, 32, 32])" in lines and "True" in lines


def test_training_a_module_updates_it_in_place():
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                      nn.Linear(256, 10))
    before = m.state_dict()["4.weight"].numpy().copy()
    losses = []
    metrics = torch.train(model=m, data=DATA, epochs=1, batch_size=256, on_epoch=lambda r:
                          losses.append(r["loss"]))
    assert len(losses) == 1 and not np.array_equal(m.state_dict()["4.weight"].numpy(), before)
    # The module now is the trained model: evaluating it gives the run's own test accuracy.
    assert torch.evaluate(m, data=DATA)["accuracy"] == metrics["evaluation"]["accuracy"]
    with pytest.raises(TypeError, match="Sequential"):
        torch.train(model=nn.Conv2d(3, 4, 3), data=DATA, epochs=1)


def test_predict_reads_image_files(tmp_path):
    # A PNG of the first test image, written by hand (zlib + the PNG chunks, stdlib only).
    import struct
    import zlib
    images, labels, classes = torch.load_dataset(DATA, train=False)
    pixels = (images[0].numpy() * 255).round().astype(np.uint8).transpose(1, 2, 0)

    def png(pixels):
        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data +
                    struct.pack(">I", zlib.crc32(kind + data)))
        h, w = pixels.shape[:2]
        raw = b"".join(b"\0" + row.tobytes() for row in pixels)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    (tmp_path / "cat.png").write_bytes(png(pixels))
    (tmp_path / "big.png").write_bytes(png(pixels.repeat(2, axis=0).repeat(2, axis=1)))
    torch.manual_seed(2)
    model = nn.model("standard")
    got = torch.predict(str(tmp_path / "cat.png"), model=model)[0]
    assert abs(sum(got["probabilities"]) - 1) < 1e-9 and len(got["top"]) == 5
    with torch.no_grad():
        logits = model.eval()(images[0:1]).numpy()[0]
    assert got["prediction"] == classes[int(np.argmax(logits))]
    assert np.allclose(got["logits"], logits, atol=1e-6)
    with pytest.raises(OSError, match="64"):
        torch.predict(str(tmp_path / "big.png"), model=model)  # 64x64 for a 32x32 model
    assert len(torch.predict(str(tmp_path / "big.png"), model=model, resize=True)[0]["top"]) == 5


def test_ctrl_c_stops_training_with_keyboard_interrupt():
    script = ("import convlab as torch\n"
              f"torch.train(data={DATA!r}, epochs=1000, threads=1)\n")
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    import signal
    import time
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0 and "KeyboardInterrupt" in err, err


def test_type_stubs_cover_the_public_api():
    import ast
    import inspect
    package = os.path.dirname(torch.__file__)
    for module, stub, homes in ((torch, "__init__.pyi", ("convlab", "convlab._tensor")),
                                (nn, "nn.pyi", ("convlab.nn",))):
        with open(os.path.join(package, stub)) as f:
            tree = ast.parse(f.read())
        declared = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        declared |= {t.id for n in tree.body if isinstance(n, ast.AnnAssign) for t in [n.target]}
        declared |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
        public = {name for name, value in vars(module).items()
                  if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
                  and getattr(value, "__module__", "") in homes}
        assert public - declared == set(), f"{stub} lacks {sorted(public - declared)}"
