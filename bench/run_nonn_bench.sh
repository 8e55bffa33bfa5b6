#!/usr/bin/env bash
# NoNN against a split of its teacher on four Raspberry Pi 4, on real processes: writes
# bench/results/nonn.md (issue 13). The fleet of bench/nonn-bench.toml.in (pi1 the camera, pi4 the
# sink, every pair of Pis linked through one switch) runs on 127.0.0.1 under `cleavectl up --pace`
# (links shaped in the agents, each stage run lasting as long as a Pi 4 is predicted to take), at
# 100 Mbit/s and at 10 Mbit/s, once per plan:
#   nonn        the four students on the four Pis, the fusion on pi4 (`strategy = "nonn"`);
#   split       the planner's best split of the teacher (`strategy = "split"`);
#   layerwise   the teacher cut layer-wise over all four Pis, about a quarter of its MACs each,
#               installed by hand (`plan apply`) on the split fleet: the paper's baseline.
# Each sends Fashion-MNIST test images one request at a time (`cleavectl infer`, so a latency is
# one request's, never queueing) and is checked against the ONNX files evaluated in numpy. The
# same plans on unshaped links without pacing (x86 compute, loopback) give the fleet's own
# messaging cost. ROUNDS rounds, the fleets in a rotating order; the summary reports medians of
# the round medians beside the planner's predictions, and the models' accuracy and size.
# Usage: bench/run_nonn_bench.sh [BUILD_DIR]
# Env: ROUNDS (3), REQUESTS per plan and round (200), LAYERWISE_REQUESTS (50: at 10 Mbit/s each
# takes ~0.2 s), FLOOR_REQUESTS (50), KEEP_WORK=1 keeps the fleets' logs (the path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200}
LAYERWISE_REQUESTS=${LAYERWISE_REQUESTS:-50}
FLOOR_REQUESTS=${FLOOR_REQUESTS:-50}
WARMUP=5
BANDWIDTHS=(100Mbps 10Mbps)
ctl=$BUILD/tools/cleavectl
for binary in "$ctl" "$BUILD/daemon/cleaved" "$BUILD/agent/cleave-agent"; do
  [ -x "$binary" ] || { echo "run_nonn_bench: no $binary; build cleave first (make build)" >&2; exit 1; }
done
for n in ROUNDS REQUESTS LAYERWISE_REQUESTS FLOOR_REQUESTS; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "run_nonn_bench: $n=${!n} is not a positive whole number" >&2; exit 1; }
done
images_needed=$((ROUNDS * REQUESTS))
[ "$images_needed" -le 10000 ] || { echo "run_nonn_bench: ROUNDS x REQUESTS = $images_needed, above the 10000 test images" >&2; exit 1; }

