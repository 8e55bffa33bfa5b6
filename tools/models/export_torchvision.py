#!/usr/bin/python3
"""Exports torchvision CNNs (random weights, fixed seed) to ONNX opset 13 at 1x3x224x224, with
a seeded input and PyTorch's own output beside each model, as .npy files.

These are test and benchmark fixtures, written into the build tree, never committed (resnet18
alone is 45 MB). Run with Debian's Python: /usr/bin/python3 tools/models/export_torchvision.py OUT_DIR
Writes OUT_DIR/<name>.onnx, OUT_DIR/<name>.input.npy, OUT_DIR/<name>.torch.npy; skips models
already exported.
"""
import os
import sys
import warnings

try:
    import numpy as np
    import torch
    import torchvision
except ImportError as missing:  # CTest reads exit code 77 as "skipped"
    print(f"skipped: {missing} (install python3-torch and python3-torchvision)")
    sys.exit(77)

MODELS = ["mobilenet_v2", "resnet18", "squeezenet1_1", "shufflenet_v2_x1_0"]


def export(name, out_dir):
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    if all(os.path.exists(os.path.join(out_dir, f"{name}{suffix}")) for suffix in (".onnx", ".input.npy", ".torch.npy")):
        return
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 224, 224, generator=generator)
    with torch.no_grad():
        y = model(x)
        tmp = onnx_path + ".tmp"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"], output_names=["output"],
                              do_constant_folding=True)
    np.save(os.path.join(out_dir, f"{name}.input.npy"), x.numpy())
    np.save(os.path.join(out_dir, f"{name}.torch.npy"), y.numpy())
    os.replace(tmp, onnx_path)  # last, so a half-written export is never taken as done
    print(f"exported {onnx_path}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "build/models/torchvision"
    names = sys.argv[2:] or MODELS
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name in names:
        export(name, out_dir)


if __name__ == "__main__":
    main()
