#!/usr/bin/python3
"""Writes bench/results/quantisation.md from run_quantisation_bench.sh's work folder: per model and
variant, the file's size, the weights' bytes, top-1 on the 10,000 test images (cleave and ONNX
Runtime), per-input latency medians, and how many output elements cleave's int8 run and ONNX
Runtime's differ by (in steps of the output's quantisation)."""
import argparse
import os
import re
import statistics

import numpy as np
import onnx
from onnx import numpy_helper

VARIANTS = [
    ("float32", "float32 (the trained model)"),
    ("float16", "float16 weights"),
    ("int8", "int8, min/max calibration (default)"),
    ("int8-percentile", "int8, 99.99th-percentile calibration"),
    ("integer-only", "integer-only (int8 input and output)"),
    ("prune-u30", "pruned 30%, unstructured"),
    ("prune-u50", "pruned 50%, unstructured"),
    ("prune-u70", "pruned 70%, unstructured"),
    ("prune-s30", "pruned 30%, structured"),
    ("prune-s50", "pruned 50%, structured"),
    ("prune-s70", "pruned 70%, structured"),
    ("prune-u30-int8", "pruned 30% unstructured, then int8"),
    ("prune-s30-int8", "pruned 30% structured, then int8"),
]
LATENCY = re.compile(r"per input median ([0-9.]+) ms")
STAGE_IMAGE = re.compile(r"as ([0-9]+) bytes")


def round_medians(log):
    """Each round's per-input median, in round order ([] when the runtime did not run)."""
    if not os.path.exists(log):
        return []
    return [float(m.group(1)) for m in LATENCY.finditer(open(log).read())]


def weight_bytes(path):
    return sum(numpy_helper.to_array(i).nbytes for i in onnx.load(path).graph.initializer)


