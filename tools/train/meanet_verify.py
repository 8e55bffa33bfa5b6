#!/usr/bin/python3
"""Checks an early_exit bundle written by train_fmnist_meanet.py from its files alone, without PyTorch:
  - every block's ONNX file passes onnx.checker (full check), uses only ops cleave runs, and has the tensor names
    bundle.toml says: inputs are `image` or tensors an earlier block forwards; outputs are the block's `exit` and
    its `forward` list; `parameters` and `macs` match the file;
  - the blocks are run on the held-out split (Fashion-MNIST train images 50000..59999) and on the t10k test set
    with the numpy evaluator (nonn_reference.py), and the WHOLE statistics tables (exit_stats.csv and
    exit_stats_t10k.csv: every threshold combination, the count finishing at each exit and how many of those
    are right) are recomputed and compared with the committed CSVs count by count;
  - `hard_classes` is recomputed (the HARD_COUNT classes with the lowest exit-0 accuracy on the held-out split)
    and `exit_top1` (each exit's t10k top-1) must match within 0.0005;
  - sample.npy / sample-label.txt are test image 0 and its label.
    /usr/bin/python3 tools/train/meanet_verify.py models/fmnist-meanet
Exits non-zero on the first mismatch. Near ties: the training script writes the tables with these same functions
from these same ONNX files, so they should match exactly; up to MAX_FLIPS images per table row may still fall the
other way (a confidence within an ulp of a threshold, or an argmax tie, on another numpy/BLAS build), and how
many did is printed.

The exit rule, shared with the training script (and the one cleave's runtime implements): a request finishes at
block k (every block but the last) when the maximum softmax of exit_k's logits is >= threshold_k, with the
logits rounded to float32 and p = 1 / sum_j exp(l_j - max_l) computed in float32 (the sum accumulated in class
order); p is then compared with the threshold as a double. Threshold 0 always exits, any threshold > 1 never
does; the last block always answers. The predicted class is the argmax of the float32 logits (first on a tie).
"""
import argparse
import itertools
import os
import sys
import tomllib

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import nonn_reference  # noqa: E402

OPS = {"Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm",
       "MatMul", "Concat", "Identity"}
HELD_OUT = (50000, 60000)  # Fashion-MNIST train images held out as the calibration split
HARD_COUNT = 4  # hard classes: this many with the lowest exit-0 accuracy on the held-out split
ACCURACY_TOLERANCE = 0.0005
MAX_FLIPS = 3  # images per table row allowed to fall the other way of a near tie
EVAL_BATCH = 500
HEADER = ["exited_{k}", "correct_{k}"]


def fail(message):
    sys.exit(f"meanet_verify: {message}")


def confidence(logits):
    """Max softmax per row, exactly as the runtime computes it: float32 throughout, sum in class order."""
    logits = np.asarray(logits).astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    total = np.zeros(len(logits), dtype=np.float32)
    for j in range(logits.shape[1]):
        total += e[:, j]
    return np.float32(1.0) / total


def predictions(logits):
    return np.asarray(logits).astype(np.float32).argmax(axis=1)


def exit_table(logits, labels, thresholds):
    """logits: one [N, 10] array per block; thresholds: one candidate list per block but the last.
    Returns a list of rows (threshold tuple, [exited_0, correct_0, ..., exited_K-1, correct_K-1])."""
    confident = [confidence(l).astype(np.float64) for l in logits[:-1]]
    right = [predictions(l) == labels for l in logits]
    rows = []
    for combination in itertools.product(*thresholds):
        remaining = np.ones(len(labels), dtype=bool)
        counts = []
        for k in range(len(logits)):
            finish = remaining & (confident[k] >= combination[k]) if k < len(logits) - 1 else remaining
            counts += [int(finish.sum()), int((finish & right[k]).sum())]
            remaining &= ~finish
        rows.append((combination, counts))
    return rows


def header(blocks):
    return ",".join([f"t{k}" for k in range(blocks - 1)] + [h.format(k=k) for k in range(blocks) for h in HEADER])


def write_csv(path, rows, blocks, comment):
    with open(path, "w") as f:
        f.write(f"# {comment}\n{header(blocks)}\n")
        for combination, counts in rows:
            f.write(",".join([repr(float(t)) for t in combination] + [str(c) for c in counts]) + "\n")


