#!/usr/bin/python3
"""convlab export --to FILE.onnx, checked outside convlab: ONNX's own checker (python3-onnx, with
shape inference) accepts every export, and a numpy evaluator (tools/onnx_eval.py) running
convlab's re-export of each PyTorch fixture model (tests/fixtures/onnx) gives PyTorch's logits.

    /usr/bin/python3 tests/onnx_export_test.py --cli build/release/convlab
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from onnx_eval import run  # noqa: E402


def export(cli, model, out):
    r = subprocess.run([cli, "export", "--model", model, "--to", out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: convlab export --model {model}: {r.stderr.strip()}")
    onnx.checker.check_model(onnx.load(out), full_check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    a = p.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in sorted(glob.glob(os.path.join(ROOT, "models", "*.txt"))):
            out = os.path.join(tmp, os.path.basename(model) + ".onnx")
            export(a.cli, model, out)
            print(f"ok   {os.path.basename(model)}: export passes onnx.checker (full_check)")
        with open(os.path.join(HERE, "fixtures", "onnx.json")) as f:
            cases = json.load(f)["cases"]
        for c in cases:
            out = os.path.join(tmp, c["name"] + ".reexport.onnx")
            export(a.cli, os.path.join(HERE, "fixtures", c["file"]), out)
            x = np.array(c["input"]["values"], dtype=np.float32).reshape(c["input"]["shape"])
            want = np.array(c["logits"]["values"], dtype=np.float32).reshape(c["logits"]["shape"])
            got = run(out, x)
            diff = float(np.max(np.abs(got - want)))
            good = got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-4)
            failures += not good
            print(f"{'ok  ' if good else 'FAIL'} {c['name']}: PyTorch -> convlab -> ONNX, numpy evaluator "
                  f"vs PyTorch's logits, max difference {diff:.2e}")
    print(f"onnx_export_test: {len(cases) + len(glob.glob(os.path.join(ROOT, 'models', '*.txt')))} checks, "
          f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
