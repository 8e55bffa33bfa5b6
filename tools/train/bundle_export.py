"""Writes a trained Fashion-MNIST model as a cleave bundle: model.onnx (opset 13, BatchNorm kept
as its own node so `cleavectl model optimize` has work), bundle.toml with the measured test
accuracy, and sample.npy / sample-label.txt (test image 0). Shared by the training scripts."""
import os

import numpy as np
import torch

import fmnist


def write_bundle(out_dir, model, test_x, test_y, name, script, top1, comment=""):
    """`script`: the file that wrote it (named in bundle.toml); `comment`: extra '# ' lines."""
    os.makedirs(out_dir, exist_ok=True)
    model.eval()
    torch.onnx.export(model, torch.from_numpy(test_x[:1]), os.path.join(out_dir, "model.onnx"), opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    np.save(os.path.join(out_dir, "sample.npy"), test_x[:1])
    with open(os.path.join(out_dir, "sample-label.txt"), "w") as f:
        f.write(f"{test_y[0]} {fmnist.CLASSES[test_y[0]]}\n")
    with open(os.path.join(out_dir, "bundle.toml"), "w") as f:
        f.write(f"""# Written by {script}; do not edit by hand.
{comment}[bundle]
name = "{name}"
kind = "split"
model = "model.onnx"
input = "image: float32[1,1,28,28], pixels / 255"
classes = {fmnist.CLASSES!r}

[accuracy]
dataset = "Fashion-MNIST t10k (10000 images)"
top1 = {top1:.4f}
""".replace("'", '"'))
