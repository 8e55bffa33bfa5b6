#!/usr/bin/env bash
# The early-exit cascade against all-cloud, all-edge and the planner's split of its teacher, on
# real processes: writes bench/results/early_exit.md (issue 14). The fleet of
# bench/early-exit-bench.toml.in (configs/meanet-edge-cloud.toml: a Pi Zero 2 W class `edge`, the
# source, and a cloud VM, the sink) runs on 127.0.0.1 under `cleavectl up --pace` (links shaped in
# the agents, each stage run lasting as long as the declared device is predicted to take), under
# two link conditions:
#   slow   the uplink edge -> cloud shaped at a constant 1 Mbit/s (downlink 13 Mbit/s, RTT 50 ms);
#          the daemon keeps the plan it made from these figures (adapt = false);
#   lte    configs/traces/lte-drive.csv replayed on the link (both directions, 2-40 Mbit/s, RTT
#          40-90 ms); the planner's own plans re-plan from the agents' measurements (adapt = true,
#          the topology's hysteresis 0.2 and hold 5 s), hand-installed ones stay (adapt = false).
# and four configurations per condition:
#   cascade    `strategy = "early_exit"`: the planner's thresholds and placement;
#   allcloud   the teacher in the cloud, the edge relaying the image (`plan apply --cuts 0`);
#   alledge    the teacher on the edge, its logits sent on (`plan apply --cuts N`, N = its nodes);
#   split      `strategy = "split"`: the planner's best split of the teacher.
#   local      the teacher on the edge with the topology's sink moved to the edge: answered where
#              it was asked, nothing crosses the link (the splits' results go on to the cloud).
# One request at a time (`cleavectl infer`, so a latency is one request's, never queueing). On the
# slow link requests follow one another; on the trace they start on a fixed clock (one every
# LTE_INTERVAL s, LTE_CASCADE_INTERVAL for the cascade) for LTE_SECONDS, so every configuration
# samples the same stretch of the trace uniformly in time, each round replaying another stretch
# (round r starts (r-1) x LTE_SECONDS in), ROUNDS x LTE_SECONDS covering the trace's 60 s. Every
# answer is checked against the blocks evaluated in numpy (bench/early_exit_prepare.py): the
# cascade's exit and argmax for the plan's thresholds, the teacher's argmax.
# ROUNDS rounds, the fleets in an order rotated each round; bench/early_exit_summary.py reports.
# Usage: bench/run_early_exit_bench.sh [BUILD_DIR]
# Env: ROUNDS (3); REQUESTS (500: the cascade on the slow link, per round); TEACHER_REQUESTS (150:
# each teacher configuration on the slow link, per round; an all-cloud request takes ~80 ms there);
# LTE_SECONDS (60 / ROUNDS); LTE_INTERVAL (0.2); LTE_CASCADE_INTERVAL (0.08: a `cleavectl infer`
# process alone takes ~40 ms here); KEEP_WORK=1 keeps the fleets' logs and requests (the path is
# printed); RESULTS_DIR (bench/results) where the results go.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-500}
TEACHER_REQUESTS=${TEACHER_REQUESTS:-150}
LTE_SECONDS=${LTE_SECONDS:-$((60 / ROUNDS))}
LTE_INTERVAL=${LTE_INTERVAL:-0.2}
LTE_CASCADE_INTERVAL=${LTE_CASCADE_INTERVAL:-0.08}
WARMUP=5
TRACE=configs/traces/lte-drive.csv
ctl=$BUILD/tools/cleavectl
for binary in "$ctl" "$BUILD/daemon/cleaved" "$BUILD/agent/cleave-agent"; do
  [ -x "$binary" ] || { echo "run_early_exit_bench: no $binary; build cleave first (make build)" >&2; exit 1; }
done
for n in ROUNDS REQUESTS TEACHER_REQUESTS LTE_SECONDS; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "run_early_exit_bench: $n=${!n} is not a positive whole number" >&2; exit 1; }
done
for n in LTE_INTERVAL LTE_CASCADE_INTERVAL; do
  { [[ ${!n} =~ ^[0-9]*[.]?[0-9]+$ ]] && awk -v x="${!n}" 'BEGIN { exit !(x >= 0.01) }'; } ||
    { echo "run_early_exit_bench: $n=${!n} is not a number of seconds >= 0.01" >&2; exit 1; }
done
us() { awk -v x="$1" 'BEGIN { printf "%d", x * 1e6 + 0.5 }'; }  # seconds -> whole microseconds
lte_count=$(($(us "$LTE_SECONDS") / $(us "$LTE_INTERVAL")))
lte_cascade_count=$(($(us "$LTE_SECONDS") / $(us "$LTE_CASCADE_INTERVAL")))
per_round=$REQUESTS
for n in "$TEACHER_REQUESTS" "$lte_count" "$lte_cascade_count"; do [ "$n" -le "$per_round" ] || per_round=$n; done
images_needed=$((ROUNDS * per_round))
[ "$images_needed" -le 10000 ] || { echo "run_early_exit_bench: $images_needed test images needed (ROUNDS x the largest count per round), above the 10000 there are" >&2; exit 1; }

