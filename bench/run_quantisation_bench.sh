#!/usr/bin/env bash
# Post-training quantisation of the example models against float32 and against ONNX Runtime on
# the same files: writes bench/results/quantisation.md (issue 15). For fmnist-small and
# fmnist-teacher, `cleavectl model quantize` makes float16, int8 (min/max and percentile
# calibration on 1,000 training images) and integer-only variants, and `cleavectl model prune`
# pruned ones (30/50/70%, unstructured and structured, and 30% then int8), for fmnist-small,
# fmnist-teacher and the nonn bundles (students and fusion merged by bench/nonn_merge.py);
# `cleavectl model export-c` the int8 ones' stage images; `cleavectl model evaluate`
# runs each on all 10,000 test images (accuracy, per-input latency, one thread, batch 1) and
# bench/ort_evaluate.js runs the same file in ONNX Runtime (one intra-op thread, all graph
# optimisations; integer-only has an int8 input, which the runner does not feed). Both write
# every output, from which bench/quantisation_summary.py counts the output steps the two differ by.
# ROUNDS rounds, the runtimes alternating; latencies are medians over the rounds of per-round
# medians.
# Usage: bench/run_quantisation_bench.sh [BUILD_DIR]
# Env: ROUNDS (3); KEEP_WORK=1 keeps the models and outputs (the path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
CLEAVECTL=$BUILD/tools/cleavectl
DATA=$BUILD/data
. bench/bench_common.sh

[ -x "$CLEAVECTL" ] || { echo "run_quantisation_bench: build first ($CLEAVECTL missing)" >&2; exit 1; }
[ -d bench/node_modules/onnxruntime-node ] || { echo "run_quantisation_bench: run make bench-deps first" >&2; exit 1; }
if [ ! -f "$DATA/fmnist-t10k-images.npy" ]; then
  "$BENCH_PY" tools/models/export_fmnist_testset.py "$DATA"
fi

work=$(mktemp -d)
[ "${KEEP_WORK:-0}" = 1 ] && echo "run_quantisation_bench: work in $work" >&2 || trap 'rm -rf "$work"' EXIT

bench_begin run_quantisation_bench "$BUILD"
bench_peer "ONNX Runtime" "$(node -e "console.log(require('./bench/node_modules/onnxruntime-node').env.versions.common)")" \
  "onnxruntime-node, CPU, one intra-op thread, all graph optimisations, the same QDQ file"

MODELS="fmnist-small fmnist-teacher fmnist-nonn-2 fmnist-nonn-4"
VARIANTS="float32 float16 int8 int8-percentile integer-only prune-u30 prune-u50 prune-u70 prune-s30 prune-s50 prune-s70
          prune-u30-int8 prune-s30-int8"
for model in $MODELS; do
  # A nonn bundle is measured as one model: its students and fusion merged (the students' features
  # become int8 tensors when it is quantised, as they would cross the links).
  if [ -f "models/$model/model.onnx" ] && [[ $model != *nonn* ]]; then
    cp "models/$model/model.onnx" "$work/$model.float32.onnx"
  else
    "$BENCH_PY" bench/nonn_merge.py "models/$model" "$work/$model.float32.onnx"
  fi
  source=$work/$model.float32.onnx
  "$CLEAVECTL" model quantize "$source" --mode float16 -o "$work/$model.float16.onnx" >/dev/null
  for mode in int8 integer-only; do
    "$CLEAVECTL" model quantize "$source" --mode "$mode" --calibration /usr/share/datasets/fashion-mnist \
      -o "$work/$model.$mode.onnx" >/dev/null
  done
  "$CLEAVECTL" model quantize "$source" --mode int8 --method percentile \
    --calibration /usr/share/datasets/fashion-mnist -o "$work/$model.int8-percentile.onnx" >/dev/null
  for sparsity in 30 50 70; do
    "$CLEAVECTL" model prune "$source" --sparsity "0.$sparsity" -o "$work/$model.prune-u$sparsity.onnx" >/dev/null
    "$CLEAVECTL" model prune "$source" --sparsity "0.$sparsity" --structured \
      -o "$work/$model.prune-s$sparsity.onnx" >/dev/null
  done
  for pruned in prune-u30 prune-s30; do
    "$CLEAVECTL" model quantize "$work/$model.$pruned.onnx" --mode int8 --calibration /usr/share/datasets/fashion-mnist \
      -o "$work/$model.$pruned-int8.onnx" >/dev/null
  done
  # What an int8 variant weighs in flash: its stage image (`model export-c`).
  for variant in int8 int8-percentile integer-only prune-u30-int8 prune-s30-int8; do
    "$CLEAVECTL" model export-c "$work/$model.$variant.onnx" --name stage -o "$work/c" >"$work/$model.$variant.export.log"
  done