def read_csv(path, blocks):
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f]
    if not lines or not lines[0].startswith("#"):
        fail(f"{path}: the first line is not a '#' comment")
    if lines[1] != header(blocks):
        fail(f"{path}: header {lines[1]!r}, expected {header(blocks)!r}")
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        cells = line.split(",")
        if len(cells) != blocks - 1 + 2 * blocks:
            fail(f"{path}:{number}: {len(cells)} cells")
        rows.append((tuple(float(c) for c in cells[:blocks - 1]), [int(c) for c in cells[blocks - 1:]]))
    return lines[0], rows


def run_blocks(models, manifest_blocks, images):
    """Every block on `images`, inputs routed by name. Returns (exit logits per block, all tensors by name)."""
    tensors = {"image": images}
    exits = []
    for model, entry in zip(models, manifest_blocks):
        inputs = graph_inputs(model)
        outputs = [o.name for o in model.graph.output]
        values = {name: [] for name in outputs}
        for start in range(0, len(images), EVAL_BATCH):
            got = nonn_reference.run(model, {n: tensors[n][start:start + EVAL_BATCH] for n in inputs})[0]
            for name in outputs:
                values[name].append(got[name])
        for name in outputs:
            tensors[name] = np.concatenate(values[name])
        exits.append(tensors[entry["exit"]])
    return exits, tensors


def graph_inputs(model):
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def hard_classes(exit0_logits, labels, count=HARD_COUNT):
    """The `count` classes with the lowest exit-0 accuracy (ties: the lower class index), in ascending index."""
    right = predictions(exit0_logits) == labels
    per_class = np.array([right[labels == c].mean() for c in range(10)])
    return sorted(int(c) for c in np.argsort(per_class, kind="stable")[:count]), per_class


def count_parameters(model):
    """Parameters as PyTorch counts them: Conv/Gemm weights and biases and BatchNorm scales and shifts (not the
    running statistics), each under the name its node reads it by."""
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:  # the exporter stores a parameter equal to another as an Identity of it
        if node.op_type == "Identity" and node.input[0] in initializers:
            initializers[node.output[0]] = initializers[node.input[0]]
    used = set()
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            used.update(n for n in node.input[1:] if n in initializers)
        elif node.op_type == "BatchNormalization":
            used.update(n for n in node.input[1:3] if n in initializers)
    return int(sum(initializers[n].size for n in used))


def load_checked(path, inputs_allowed, outputs):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    if not ops <= OPS:
        fail(f"{path}: ops {sorted(ops - OPS)} are outside the set cleave runs")
    if model.opset_import[0].version != 13:
        fail(f"{path}: opset {model.opset_import[0].version}, expected 13")
    inputs = graph_inputs(model)
    if not inputs or not set(inputs) <= inputs_allowed:
        fail(f"{path}: inputs {inputs}, expected some of {sorted(inputs_allowed)}")
    names = sorted(o.name for o in model.graph.output)
    if names != sorted(outputs):
        fail(f"{path}: outputs {names}, expected {sorted(outputs)}")
    for o in model.graph.output:
        if o.name.startswith("exit") or o.name == "logits":
            shape = [d.dim_value for d in o.type.tensor_type.shape.dim]
            if shape != [1, 10]:
                fail(f"{path}: output {o.name} has shape {shape}, expected [1, 10]")
    return model