. bench/bench_common.sh
bench_begin run_nonn_bench "$BUILD"  # stops here if the machine is loaded (MAX_LOAD, FORCE)
bench_peer "split of the teacher" "" "cleave's own planner and daemon on the same fleet, best split and a layer-wise one; no outside peer"
work=$(mktemp -d)
state=""
finish() {
  if [ -n "$state" ]; then timeout 30 "$ctl" down --state "$state" >/dev/null 2>&1 || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "run_nonn_bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap finish EXIT
# The fleet runs a copy of the binaries, so a rebuild of BUILD_DIR during the run cannot swap them.
mkdir "$work/bin"
cp "$ctl" "$BUILD/daemon/cleaved" "$BUILD/agent/cleave-agent" "$work/bin/"
ctl=$work/bin/cleavectl

# Inputs and the reference answers, before anything is timed.
for bw in "${BANDWIDTHS[@]}"; do
  for strategy in nonn split; do
    sed -e "s|@BANDWIDTH@|$bw|" -e "s|@STRATEGY@|$strategy|" -e "s|@ROOT@|$root|" bench/nonn-bench.toml.in \
      >"$work/$strategy-$bw.toml"
    "$ctl" plan "$work/$strategy-$bw.toml" --json >"$work/plan-$strategy-$bw.json"
  done
done
for model in fmnist-teacher/model fmnist-nonn-4/student0 fmnist-nonn-4/fusion; do
  "$ctl" model inspect --optimize --json "models/$model.onnx" >"$work/inspect-${model//\//-}.json"
done
"$BENCH_PY" bench/nonn_prepare.py "$BUILD" "$work" "$images_needed" "$work/inspect-fmnist-teacher-model.json"
layerwise_cuts=$(cat "$work/layerwise.txt")

# send LABEL FIRST COUNT: COUNT requests one after another, images FIRST.., after WARMUP untimed
# ones; one line per request in LABEL.out: image index, exit status, cleavectl's output.
send() {
  local label=$1 first=$2 count=$3 i out rc
  for _ in $(seq "$WARMUP"); do
    timeout 30 "$ctl" --state "$state" infer --input "$work/images/$first.npy" >/dev/null 2>&1 || true
  done
  for i in $(seq "$first" $((first + count - 1))); do
    rc=0
    out=$(timeout 30 "$ctl" --state "$state" infer --input "$work/images/$i.npy" 2>&1) || rc=$?
    printf '%s\t%s\t%s\n' "$i" "$rc" "$(tr '\n' ' ' <<<"$out")" >>"$work/$label.out"
  done
}

# fleet ROUND KIND BANDWIDTH STRATEGY: one fleet up, its plan(s) measured, down. KIND "paced"
# shapes the links and paces the stages; "floor" does neither.
fleet() {
  local round=$1 kind=$2 bw=$3 strategy=$4 first up_args suffix
  first=$(((round - 1) * REQUESTS))
  up_args=(--bin-dir "$work/bin")
  if [ "$kind" = paced ]; then up_args+=(--pace); suffix="$bw"; else up_args+=(--no-shape); suffix=floor; fi
  state=$work/state-$strategy-$suffix-r$round
  echo "== round $round: $strategy, $suffix" >&2
  if ! timeout 60 "$ctl" up "$work/$strategy-$bw.toml" --state "$state" "${up_args[@]}" >"$work/up.log" 2>&1; then
    echo "round $round $strategy $suffix: cleavectl up failed: $(tail -n1 "$work/up.log")" >>"$work/problems"
    state=""
    return
  fi
  if bench_wait_plan "$ctl" "$state" "$strategy"; then
    "$ctl" --state "$state" plan show >"$work/planshow-$strategy-$suffix-r$round.txt" 2>&1 || true
    send "$strategy-$suffix-r$round" "$first" "$([ "$kind" = paced ] && echo "$REQUESTS" || echo "$FLOOR_REQUESTS")"
  else
    echo "round $round $strategy $suffix: no $strategy plan installed after 10 s" >>"$work/problems"
  fi
  if [ "$strategy" = split ]; then
    if "$ctl" --state "$state" plan apply --route pi1,pi2,pi3,pi4 --cuts "$layerwise_cuts" \
        >"$work/planshow-layerwise-$suffix-r$round.txt" 2>&1; then
      send "layerwise-$suffix-r$round" "$first" "$([ "$kind" = paced ] && echo "$LAYERWISE_REQUESTS" || echo "$FLOOR_REQUESTS")"
    else
      echo "round $round layerwise $suffix: plan apply failed: $(tail -n1 "$work/planshow-layerwise-$suffix-r$round.txt")" >>"$work/problems"
    fi
  fi
  "$ctl" --state "$state" status >"$work/status-$strategy-$suffix-r$round.txt" 2>&1 || true
  timeout 30 "$ctl" down --state "$state" >/dev/null 2>&1 || true
  state=""
}

started=$EPOCHSECONDS
runs=()
for bw in "${BANDWIDTHS[@]}"; do for strategy in nonn split; do runs+=("paced $bw $strategy"); done; done
runs+=("floor ${BANDWIDTHS[0]} nonn" "floor ${BANDWIDTHS[0]} split")
for round in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((${#runs[@]} - 1))); do
    # shellcheck disable=SC2086  # the run's three words
    fleet "$round" ${runs[$(((k + round - 1) % ${#runs[@]}))]}
  done
done
elapsed=$((EPOCHSECONDS - started))

bench_end  # stops here, writing nothing, if other processes loaded the machine during the runs
mkdir -p bench/results
"$BENCH_PY" bench/nonn_summary.py --work "$work" --out bench/results/nonn.md --meta "$BENCH_META_MD" \
  --rounds "$ROUNDS" --requests "$REQUESTS" --layerwise-requests "$LAYERWISE_REQUESTS" \
  --floor-requests "$FLOOR_REQUESTS" --warmup "$WARMUP" --cuts "$layerwise_cuts" --seconds "$elapsed" \
  --bandwidths "${BANDWIDTHS[@]}"
