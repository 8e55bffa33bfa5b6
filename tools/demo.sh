#!/usr/bin/env bash
# `make demo` until the live adaptive demo exists: inspect the example Fashion-MNIST model,
# optimise it, classify a test image with cleave's runtime, plan it over the home-lab topology at
# two bandwidths of the camera's WiFi, then start that fleet as local processes (daemon and four
# agents, CURVE on every socket) and classify through it.
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
echo
state="$out/fleet"
echo "== cleavectl up configs/home-lab.toml: the daemon and four agents on 127.0.0.1"
trap '"$cleavectl" down --state "$state" >/dev/null 2>&1 || true' EXIT INT TERM
"$cleavectl" up configs/home-lab.toml --state "$state"
echo
echo "== a camera-heavy plan by hand, then classify test image 0 through the fleet"
"$cleavectl" --state "$state" plan apply --route camera,pi1,pi2,cloud --cuts 2,4,6
"$cleavectl" --state "$state" infer --input "$model/sample.npy" --output "$out/fleet-logits.npy"
echo
echo "== the planner's own choice again, and 100 requests through it"
"$cleavectl" --state "$state" replan --force
"$cleavectl" --state "$state" infer --input "$model/sample.npy" --repeat 100 | tail -3
echo
"$cleavectl" down --state "$state"
trap - EXIT INT TERM
