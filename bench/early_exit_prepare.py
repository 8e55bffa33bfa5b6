#!/usr/bin/python3
"""Inputs for bench/run_early_exit_bench.sh, written before anything is timed:

  WORK/images/I.npy       the first COUNT Fashion-MNIST test images, one float32[1,1,28,28] file each
                          (pixels / 255, as every fmnist bundle reads them), for `cleavectl infer`;
  WORK/reference.npz      their labels, and every block's logits (exit_0, exit_1, and the teacher's,
                          block 2) evaluated from the bundle's ONNX files in numpy, float64, rounded to
                          float32 (tools/train/meanet_verify.py's evaluator, tools/train/nonn_reference.py):
                          what the fleet's answers are checked against;
  WORK/trace-OFFSET.csv   for each OFFSET (whole seconds), configs/traces/lte-drive.csv rotated to start
                          OFFSET seconds in (the trace repeats with its period), so that each round of the
                          benchmark replays another part of it.

Usage: bench/early_exit_prepare.py BUILD_DIR WORK COUNT TRACE OFFSET[,OFFSET...]

The images come from BUILD_DIR/data/fmnist-t10k-images.npy (written by the build) or else from
Debian's dataset-fashion-mnist package, read as the training scripts read it."""
import os
import sys
import tomllib

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import meanet_verify  # noqa: E402
import fmnist  # noqa: E402
import nonn_reference  # noqa: E402

BUNDLE = os.path.join(ROOT, "models", "fmnist-meanet")
BATCH = 100  # im2col of the teacher's first layers: ~90 MB of float64 per 100 images


def block_logits(images):
    """Every block's exit logits on `images`, inputs routed by name as the cascade routes them."""
    with open(os.path.join(BUNDLE, "bundle.toml"), "rb") as f:
        blocks = tomllib.load(f)["block"]
    models = [onnx.load(os.path.join(BUNDLE, b["model"])) for b in blocks]
    exits = [[] for _ in blocks]
    for start in range(0, len(images), BATCH):
        tensors = {"image": images[start:start + BATCH]}
        for k, (model, entry) in enumerate(zip(models, blocks)):
            got = nonn_reference.run(model, {n: tensors[n] for n in meanet_verify.graph_inputs(model)})[0]
            tensors.update(got)
            exits[k].append(got[entry["exit"]])
    return np.stack([np.concatenate(e).astype(np.float32) for e in exits])


def read_trace(path):
    rows = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("time_s"):
            continue
        t, bw, rtt = (float(x) for x in line.split(","))
        rows.append((t, bw, rtt))
    return rows


def rotate(rows, offset):
    """The trace as seen from `offset` seconds in: same rows, times shifted modulo the period."""
    period = rows[-1][0] + (rows[-1][0] - rows[-2][0])
    offset %= period
    # The row in force at `offset` starts the rotated trace at 0.
    current = max(i for i, r in enumerate(rows) if r[0] <= offset)
    out = [(0.0, rows[current][1], rows[current][2])]
    for t, bw, rtt in rows[current + 1:] + [(t + period, bw, rtt) for t, bw, rtt in rows]:
        if t - offset >= period:
            break
        out.append((t - offset, bw, rtt))
    return out


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__.split("\n\n")[1])
    build_dir, work, count, trace, offsets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    images, labels = fmnist.load_test_images(build_dir, count, "early_exit_prepare")
    os.makedirs(os.path.join(work, "images"), exist_ok=True)
    for i, image in enumerate(images):
        np.save(os.path.join(work, "images", f"{i}.npy"), image[np.newaxis])
    np.savez(os.path.join(work, "reference.npz"), labels=labels, logits=block_logits(images))
    rows = read_trace(trace)
    for offset in (int(x) for x in offsets.split(",")):
        with open(os.path.join(work, f"trace-{offset}.csv"), "w") as out:
            out.write(f"# {os.path.basename(trace)} rotated to start {offset} s in (bench/early_exit_prepare.py)\n")
            out.write("time_s,bandwidth_bps,rtt_ms\n")
            for t, bw, rtt in rotate(rows, offset):
                out.write(f"{t:g},{bw:.0f},{rtt:g}\n")


if __name__ == "__main__":
    main()
