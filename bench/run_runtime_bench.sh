#!/usr/bin/env bash
# Batch-1 latency of cleave vs ONNX Runtime (onnxruntime-node) vs PyTorch on seven torchvision
# networks, on one and on two threads. Writes bench/results/runtime.md and runtime.json.
# Usage: bench/run_runtime_bench.sh [BUILD_DIR]   (after `make bench-deps`; `make bench` does both)
# Env: ROUNDS (default 3) rounds, engines interleaved in each; RUNS (default 30) timed runs per round;
# MODELS and THREADS (space-separated) narrow the run, e.g. MODELS=resnet18 THREADS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-30}
read -r -a MODELS <<<"${MODELS:-mobilenet_v2 resnet18 squeezenet1_1 shufflenet_v2_x1_0 mobilenet_v3_small efficientnet_b0 regnet_x_400mf}"
read -r -a THREADS <<<"${THREADS:-1 2}"
ENGINES=(cleave ort torch)
PY=/usr/bin/python3
CLEAVECTL=$BUILD/tools/cleavectl
MODEL_DIR=$BUILD/models/torchvision
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

die() { echo "run_runtime_bench: $*" >&2; exit 1; }

[ "$RUNS" -ge 20 ] || die "RUNS=$RUNS; the benchmark needs at least 20 timed runs per round"
[ -x "$CLEAVECTL" ] || die "no $CLEAVECTL; build cleave first (make build)"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
case $BUILD_TYPE in Release | RelWithDebInfo) ;; *) die "$BUILD is a '$BUILD_TYPE' build; benchmark a Release build" ;; esac
ORT_VERSION=$(node -p 'require("./bench/node_modules/onnxruntime-node/package.json").version' 2>/dev/null) ||
  die "onnxruntime-node is not installed in bench/node_modules; run make bench-deps"
TORCH_VERSION=$($PY -c 'import torch, torchvision; print(torch.__version__, "/ torchvision", torchvision.__version__)' 2>/dev/null) ||
  die "$PY cannot import torch and torchvision; run make deps"
. bench/bench_common.sh
bench_begin run_runtime_bench "$BUILD"  # stops here if the machine is loaded (MAX_LOAD, FORCE)
TORCH_BLAS=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || echo unknown)
bench_peer "ONNX Runtime" "onnxruntime-node $ORT_VERSION" "npm, CPU execution provider"
bench_peer "Node.js" "$(bench_version node --version)" "runs onnxruntime-node"
bench_peer "PyTorch" "$TORCH_VERSION" "Debian's python3-torch on $(bench_version $PY --version), eager mode; BLAS: $TORCH_BLAS"
$PY tools/models/export_torchvision.py "$MODEL_DIR" "${MODELS[@]}" >&2 || die "exporting the models failed"

# run_engine ENGINE MODEL RUNS THREADS [OUTPUT.npy]: prints cleavectl's latency line (the runners
# mimic it).
run_engine() {
  local onnx=$MODEL_DIR/$2.onnx input=$MODEL_DIR/$2.input.npy threads=$4 out=${5:--}
  local save=()
  [ "$out" != - ] && save=(--output "$out")
  case $1 in
    cleave) "$CLEAVECTL" model run "$onnx" --input "$input" --repeat "$3" --threads "$threads" "${save[@]}" ;;
    ort) node bench/ort_runner.js "$onnx" "$input" "$3" "$out" "$threads" ;;
    torch) OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 $PY bench/torch_runner.py "$2" "$input" "$3" "$out" "$threads" ;;
  esac
}

# measure ENGINE MODEL RUNS THREADS [OUTPUT.npy]: prints "MEDIAN P95 MIN" in ms, or stops the benchmark.
measure() {
  local log=$TMP/$1.$2.$4.log
  run_engine "$@" >"$log" 2>&1 || die "$1 failed on $2: $(tail -n1 "$log")"
  sed -n 's/^latency over .*: median \([0-9.]*\) ms, p95 \([0-9.]*\) ms, min \([0-9.]*\) ms$/\1 \2 \3/p' "$log" |
    grep . || die "$1 on $2 printed no latency line: $(tail -n1 "$log")"
}

# 1. Every engine must compute the same thing: output 0 vs PyTorch's reference saved at export.
for model in "${MODELS[@]}"; do
  for engine in "${ENGINES[@]}"; do
    measure "$engine" "$model" 1 1 "$TMP/$engine.$model.npy" >/dev/null
  done
done
$PY - "$MODEL_DIR" "$TMP" "${MODELS[@]}" <<'EOF' || exit 1
import sys, numpy as np
model_dir, tmp, models = sys.argv[1], sys.argv[2], sys.argv[3:]
for model in models:
    ref = np.load(f"{model_dir}/{model}.torch.npy")
    for engine in ("cleave", "ort", "torch"):
        out = np.load(f"{tmp}/{engine}.{model}.npy")
        err = np.abs(out - ref).max() / np.abs(ref).max() if out.shape == ref.shape else np.inf
        if not err <= 1e-3:
            sys.exit(f"run_runtime_bench: {engine}'s output on {model} differs from PyTorch's "
                     f"(shape {out.shape} vs {ref.shape}, max error {err:.3g} of max |output|)")
EOF

# Which kernels cleave ran (they depend on the CPU: docs/architecture.md, fast kernels).
CLEAVE_KERNELS=$(sed -n 's/^kernels: //p' "$TMP/cleave.${MODELS[0]}.1.log" | head -n1)
bench_tool "cleave's kernels" "${CLEAVE_KERNELS:-unknown}" "as cleavectl model run reports them on this CPU"

# 2. Timed rounds; the engine order rotates each round so no engine always runs first. One
# model's engines and thread counts run back to back, so the ratios of one round (cleave/ORT,
# 2 threads/1) compare processes seconds apart: this machine's speed drifts by 10-20% from one
# minute to the next (docs: bench/README.md), which a ratio of far-apart runs would take in.
for round in $(seq "$ROUNDS"); do
  for model in "${MODELS[@]}"; do
    for threads in "${THREADS[@]}"; do
      for i in 0 1 2; do
        engine=${ENGINES[$(((i + round) % 3))]}
        stats=$(measure "$engine" "$model" "$RUNS" "$threads")
        echo "round $round/$ROUNDS $model $engine, $threads thread(s): median/p95/min $stats ms" >&2
        echo "$round $model $engine $threads $stats" >>"$TMP/rounds.txt"
        # A threaded cleave session measures whether its pool pays and keeps the faster way
        # (runtime/pool_choice.h); record which it kept.
        if [ "$engine" = cleave ] && [ "$threads" -gt 1 ]; then
          choice=$(sed -n 's/^threads: \([a-z ]*\) (.*/\1/p' "$TMP/cleave.$model.$threads.log")
          echo "$model $threads ${choice:-unknown}" >>"$TMP/pool_choices.txt"
        fi
      done
    done
  done
done

bench_end  # stops here, writing nothing, if other processes loaded the machine during the rounds

# 3. Summary tables (and cleave's per-op profile wherever it trails ORT).
export ORT_VERSION ROUNDS RUNS CLEAVECTL MODEL_DIR BENCH_META_MD BENCH_META_JSON
$PY bench/runtime_summary.py "$TMP/rounds.txt" "$TMP" "${MODELS[@]}" || die "writing the results failed"
mkdir -p bench/results
mv "$TMP/runtime.json" bench/results/runtime.json
mv "$TMP/runtime.md" bench/results/runtime.md
cat bench/results/runtime.md
