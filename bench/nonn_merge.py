#!/usr/bin/python3
"""Merges a nonn bundle's students and fusion into one ONNX model (image -> every student ->
fusion -> logits) for run_quantisation_bench.sh, so the quantisation pipeline and both runtimes
treat the whole NoNN system as one model. Quantised as one graph, the students' feature vectors
become int8 tensors: what would cross the links between their devices.
Usage: nonn_merge.py BUNDLE_DIR OUT.onnx"""
import os
import sys

import onnx
from onnx import helper

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


def students_of(bundle):
    text = open(os.path.join(bundle, "bundle.toml")).read()
    if tomllib:
        manifest = tomllib.loads(text)
        return [s["model"] for s in manifest["student"]], manifest["bundle"]["fusion"]
    import re
    return re.findall(r'^model = "(student\d+\.onnx)"', text, re.M), "fusion.onnx"


def renamed(graph, prefix, keep):
    """The graph's nodes and initializers with every value name except `keep` prefixed."""
    def name(value):
        return value if (value in keep or value == "") else prefix + value
    nodes = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [name(v) for v in node.input]
        copy.output[:] = [name(v) for v in node.output]
        nodes.append(copy)
    inits = []
    for init in graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = name(init.name)
        inits.append(copy)
    return nodes, inits


def main():
    bundle, out = sys.argv[1], sys.argv[2]
    students, fusion_file = students_of(bundle)
    nodes, inits = [], []
    image = None
    for i, file in enumerate(students):
        g = onnx.load(os.path.join(bundle, file)).graph
        image = g.input[0]
        n, t = renamed(g, f"s{i}_", {g.input[0].name, g.output[0].name})
        nodes += n
        inits += t
    fusion = onnx.load(os.path.join(bundle, fusion_file)).graph
    n, t = renamed(fusion, "fusion_", {v.name for v in fusion.input} | {fusion.output[0].name})
    nodes += n
    inits += t
    graph = helper.make_graph(nodes, os.path.basename(bundle.rstrip("/")), [image], [fusion.output[0]], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main()
