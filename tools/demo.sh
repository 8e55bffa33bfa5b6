#!/usr/bin/env bash
# `make demo` until the fleet exists: inspect the example Fashion-MNIST model, optimise it,
# classify a test image with cleave's runtime, and plan it over the home-lab topology at two
# bandwidths of the camera's WiFi.
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
echo
echo "== cleavectl plan configs/home-lab.toml (camera WiFi as declared, 25 Mbps)"
"$cleavectl" plan configs/home-lab.toml
echo
echo "== the same with the camera's links at 200 kbps: the camera keeps more of the model"
"$cleavectl" plan configs/home-lab.toml --bandwidth camera-pi1=200kbps --bandwidth camera-cloud=200kbps
echo
echo "== the best plan across the camera -> cloud bandwidth (the Neurosurgeon curve)"
"$cleavectl" plan configs/home-lab.toml --sweep camera-cloud --from 10kbps --to 100Mbps