done

# torchvision networks (random weights, tools/models/export_torchvision.py) quantised on 16 random
# normal images and run on 8 others by both runtimes: how cleave's int8 and ONNX Runtime's agree
# deep in a network, and their speed. int8 where every op has an int8 kernel, else
# int8-float-fallback (SiLU, HardSwish, channel shuffles stay float).
TV_INT8="resnet18 mobilenet_v2 squeezenet1_1 regnet_x_400mf"
TV_FALLBACK="shufflenet_v2_x1_0 mobilenet_v3_small efficientnet_b0"
TV_DIR=$BUILD/models/torchvision
"$BENCH_PY" tools/models/export_torchvision.py "$TV_DIR" $TV_INT8 $TV_FALLBACK >/dev/null
"$BENCH_PY" - "$work" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(2026)
np.save(f"{sys.argv[1]}/tv-calibration.npy", rng.standard_normal((16, 3, 224, 224)).astype(np.float32))
np.save(f"{sys.argv[1]}/tv-images.npy", rng.standard_normal((8, 3, 224, 224)).astype(np.float32))
np.save(f"{sys.argv[1]}/tv-labels.npy", np.zeros(8, np.int64))
PY
for tv in $TV_INT8 $TV_FALLBACK; do
  mode=int8
  [[ " $TV_FALLBACK " == *" $tv "* ]] && mode=int8-float-fallback
  "$CLEAVECTL" model quantize "$TV_DIR/$tv.onnx" --mode "$mode" --calibration "$work/tv-calibration.npy" \
    -o "$work/tv-$tv.onnx" >"$work/tv-$tv.quantize.log"
done

for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    for variant in $VARIANTS; do
      file=$work/$model.$variant.onnx
      "$CLEAVECTL" model evaluate "$file" --images "$DATA/fmnist-t10k-images.npy" \
        --labels "$DATA/fmnist-t10k-labels.npy" --outputs "$work/$model.$variant.cleave.npy" \
        >>"$work/$model.$variant.cleave.log"
      [ "$variant" = integer-only ] && continue
      node bench/ort_evaluate.js "$file" "$DATA/fmnist-t10k-images.npy" "$work/$model.$variant.ort.npy" \
        >>"$work/$model.$variant.ort.log"
    done
  done
  for tv in $TV_INT8 $TV_FALLBACK; do
    "$CLEAVECTL" model evaluate "$work/tv-$tv.onnx" --images "$work/tv-images.npy" --labels "$work/tv-labels.npy" \
      --outputs "$work/tv-$tv.cleave.npy" >>"$work/tv-$tv.cleave.log"
    node bench/ort_evaluate.js "$work/tv-$tv.onnx" "$work/tv-images.npy" "$work/tv-$tv.ort.npy" >>"$work/tv-$tv.ort.log"
  done
  echo "run_quantisation_bench: round $round of $ROUNDS done" >&2
done

bench_end
"$BENCH_PY" bench/quantisation_summary.py --work "$work" --models "$MODELS" --labels "$DATA/fmnist-t10k-labels.npy" \
  --torchvision "$TV_INT8 $TV_FALLBACK" --out bench/results/quantisation.md --meta "$BENCH_META_MD"
echo "run_quantisation_bench: wrote bench/results/quantisation.md" >&2