def output_step(path):
    """The scale of the DequantizeLinear writing the model's output, or None for a float output."""
    model = onnx.load(path)
    out = model.graph.output[0].name
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.output[0] == out and node.op_type == "DequantizeLinear":
            return float(inits[node.input[1]])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--torchvision", default="")
    ap.add_argument("--meta", required=True, help="the run record bench_end wrote (markdown)")
    args = ap.parse_args()
    labels = np.load(args.labels)
    lines = ["# Quantisation: float16 and int8 against float32, and against ONNX Runtime on the same file", ""]
    lines += open(args.meta).read().splitlines() + [""]
    lines += [
        "Written by `bench/run_quantisation_bench.sh` (`make bench`). Each variant is made by "
        "`cleavectl model quantize` (calibration: 1,000 Fashion-MNIST training images) and run on all "
        "10,000 test images, batch 1, one thread, by `cleavectl model evaluate` and by ONNX Runtime "
        "(`bench/ort_evaluate.js`). Latency: the median per-input time, median over the rounds; "
        "cleave / ORT: the ratio within each round (the two ran back to back), median over the rounds. "
        "*Weights* are the initializers' bytes; *file* is the ONNX file, whose names and node records "
        "weigh more in a small model than the weights do; *stage image* is what `cleavectl model export-c` "
        "puts in a microcontroller's flash (weights in the kernels' layout, requantisation, tables). "
        "*vs float32* compares weight bytes. The nonn bundles are measured as one model, their students "
        "and fusion merged (`bench/nonn_merge.py`): quantised, the students' features are int8.",
        "",
        "For reference, the seed tutorial's Fashion-MNIST CNN reached about 89.2% in float and in int8. "
        "Pruning is per layer by magnitude and without retraining (the layers' share of weights, or of "
        "filters by L1 norm when structured; structured pruning keeps every filter whose channels meet a "
        "residual Add, so in fmnist-teacher it reaches 3 of 9 convolutions). Unstructured zeros are stored "
        "densely in ONNX and in stage images: they save nothing until the file is compressed.",
        "",
    ]
    agreement = []
    for model in args.models.split():
        base = os.path.join(args.work, model)
        float_weights = weight_bytes(f"{base}.float32.onnx")
        lines += [f"## {model}", "",
                  "| variant | file bytes | weight bytes | stage image bytes | vs float32 | top-1 cleave | top-1 ORT | cleave ms | ORT ms | cleave / ORT |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for variant, title in VARIANTS:
            path = f"{base}.{variant}.onnx"
            cleave_out = np.load(f"{base}.{variant}.cleave.npy").reshape(len(labels), -1)
            top1 = (cleave_out.argmax(1) == labels).mean()
            cleave_rounds = round_medians(f"{base}.{variant}.cleave.log")
            ort_rounds = round_medians(f"{base}.{variant}.ort.log")
            cleave_ms = statistics.median(cleave_rounds)
            ort_ms = statistics.median(ort_rounds) if ort_rounds else None
            # Paired within each round (the two ran back to back), then the median over rounds.
            ratio_ms = statistics.median(c / o for c, o in zip(cleave_rounds, ort_rounds)) if ort_rounds else None
            ort_top1 = "—"
            if os.path.exists(f"{base}.{variant}.ort.npy"):
                ort_out = np.load(f"{base}.{variant}.ort.npy").reshape(len(labels), -1)
                ort_top1 = f"{(ort_out.argmax(1) == labels).mean():.4f}"
                step = output_step(path)
                if step:
                    steps = np.rint(np.abs(cleave_out - ort_out) / step).astype(int)
                    counts = np.bincount(steps.ravel())
                    agreement.append((model, variant, steps.size, counts,
                                      (cleave_out.argmax(1) == ort_out.argmax(1)).mean()))
            weights = weight_bytes(path)
            export_log = f"{base}.{variant}.export.log"
            image = STAGE_IMAGE.search(open(export_log).read()) if os.path.exists(export_log) else None
            image_bytes = image.group(1) if image else "—"
            ratio = "—" if variant == "float32" else f"{float_weights / weights:.2f}x smaller"
            lines.append(
                f"| {title} | {os.path.getsize(path)} | {weights} | {image_bytes} | {ratio} | {top1:.4f} | {ort_top1} | "
                f"{cleave_ms:.4f} | {'—' if ort_ms is None else f'{ort_ms:.4f}'} | "
                f"{'—' if ratio_ms is None else f'{ratio_ms:.2f}'} |")
        lines.append("")
    lines += ["## cleave's int8 against ONNX Runtime's, element by element", "",
              "cleave requantises with TFLM's fixed-point arithmetic (halves away from zero), ONNX Runtime in "
              "float (halves to even), so a layer's output may differ by one step and the difference travels on "
              "through the layers behind it. Steps of the output's quantisation, over all 10 logits of all "
              "10,000 images:", "",
              "| model | variant | elements | equal | 1 step | 2 steps | 3+ steps | same top-1 class |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model, variant, total, counts, same in agreement:
        c = list(counts) + [0, 0, 0]
        lines.append(f"| {model} | {variant} | {total} | {c[0] / total:.2%} | {c[1] / total:.2%} | "
                     f"{c[2] / total:.3%} | {sum(c[3:]) / total:.3%} | {same:.2%} |")
    lines.append("")
    if args.torchvision:
        lines += ["## torchvision networks, int8, against ONNX Runtime", "",
                  "Random weights (tools/models/export_torchvision.py), quantised on 16 random normal images and run "
                  "on 8 others; `int8-float-fallback` where some ops have no int8 kernel (listed). Steps of the "
                  "output's quantisation over all 1,000 logits of the 8 images; latency per image, batch 1, one "
                  "thread. Random-weight networks amplify a one-step difference more than trained ones do: there "
                  "is nothing for the difference to be small against.", "",
                  "| network | float ops | equal | 1 step | 2-3 steps | 4+ steps | max | same top-1 | cleave ms | ORT ms | cleave / ORT |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for tv in args.torchvision.split():
            base = os.path.join(args.work, f"tv-{tv}")
            log = open(f"{base}.quantize.log").read()
            floats = re.findall(r"float: node '[^']*' \(([A-Za-z]+)\)", log)
            kinds = ", ".join(f"{floats.count(k)} {k}" for k in sorted(set(floats))) or "none"
            a = np.load(f"{base}.cleave.npy").reshape(8, -1)
            b = np.load(f"{base}.ort.npy").reshape(8, -1)
            steps = np.rint(np.abs(a - b) / output_step(f"{base}.onnx")).astype(int).ravel()
            total = steps.size
            c = [int(x) for x in np.bincount(steps, minlength=4)]
            cleave_rounds, ort_rounds = round_medians(f"{base}.cleave.log"), round_medians(f"{base}.ort.log")
            ratio = statistics.median(x / y for x, y in zip(cleave_rounds, ort_rounds))
            lines.append(f"| {tv} | {kinds} | {c[0] / total:.1%} | {c[1] / total:.1%} | {(c[2] + c[3]) / total:.1%} | "
                         f"{(total - sum(c[:4])) / total:.1%} | {steps.max()} | "
                         f"{(a.argmax(1) == b.argmax(1)).mean():.0%} | {statistics.median(cleave_rounds):.2f} | "
                         f"{statistics.median(ort_rounds):.2f} | {ratio:.2f} |")
        lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
