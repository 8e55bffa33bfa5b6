#!/usr/bin/python3
"""Exports torchvision CNNs (random weights, fixed seed) to ONNX opset 13 at 1x3x224x224, with
a seeded input and PyTorch's own output beside each model, as .npy files. BatchNorm statistics
are set from random images first, so activations are of order 1 throughout (calibrate_batch_norm).

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

# The benchmark's networks first, then the rest of the conformance set.
MODELS = ["mobilenet_v2", "resnet18", "squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v3_small",
          "efficientnet_b0", "regnet_x_400mf", "mnasnet1_0", "googlenet", "densenet121"]
# Bumped whenever the way a fixture is made changes, so stale exports are made again.
FIXTURE_VERSION = "2"


def calibrate_batch_norm(model, generator):
    """Random initialisation leaves BatchNorm's running statistics at mean 0, variance 1, so
    activations shrink or vanish layer by layer (mobilenet_v3_small's outputs were ~1e-9 and
    googlenet's were its bias alone), and a comparison at 1e-3 would pass whatever the engine
    computed. A few training-mode passes over random images set the statistics to the data's,
    so every layer sees activations of order 1, as in a trained network."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the passes
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, 224, 224, generator=generator))
    model.eval()


def export(name, out_dir):
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    version_path = os.path.join(out_dir, f"{name}.fixture")
    current = open(version_path).read().strip() if os.path.exists(version_path) else ""
    if current == FIXTURE_VERSION and all(os.path.exists(os.path.join(out_dir, f"{name}{suffix}"))
                                          for suffix in (".onnx", ".input.npy", ".torch.npy")):
        return
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # googlenet's note about its future default initialisation
        model = getattr(torchvision.models, name)(weights=None)
    generator = torch.Generator().manual_seed(1)
    calibrate_batch_norm(model, generator)
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
    os.replace(tmp, onnx_path)
    with open(version_path, "w") as f:  # last, so a half-written export is never taken as done
        f.write(FIXTURE_VERSION + "\n")
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