. bench/bench_common.sh
bench_begin run_early_exit_bench "$BUILD"  # stops here if the machine is loaded (MAX_LOAD, FORCE)
bench_peer "all-cloud, all-edge, split of the teacher and the teacher answered on the edge" "" "cleave's own planner and daemon on the same fleet; no outside peer"
work=$(mktemp -d)
state=""
watcher=""
finish() {
  if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null || true; fi
  if [ -n "$state" ]; then timeout 30 "$ctl" down --state "$state" >/dev/null 2>&1 || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "run_early_exit_bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap finish EXIT
# The fleet runs a copy of the binaries, so a rebuild of BUILD_DIR during the run cannot swap them.
mkdir "$work/bin" "$work/out"
cp "$ctl" "$BUILD/daemon/cleaved" "$BUILD/agent/cleave-agent" "$work/bin/"
ctl=$work/bin/cleavectl

# Topologies, predictions and the reference answers, before anything is timed.
topology() {  # NAME STRATEGY BANDWIDTH ADAPT TRACE|"" [SINK]
  local trace_line=""
  [ -z "$5" ] || trace_line="trace = \"$root/$5\""
  sed -e "s|@STRATEGY@|$2|" -e "s|@BANDWIDTH@|$3|" -e "s|@ADAPT@|$4|" -e "s|@TRACE_LINE@|$trace_line|" \
    -e "s|@ROOT@|$root|" -e "s|@SINK@|${6:-cloud}|" bench/early-exit-bench.toml.in >"$work/$1.toml"
  "$ctl" plan "$work/$1.toml" --json >"$work/plan-$1.json"
}
topology slow-cascade early_exit 1Mbps false ""
topology slow-split split 1Mbps false ""
topology lte-cascade early_exit 6Mbps true "$TRACE"
topology lte-split split 6Mbps true "$TRACE"
topology lte-fixed split 6Mbps false "$TRACE"
topology slow-local split 1Mbps false "" edge
topology lte-local split 6Mbps false "$TRACE" edge
"$ctl" model inspect --optimize --json models/fmnist-teacher/model.onnx >"$work/inspect-teacher.json"
teacher_nodes=$("$BENCH_PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["nodes"]))' "$work/inspect-teacher.json")
offsets=$(seq -s, 0 "$LTE_SECONDS" $(((ROUNDS - 1) * LTE_SECONDS)))
"$BENCH_PY" bench/early_exit_prepare.py "$BUILD" "$work" "$images_needed" "$TRACE" "$offsets"

# request LABEL IMAGE T: one request; a line in LABEL.out: image, seconds since the window
# started, exit status, cleavectl's output; the result's tensor in out/LABEL/IMAGE.npy.
request() {
  local label=$1 image=$2 t=$3 out rc=0
  out=$(timeout 30 "$ctl" --state "$state" infer --input "$work/images/$image.npy" \
    --output "$work/out/$label/$image.npy" 2>&1) || rc=$?
  printf '%s\t%s\t%s\t%s\n' "$image" "$t" "$rc" "$(tr '\n' ' ' <<<"$out")" >>"$work/$label.out"
}

# window LABEL CONDITION ROUND CONFIG FIRST: WARMUP untimed requests, then the measured ones, from
# image FIRST on. slow: COUNT one after another. lte: the trace replayed afresh from the round's
# offset, then a request started every interval for LTE_SECONDS (or as soon as the previous one
# has finished, if it took longer).
window() {
  local label=$1 condition=$2 round=$3 config=$4 first=$5 i k start now target interval count offset
  mkdir -p "$work/out/$label"
  for _ in $(seq "$WARMUP"); do
    timeout 30 "$ctl" --state "$state" infer --input "$work/images/$first.npy" >/dev/null 2>&1 || true
  done
  "$ctl" --state "$state" plan show >"$work/planshow-$label.txt" 2>&1 || true
  if [ "$condition" = slow ]; then
    count=$([ "$config" = cascade ] && echo "$REQUESTS" || echo "$TEACHER_REQUESTS")
    start=${EPOCHREALTIME/./}
    for i in $(seq "$first" $((first + count - 1))); do
      now=${EPOCHREALTIME/./}
      request "$label" "$i" "$(awk -v d=$((now - start)) 'BEGIN { printf "%.3f", d / 1e6 }')"
    done
    return
  fi
  offset=$(((round - 1) * LTE_SECONDS))
  interval=$(us "$([ "$config" = cascade ] && echo "$LTE_CASCADE_INTERVAL" || echo "$LTE_INTERVAL")")
  count=$([ "$config" = cascade ] && echo "$lte_cascade_count" || echo "$lte_count")
  for pair in "edge cloud" "cloud edge"; do
    # shellcheck disable=SC2086  # the pair's two words
    "$ctl" --state "$state" link shape $pair --trace "$work/trace-$offset.csv" >>"$work/shape-$label.txt" 2>&1 ||
      echo "$label: link shape $pair failed: $(tail -n1 "$work/shape-$label.txt")" >>"$work/problems"
  done
  start=${EPOCHREALTIME/./}
  echo "$label $offset ${start:0:-6}.${start: -6}" >>"$work/windows"
  for k in $(seq 0 $((count - 1))); do
    target=$((start + k * interval))
    now=${EPOCHREALTIME/./}
    if [ "$now" -lt "$target" ]; then
      sleep "$(awk -v d=$((target - now)) 'BEGIN { printf "%.6f", d / 1e6 }')"
      now=${EPOCHREALTIME/./}
    fi
    request "$label" $((first + k)) "$(awk -v d=$((now - start)) 'BEGIN { printf "%.3f", d / 1e6 }')"
  done
}

# apply LABEL CUTS: the teacher split by hand at CUTS on the running fleet.
apply() {
  if "$ctl" --state "$state" plan apply --route edge,cloud --cuts "$2" >"$work/apply-$1.txt" 2>&1; then
    return 0
  fi
  echo "$1: plan apply --cuts $2 failed: $(tail -n1 "$work/apply-$1.txt")" >>"$work/problems"
  return 1
}

# fleet ROUND CONDITION KIND: one fleet up, its configuration(s) measured, down. KIND: cascade,
# split (on the slow link also all-cloud and all-edge after it, as adapt is off there), fixed
# (the trace: all-cloud and all-edge on a fleet that does not adapt) or local.
fleet() {
  local round=$1 condition=$2 kind=$3 first strategy
  first=$(((round - 1) * per_round))
  strategy=$([ "$kind" = cascade ] && echo early_exit || echo split)  # local: a split with sink = source
  state=$work/state-$condition-$kind-r$round
  echo "== round $round: $condition, $kind" >&2
  if ! timeout 60 "$ctl" up "$work/$condition-$kind.toml" --state "$state" --pace --bin-dir "$work/bin" \
      >"$work/up.log" 2>&1; then
    echo "round $round $condition $kind: cleavectl up failed: $(tail -n1 "$work/up.log")" >>"$work/problems"
    state=""
    return
  fi
  "$ctl" --state "$state" watch --plans >"$work/watch-$condition-$kind-r$round.txt" 2>&1 &
  watcher=$!
  if bench_wait_plan "$ctl" "$state" "$strategy"; then
    case $kind in
      cascade | split | local) window "$condition-$kind-r$round" "$condition" "$round" "$kind" "$first" ;;
    esac
    if [ "$kind" = fixed ] || [ "$condition-$kind" = slow-split ]; then
      apply "$condition-allcloud-r$round" 0 &&
        window "$condition-allcloud-r$round" "$condition" "$round" allcloud "$first"
      apply "$condition-alledge-r$round" "$teacher_nodes" &&
        window "$condition-alledge-r$round" "$condition" "$round" alledge "$first"
    fi
  else
    echo "round $round $condition $kind: no $strategy plan installed after 10 s" >>"$work/problems"
  fi
  "$ctl" --state "$state" status >"$work/status-$condition-$kind-r$round.txt" 2>&1 || true
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  watcher=""
  if [ "${KEEP_WORK:-0}" = 1 ]; then cp -r "$state/logs" "$work/logs-$condition-$kind-r$round"; fi
  timeout 30 "$ctl" down --state "$state" >/dev/null 2>&1 || true
  state=""
}

started=$EPOCHSECONDS
runs=("slow cascade" "slow split" "slow local" "lte cascade" "lte split" "lte fixed" "lte local")
for round in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((${#runs[@]} - 1))); do
    # shellcheck disable=SC2086  # the run's two words
    fleet "$round" ${runs[$(((k + round - 1) % ${#runs[@]}))]}
  done
done
elapsed=$((EPOCHSECONDS - started))

bench_end  # stops here, writing nothing, if other processes loaded the machine during the runs
results=${RESULTS_DIR:-bench/results}
mkdir -p "$results"
"$BENCH_PY" bench/early_exit_summary.py --work "$work" --out "$results/early_exit.md" \
  --json "$results/early_exit.json" --meta "$BENCH_META_MD" --meta-json "$BENCH_META_JSON" \
  --rounds "$ROUNDS" --requests "$REQUESTS" --teacher-requests "$TEACHER_REQUESTS" \
  --lte-seconds "$LTE_SECONDS" --lte-interval "$LTE_INTERVAL" --lte-cascade-interval "$LTE_CASCADE_INTERVAL" \
  --warmup "$WARMUP" --teacher-nodes "$teacher_nodes" --seconds "$elapsed" --trace "$TRACE"