def compare(path, stated, measured, split):
    """Compares two tables row by row; returns the largest number of images any row moved."""
    if [r[0] for r in stated] != [r[0] for r in measured]:
        fail(f"{path}: the threshold combinations are not those of bundle.toml in order")
    worst, rows_off = 0, 0
    for (combination, a), (_, b) in zip(stated, measured):
        moved = (sum(abs(x - y) for x, y in zip(a, b)) + 1) // 2
        if moved:
            rows_off += 1
            worst = max(worst, moved)
        if moved > MAX_FLIPS:
            fail(f"{path}: thresholds {combination}: {a} in the file, {b} from the ONNX files")
    print(f"{split}: {len(stated)} rows recomputed, {rows_off} differ, by at most {worst} image(s)")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    args = parser.parse_args()
    with open(os.path.join(args.bundle, "bundle.toml"), "rb") as f:
        manifest = tomllib.load(f)
    bundle = manifest["bundle"]
    if bundle["kind"] != "early_exit" or bundle["confidence"] != "max_softmax":
        fail(f"{args.bundle}: kind {bundle['kind']!r}, confidence {bundle.get('confidence')!r}")
    if bundle["classes"] != fmnist.CLASSES:
        fail(f"{args.bundle}: classes {bundle['classes']}")
    blocks = manifest["block"]
    if len(blocks) < 2:
        fail(f"{args.bundle}: {len(blocks)} blocks")
    available = {"image"}
    models = []
    for k, entry in enumerate(blocks):
        last = k == len(blocks) - 1
        path = os.path.join(args.bundle, entry["model"])
        if last != ("thresholds" not in entry) or (last and entry["forward"]):
            fail(f"{path}: only the last block has no thresholds and forwards nothing")
        model = load_checked(path, available, [entry["exit"]] + entry["forward"])
        available |= set(entry["forward"])
        models.append(model)
        parameters = count_parameters(model)
        macs = nonn_reference.macs_per_image(
            model, {n: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32)
                    for i in model.graph.input for n in [i.name] if n in graph_inputs(model)})
        if (parameters, macs) != (entry["parameters"], entry["macs"]):
            fail(f"{path}: {parameters} parameters and {macs} MACs, bundle.toml says {entry['parameters']} and "
                 f"{entry['macs']}")
        print(f"block {k}: {entry['model']}, {graph_inputs(model)} -> {[o.name for o in model.graph.output]}, "
              f"{parameters} parameters, {macs} MACs, ops {sorted({n.op_type for n in model.graph.node})}")
    thresholds = [b["thresholds"] for b in blocks[:-1]]
    for t in thresholds:
        if 0.0 not in t or max(t) <= 1.0 or t != sorted(t):
            fail(f"{args.bundle}: thresholds {t} must be ascending and include 0.0 and a value > 1")

    train_x, train_y = fmnist.load("train")
    test_x, test_y = fmnist.load("t10k")
    held_x, held_y = train_x[HELD_OUT[0]:HELD_OUT[1]], train_y[HELD_OUT[0]:HELD_OUT[1]]
    worst = 0
    for split, name, x, y in (("held-out", bundle["statistics"], held_x, held_y),
                              ("t10k", "exit_stats_t10k.csv", test_x, test_y)):
        exits, _ = run_blocks(models, blocks, x)
        comment, stated = read_csv(os.path.join(args.bundle, name), len(blocks))
        if f"({len(y)} " not in comment:
            fail(f"{name}: the comment line does not give the count {len(y)}: {comment}")
        worst = max(worst, compare(name, stated, exit_table(exits, y, thresholds), split))
        if split == "held-out":
            hard, per_class = hard_classes(exits[0], y)
            print("held-out exit-0 accuracy per class: " + ", ".join(f"{c} {a:.4f}" for c, a in enumerate(per_class)))
            if hard != bundle["hard_classes"]:
                fail(f"hard classes from the ONNX files are {hard}, bundle.toml says {bundle['hard_classes']}")
        else:
            top1 = [float((predictions(l) == y).mean()) for l in exits]
            for k, (a, b) in enumerate(zip(manifest["accuracy"]["exit_top1"], top1)):
                print(f"exit {k} t10k top-1: bundle.toml {a:.4f}, ONNX files {b:.4f}")
                if abs(a - b) > ACCURACY_TOLERANCE:
                    fail(f"exit {k}: t10k top-1 {b:.4f} from the ONNX files, bundle.toml says {a:.4f}")
    sample = np.load(os.path.join(args.bundle, "sample.npy"))
    with open(os.path.join(args.bundle, "sample-label.txt")) as f:
        label = int(f.read().split()[0])
    if not np.array_equal(sample, test_x[:1]) or label != test_y[0]:
        fail(f"{args.bundle}: sample.npy / sample-label.txt are not test image 0")
    print(f"{args.bundle}: ok (near-tie flips: at most {worst} image(s) in any row)")


if __name__ == "__main__":
    main()
