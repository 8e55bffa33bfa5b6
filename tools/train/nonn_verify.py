#!/usr/bin/python3
"""Checks a nonn bundle written by train_fmnist_nonn.py from its files alone, without PyTorch:
  - every ONNX file passes onnx.checker, uses only ops cleave runs, and has the tensor names bundle.toml says;
  - the accuracy table in bundle.toml (every student fused, each alone, each missing) is recomputed on the full
    Fashion-MNIST test set with the numpy evaluator (nonn_reference.py) and must match within 0.0005;
  - with --cleavectl, cleave's own runtime runs each student and the whole NoNN (the students and the fusion
    merged into one graph, since `cleavectl model run` takes one input) on the first test images, and must
    agree with the numpy evaluator within 1e-4.
    /usr/bin/python3 tools/train/nonn_verify.py models/fmnist-nonn-4 [--cleavectl build-dev/tools/cleavectl]
Exits non-zero on the first mismatch."""
import argparse
import os
import subprocess
import sys
import tempfile
import tomllib

import numpy as np
import onnx
from onnx import helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import nonn_reference  # noqa: E402

OPS = {"Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm",
       "MatMul", "Concat", "Identity"}
ACCURACY_TOLERANCE = 0.0005  # float64 here, float32 in training: a few near-ties may fall the other way
OUTPUT_TOLERANCE = 1e-4


def fail(message):
    sys.exit(f"nonn_verify: {message}")


def load_checked(path, inputs, output):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    if not ops <= OPS:
        fail(f"{path}: ops {sorted(ops - OPS)} are outside the set cleave runs")
    names = ([i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}],
             [o.name for o in model.graph.output])
    if names != (inputs, [output]):
        fail(f"{path}: inputs/outputs {names}, expected {inputs} -> {output}")
    return model


def accuracy(fusion, names, features, labels, present):
    feeds = {n: f * p for n, f, p in zip(names, features, present)}
    logits = nonn_reference.run(fusion, feeds)[0]["logits"]
    return float((logits.argmax(1) == labels).mean())


def merged_graph(students, fusion):
    """One graph image -> logits: every student's nodes and initializers renamed apart, then the fusion."""
    nodes, initializers = [], []

    def rename(model, prefix, keep):
        def name(n):
            return n if n in keep or not n else prefix + n
        for t in model.graph.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(t)
            copy.name = name(t.name)
            initializers.append(copy)
        for node in model.graph.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = name(node.name) if node.name else ""
            copy.input[:] = [name(n) for n in node.input]
            copy.output[:] = [name(n) for n in node.output]
            nodes.append(copy)

    outputs = [s.graph.output[0].name for s in students]
    for i, s in enumerate(students):
        rename(s, f"student{i}/", {"image", outputs[i]})
    rename(fusion, "fusion/", set(outputs) | {"logits"})
    graph = helper.make_graph(nodes, "nonn", [students[0].graph.input[0]], [fusion.graph.output[0]], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)
    return model


def run_cleavectl(cleavectl, model_path, image, workdir):
    image_path, out_path = os.path.join(workdir, "image.npy"), os.path.join(workdir, "out.npy")
    np.save(image_path, image)
    subprocess.run([cleavectl, "model", "run", model_path, "--input", image_path, "--output", out_path],
                   check=True, capture_output=True, text=True)
    return np.load(out_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--cleavectl", help="cleave's CLI, to run the graphs with cleave's runtime too")
    parser.add_argument("--images", type=int, default=20, help="test images to run through cleavectl")
    args = parser.parse_args()
    with open(os.path.join(args.bundle, "bundle.toml"), "rb") as f:
        manifest = tomllib.load(f)
    if manifest["bundle"]["kind"] != "nonn":
        fail(f"{args.bundle}: kind is {manifest['bundle']['kind']!r}, not 'nonn'")
    entries = manifest["student"]
    names = [s["output"] for s in entries]
    students = [load_checked(os.path.join(args.bundle, s["model"]), ["image"], s["output"]) for s in entries]
    fusion = load_checked(os.path.join(args.bundle, manifest["bundle"]["fusion"]), names, "logits")
    filters = sorted(f for s in entries for f in s["filters"])
    if filters != list(range(64)):
        fail(f"{args.bundle}: the students' filter groups do not partition the teacher's 64 filters")

    test_x, test_y = fmnist.load("t10k")
    features = [nonn_reference.run_batched(s, "image", test_x) for s in students]
    k = len(students)
    rows = [("top1", manifest["accuracy"]["top1"], [1.0] * k)]
    for i, s in enumerate(entries):
        rows.append((f"student {i} alone", s["top1_alone"], [float(j == i) for j in range(k)]))
        rows.append((f"student {i} missing", s["top1_without"], [float(j != i) for j in range(k)]))
    for label, stated, present in rows:
        measured = accuracy(fusion, names, features, test_y, present)
        print(f"{label}: bundle.toml {stated:.4f}, ONNX files {measured:.4f}")
        if abs(measured - stated) > ACCURACY_TOLERANCE:
            fail(f"{args.bundle}: {label} is {measured:.4f} from the ONNX files, bundle.toml says {stated:.4f}")
    for s, model in zip(entries, students):
        macs = nonn_reference.macs_per_image(model, {"image": test_x[:1]})
        if macs != s["macs"]:
            fail(f"{s['model']}: {macs} MACs, bundle.toml says {s['macs']}")

    if args.cleavectl:
        whole = merged_graph(students, fusion)
        with tempfile.TemporaryDirectory() as workdir:
            whole_path = os.path.join(workdir, "nonn.onnx")
            onnx.save(whole, whole_path)
            worst = 0.0
            for n in range(args.images):
                image = test_x[n:n + 1]
                for i, s in enumerate(entries):
                    got = run_cleavectl(args.cleavectl, os.path.join(args.bundle, s["model"]), image, workdir)
                    worst = max(worst, float(np.abs(got - features[i][n:n + 1]).max()))
                got = run_cleavectl(args.cleavectl, whole_path, image, workdir)
                expected = nonn_reference.run(fusion, {name: f[n:n + 1] for name, f in zip(names, features)})[0]
                worst = max(worst, float(np.abs(got - expected["logits"]).max()))
            print(f"cleavectl: students and merged NoNN within {worst:.1e} of the numpy evaluator on {args.images} "
                  f"test images")
            if worst > OUTPUT_TOLERANCE:
                fail(f"{args.bundle}: cleave's runtime differs from the numpy evaluator by {worst:.2e}")
    print(f"{args.bundle}: ok")


if __name__ == "__main__":
    main()
