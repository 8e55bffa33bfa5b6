#!/usr/bin/python3
"""Trains models/fmnist-teacher: a small ResNet on Fashion-MNIST, the demo's model. The planner
splits it across a camera board, two Pis and a cloud, so its shape is chosen for interesting cut
points: a stem conv, then three stages of residual blocks at 28x28, 14x14 and 7x7 with widening
channels (activations shrink stage by stage, and a cut inside a block carries the skip tensor too),
global average pool, linear 10.

Reproducible: fixed seeds, two threads, deterministic algorithms; one command, under 20 minutes on
two cores (the time measured, and the machine's load meanwhile, are written into bundle.toml):
    /usr/bin/python3 tools/train/train_fmnist_teacher.py models/fmnist-teacher
Writes model.onnx (BatchNorm kept as its own node, so `cleavectl model optimize` has work),
bundle.toml with the measured test accuracy, and sample.npy / sample-label.txt (test image 0).
"""
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning: on a shared two-core machine a spinning thread
# burns the time slice its partner needs, which made epochs up to five times slower under load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle_export  # noqa: E402
import fmnist  # noqa: E402

EPOCHS = 12
EVAL_EVERY = 4  # epochs between test-set reports (each costs a few seconds)
BATCH = 256
THREADS = 2
WIDTHS = (16, 32, 64)  # channels at 28x28, 14x14, 7x7
BLOCKS = (1, 1, 1)  # residual blocks per stage
MAX_LR = 0.2
WEIGHT_DECAY = 5e-4
PAD = 2  # random-crop padding


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the input, then ReLU; a 1x1 conv-BN projects the skip when the
    block changes width or resolution (stride 2), as in He et al.'s ResNet."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.project = None
        if stride != 1 or cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        skip = x if self.project is None else self.project(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + skip)


def build():
    layers = [nn.Conv2d(1, WIDTHS[0], 3, padding=1, bias=False), nn.BatchNorm2d(WIDTHS[0]), nn.ReLU()]
    cin = WIDTHS[0]
    for stage, (width, blocks) in enumerate(zip(WIDTHS, BLOCKS)):
        for b in range(blocks):
            layers.append(BasicBlock(cin, width, 2 if stage > 0 and b == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def augment(padded, idx, rng):
    """Random 28x28 crop of the zero-padded images (shift of up to PAD pixels) and a random
    horizontal flip: Fashion-MNIST's classes are all left-right symmetric."""
    dy = rng.integers(0, 2 * PAD + 1, len(idx))
    dx = rng.integers(0, 2 * PAD + 1, len(idx))
    flip = rng.random(len(idx)) < 0.5
    out = np.empty((len(idx), 1, 28, 28), dtype=np.float32)
    for k, i in enumerate(idx):
        crop = padded[i, :, dy[k]:dy[k] + 28, dx[k]:dx[k] + 28]
        out[k] = crop[:, :, ::-1] if flip[k] else crop
    return torch.from_numpy(out)


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(images[i:i + 1000])) for i in range(0, len(images), 1000)])
    return float((logits.argmax(1).numpy() == labels).mean())


def train(model, train_x, train_y, test_x, test_y, epochs):
    """SGD with Nesterov momentum under a one-cycle schedule. Returns the 1-minute load averages
    sampled after each epoch, so the bundle can say how busy the machine was."""
    rng = np.random.default_rng(0)
    padded = np.pad(train_x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    steps = (len(train_x) + BATCH - 1) // BATCH
    optimizer = torch.optim.SGD(model.parameters(), lr=MAX_LR, momentum=0.9, nesterov=True,
                                weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, epochs=epochs, steps_per_epoch=steps)
    loss_fn = nn.CrossEntropyLoss()
    loads = []
    for epoch in range(epochs):
        start_time = time.monotonic()
        model.train()
        order = rng.permutation(len(train_x))
        total_loss = 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(augment(padded, idx, rng)), torch.from_numpy(train_y[idx]))
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
        loads.append(os.getloadavg()[0])
        report = f"epoch {epoch + 1}/{epochs}: {time.monotonic() - start_time:.0f} s, load {loads[-1]:.1f}, " \
                 f"train loss {total_loss / len(order):.4f}"
        if (epoch + 1) % EVAL_EVERY == 0 and epoch + 1 < epochs:
            report += f", test accuracy {accuracy(model, test_x, test_y):.4f}"
        print(report, flush=True)
    return loads


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "models/fmnist-teacher"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else EPOCHS  # a shorter run, only to time an epoch
    begin = time.monotonic()
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    train_x, train_y = fmnist.load("train")
    test_x, test_y = fmnist.load("t10k")
    model = build()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{parameters} parameters, {epochs} epochs, {THREADS} threads", flush=True)
    loads = train(model, train_x, train_y, test_x, test_y, epochs)
    test_accuracy = accuracy(model, test_x, test_y)
    minutes = (time.monotonic() - begin) / 60

    comment = (f"# Trained in {minutes:.1f} min wall time with {THREADS} threads ({epochs} epochs, {parameters} parameters) on a\n"
               f"# shared 2-core machine: 1-minute load average {min(loads):.1f} to {max(loads):.1f} (mean {np.mean(loads):.1f}).\n")
    bundle_export.write_bundle(out_dir, model, test_x, test_y, "fmnist-teacher", "tools/train/train_fmnist_teacher.py",
                               test_accuracy, comment)
    print(f"wrote {out_dir}: test accuracy {test_accuracy:.4f}, {minutes:.1f} min")


if __name__ == "__main__":
    main()
