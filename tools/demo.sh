#!/usr/bin/env bash
# `make demo` until the fleet exists: inspect the example Fashion-MNIST model, optimise it, and
# classify a test image with cleave's runtime.
set -euo pipefail
build=${1:-build}
cleavectl="$build/tools/cleavectl"
model=models/fmnist-small
out="$build/demo"
mkdir -p "$out"

echo "== cleavectl model inspect $model/model.onnx"
"$cleavectl" model inspect "$model/model.onnx"
echo
echo "== cleavectl model optimize (BatchNorm folded into Conv, ReLU fused)"
"$cleavectl" model optimize "$model/model.onnx" -o "$out/model.optimized.onnx"
echo
echo "== cleavectl model run on Fashion-MNIST test image 0 (label: $(cat "$model/sample-label.txt"))"
"$cleavectl" model run "$out/model.optimized.onnx" --input "$model/sample.npy" --output "$out/logits.npy" --repeat 200
classes=("T-shirt/top" "Trouser" "Pullover" "Dress" "Coat" "Sandal" "Shirt" "Sneaker" "Bag" "Ankle boot")
predicted=$("$cleavectl" model run "$out/model.optimized.onnx" --input "$model/sample.npy" | sed -n 's/.*argmax \([0-9]*\).*/\1/p')
echo "predicted class: $predicted ${classes[$predicted]}"
