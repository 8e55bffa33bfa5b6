#!/usr/bin/python3
"""Trains models/fmnist-small: a three-block CNN (Conv-BN-ReLU, about 25k parameters) on
Fashion-MNIST, the runtime's small example and the demo's model until the teacher exists.

Reproducible: fixed seeds, one thread, deterministic algorithms. About two minutes on two cores.
    /usr/bin/python3 tools/train/train_fmnist_small.py models/fmnist-small
Writes model.onnx (BatchNorm kept as its own node, so `cleavectl model optimize` has work),
bundle.toml with the measured test accuracy, and sample.npy / sample-label.txt (test image 0).
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle_export  # noqa: E402
import fmnist  # noqa: E402

EPOCHS = 3
BATCH = 128


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def build():
    return nn.Sequential(block(1, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2), block(32, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(images[i:i + 1000])) for i in range(0, len(images), 1000)])
    return float((logits.argmax(1).numpy() == labels).mean())


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "models/fmnist-small"
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    train_x, train_y = fmnist.load("train")
    test_x, test_y = fmnist.load("t10k")
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        model.train()
        order = np.random.permutation(len(train_x))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(torch.from_numpy(train_x[idx])), torch.from_numpy(train_y[idx]))
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: test accuracy {accuracy(model, test_x, test_y):.4f}", flush=True)
    test_accuracy = accuracy(model, test_x, test_y)

    bundle_export.write_bundle(out_dir, model, test_x, test_y, "fmnist-small", "tools/train/train_fmnist_small.py",
                               test_accuracy)
    print(f"wrote {out_dir}: test accuracy {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
