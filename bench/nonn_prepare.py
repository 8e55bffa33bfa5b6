#!/usr/bin/python3
"""Inputs for bench/run_nonn_bench.sh, written before anything is timed:

  WORK/images/I.npy     the first COUNT Fashion-MNIST test images, one float32[1,1,28,28] file each
                        (pixels / 255, as every fmnist bundle reads them), for `cleavectl infer`;
  WORK/reference.json   their labels, and the top-1 class the teacher and the four students fused
                        give for each, evaluated from the ONNX files by tools/train/nonn_reference.py
                        (numpy, float64): what the fleet's answers are checked against; and the
                        teacher's size as trained (its manifest has none): parameters, and Conv and
                        Gemm MACs per image as the students' manifests count them;
  WORK/layerwise.txt    the cuts of the teacher's layer-wise split over all four Pis (below).

Usage: bench/nonn_prepare.py BUILD_DIR WORK COUNT TEACHER_INSPECT_JSON

The images come from BUILD_DIR/data/fmnist-t10k-images.npy (written by the build) or else from
Debian's dataset-fashion-mnist package, read as the training scripts read it.

The layer-wise split. The planner's best `split` keeps the whole teacher on one Pi: on identical
devices, cutting a model only adds transfers to one request's latency. The paper's baseline is
the teacher spread over the devices, layer by layer, as when no one device can hold it; here each
Pi gets about a quarter of the teacher's MACs (the largest share as small as it can be, within 1%;
among those, the fewest bytes sent), from the cost report `cleavectl model inspect --optimize
--json` prints, i.e. of the graph as it runs."""
import itertools
import json
import os
import sys

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import fmnist  # noqa: E402
import nonn_reference  # noqa: E402

TEACHER = os.path.join(ROOT, "models", "fmnist-teacher", "model.onnx")
NONN = os.path.join(ROOT, "models", "fmnist-nonn-4")
STUDENTS = 4
PIS = 4
BATCH = 100  # im2col of the teacher's first layers: ~90 MB of float64 per 100 images
BALANCE_SLACK = 1.01


def nonn_top1(images):
    features, names = [], []
    for i in range(STUDENTS):
        student = onnx.load(os.path.join(NONN, f"student{i}.onnx"))
        features.append(nonn_reference.run_batched(student, "image", images, BATCH))
        names.append(student.graph.output[0].name)
    fusion = onnx.load(os.path.join(NONN, "fusion.onnx"))
    logits = nonn_reference.run(fusion, dict(zip(names, features)))[0]["logits"]
    return logits.argmax(1)


def trained_parameters(model):
    """Parameters as PyTorch counts them: every initializer but BatchNorm's running statistics, and
    each initializer an Identity node shares (the exporter stores a tensor used twice that way)."""
    sizes = {i.name: int(np.prod(i.dims)) for i in model.graph.initializer}
    statistics = {name for n in model.graph.node if n.op_type == "BatchNormalization" for name in n.input[3:5]}
    shared = sum(sizes[n.input[0]] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in sizes)
    return sum(size for name, size in sizes.items() if name not in statistics) + shared


def layerwise_cuts(report):
    """Cut positions (PIS - 1 of them) giving every Pi at least one node and about equal MACs."""
    macs = [node["macs"] for node in report["nodes"]]
    sent = {cut["position"]: cut["bytes"] for cut in report["cuts"]}
    prefix = np.concatenate([[0], np.cumsum(macs)])
    options = []
    for cuts in itertools.combinations(range(1, len(macs)), PIS - 1):
        bounds = (0,) + cuts + (len(macs),)
        largest = max(prefix[b] - prefix[a] for a, b in zip(bounds, bounds[1:]))
        options.append((largest, sum(sent[c] for c in cuts), cuts))
    least = min(largest for largest, _, _ in options)
    _, _, cuts = min(o for o in options if o[0] <= BALANCE_SLACK * least)
    return list(cuts)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.split("\n\n")[2])
    build_dir, work, count, inspect_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    images, labels = fmnist.load_test_images(build_dir, count, "nonn_prepare")
    os.makedirs(os.path.join(work, "images"), exist_ok=True)
    for i, image in enumerate(images):
        np.save(os.path.join(work, "images", f"{i}.npy"), image[np.newaxis])
    teacher_model = onnx.load(TEACHER)
    teacher = nonn_reference.run_batched(teacher_model, "image", images, BATCH).argmax(1)
    reference = {"labels": labels.tolist(), "teacher": teacher.tolist(), "nonn": nonn_top1(images).tolist(),
                 "teacher_parameters": trained_parameters(teacher_model),
                 "teacher_macs": nonn_reference.macs_per_image(teacher_model, {"image": images[:1]})}
    with open(os.path.join(work, "reference.json"), "w") as out:
        json.dump(reference, out)
    with open(inspect_json) as f:
        cuts = layerwise_cuts(json.load(f))
    with open(os.path.join(work, "layerwise.txt"), "w") as out:
        out.write(",".join(str(c) for c in cuts) + "\n")


if __name__ == "__main__":
    main()
