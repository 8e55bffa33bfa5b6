#!/usr/bin/env bash
# Adaptive re-planning against fixed plans and an oracle, on real processes: writes
# bench/results/adaptive.md. For each trace in configs/traces/ the camera's WiFi link replays it
# (in-process shaping, paced compute: `cleavectl up --pace`) while cleave-demo streams
# Fashion-MNIST through the teacher one request at a time, under
#   adaptive   the daemon re-plans from the agents' measurements (defaults: a new plan must stay
#              better with every link estimate 10% off, for 0.25 s)
#   oracle     no measurements; the trace's true bandwidth is pinned at every step (no margin)
#   fixed      one split for the whole run: the camera runs the first K nodes, the cloud the rest,
#              for K in 0 (everything in the cloud), 4, 8 and 12 (everything on the camera); the
#              best of them is "the best fixed split in hindsight".
# Then the reaction time: a constant link stepped down (40 Mbps -> 500 kbps) and up again while
# requests run, REPS times each.
# Usage: bench/run_adaptive_bench.sh [BUILD_DIR]   Env: SECONDS_PER_RUN (default 60, a whole trace), REPS (3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
BUILD=${1:-build}
RUN=${SECONDS_PER_RUN:-60}
REPS=${REPS:-3}
demo=$BUILD/tools/demo/cleave-demo
[ -x "$demo" ] || { echo "run_adaptive_bench: no $demo; build cleave first (make build)" >&2; exit 1; }
. bench/bench_common.sh
bench_begin run_adaptive_bench "$BUILD"  # stops here if the machine is loaded (MAX_LOAD, FORCE)
bench_peer "fixed splits and the oracle" "" "cleave's own daemon with a pinned plan / told the trace's true bandwidth; no outside peer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The camera board a link type comes with, so that the trace's range straddles the point where
# computing on the camera and sending the 3 KiB image cost the same (figures as in home-lab.toml):
#   BLE   an MCU-class board, ~50 MMAC/s on convolutions (estimate)    break-even ~133 kbps
#   WiFi  Raspberry Pi Zero 2 W, 1 GMAC/s                              break-even ~3.2 Mbps
#   LTE   Raspberry Pi 4, 3 GMAC/s                                     break-even ~16 Mbps
camera_for() {
  case $1 in
    ble-walk) echo '{ default = "10M", conv = "50M", depthwise = "10M", gemm = "25M", elementwise = "10M" }' ;;
    wifi-steps | step) echo '{ default = "200M", conv = "1G", depthwise = "200M", gemm = "500M", elementwise = "200M" }' ;;
    lte-drive) echo '{ default = "600M", conv = "3G", depthwise = "600M", gemm = "1.5G", elementwise = "600M" }' ;;
  esac
}

topology() {  # NAME TRACE|"" BANDWIDTH ADAPT HYSTERESIS CAMERA
  local trace_line=""
  [ -n "$2" ] && trace_line="trace = \"$root/configs/traces/$2.csv\""
  sed -e "s|@TRACE_LINE@|$trace_line|" -e "s|@BANDWIDTH@|$3|" -e "s|@ADAPT@|$4|" -e "s|@HYSTERESIS@|$5|" \
    -e "s|@CAMERA_MACS@|$(camera_for "$6")|" -e "s|@ROOT@|$root|" bench/adaptive-bench.toml.in >"$work/$1.toml"
  echo "$work/$1.toml"
}

run() {  # LABEL CONFIG ARGS...
  local label=$1 config=$2
  shift 2
  echo "== $label" >&2
  "$demo" --config "$config" --plain --seconds "$RUN" --state "$work/state-$label" --report "$work/$label.html" \
    --summary "$work/$label.summary" "$@" >"$work/$label.log" 2>&1 || { echo "run $label failed:" >&2; tail -5 "$work/$label.log" >&2; }
}

for trace in ble-walk wifi-steps lte-drive; do
  adaptive=$(topology "$trace-adaptive" "$trace" 20Mbps true 0.1 "$trace")
  fixed=$(topology "$trace-fixed" "$trace" 20Mbps false 0.1 "$trace")
  oracle=$(topology "$trace-oracle" "$trace" 20Mbps false 0 "$trace")
  run "$trace.adaptive" "$adaptive"
  run "$trace.oracle" "$oracle" --oracle
  for k in 0 4 8 12; do
    run "$trace.fixed$k" "$fixed" --apply "camera,pi1,pi2,cloud:$k,$k,$k"
  done
done
for rep in $(seq 1 "$REPS"); do
  down=$(topology "step-down" "" 40Mbps true 0.1 step)
  RUN=14 run "step-down.$rep" "$down" --step-link camera-pi1 --step-to 500kbps --step-at 6
  up=$(topology "step-up" "" 500kbps true 0.1 step)
  RUN=14 run "step-up.$rep" "$up" --step-link camera-pi1 --step-to 40Mbps --step-at 6
done

bench_end  # stops here, writing nothing, if other processes loaded the machine during the runs
mkdir -p bench/results
/usr/bin/python3 - "$work" bench/results/adaptive.md "$RUN" "$REPS" "$BENCH_META_MD" <<'PY'
import glob, os, statistics, sys
work, out_path, run, reps, meta_md = sys.argv[1:]
def summary(label):
    path = os.path.join(work, label + ".summary")
    if not os.path.exists(path):
        return None
    return dict(line.strip().split("=", 1) for line in open(path) if "=" in line)
lines = ["# Adaptive re-planning against fixed plans and an oracle", ""] + open(meta_md).read().splitlines() + ["",
         "`make bench` (`bench/run_adaptive_bench.sh`): real processes on 127.0.0.1 (`cleavectl up --pace`: the camera's "
         "WiFi link replays the trace in the agents' shapers, stage runs paced to the declared boards), "
         "fmnist-teacher, one request at a time for %s s per run." % run, "",
         "Fixed splits: the camera runs the first K of the 12 nodes and the cloud the rest (K=0: everything in the "
         "cloud, K=12: everything on the source). Best fixed = the fixed split with the lowest measured mean. "
         "Adaptive: the daemon re-plans from the agents' measurements with the default hysteresis (a new "
         "plan must stay better with every link estimate 10% off, for 0.25 s). "
         "Oracle: the daemon ignores measurements and is told the trace's true bandwidth at every step "
         "(`link set`), with no hysteresis. The camera board is the one each link type comes with "
         "(BLE: an MCU at ~50 MMAC/s; WiFi: a Pi Zero 2 W; LTE: a Pi 4), so that each trace crosses the "
         "bandwidth where sending the image and computing on the camera cost the same.", ""]
lines += ["| trace | policy | requests | mean ms | p95 ms | re-plans | mean vs oracle |", "|---|---|---:|---:|---:|---:|---:|"]
verdicts = []
for trace in ["ble-walk", "wifi-steps", "lte-drive"]:
    rows = {}
    for policy in ["adaptive", "oracle", "fixed0", "fixed4", "fixed8", "fixed12"]:
        s = summary(f"{trace}.{policy}")
        if s and "mean_ms" in s:
            rows[policy] = s
    if "oracle" not in rows:
        continue
    oracle = float(rows["oracle"]["mean_ms"])
    fixed = {p: float(s["mean_ms"]) for p, s in rows.items() if p.startswith("fixed")}
    best = min(fixed, key=fixed.get) if fixed else None
    names = {"fixed0": "fixed K=0 (all cloud)", "fixed12": "fixed K=12 (all source)", "fixed4": "fixed K=4", "fixed8": "fixed K=8"}
    for policy, s in rows.items():
        label = names.get(policy, policy) + (" = best fixed" if policy == best else "")
        lines.append("| %s | %s | %s | %.1f | %.1f | %s | %.2f |" % (trace, label, s["requests"], float(s["mean_ms"]),
                     float(s["p95_ms"]), s.get("replans", "0"), float(s["mean_ms"]) / oracle))
    if "adaptive" in rows and fixed:
        a = float(rows["adaptive"]["mean_ms"])
        verdicts.append("- %s: adaptive mean %.1f ms = %.2f x oracle (target <= 1.10: %s); vs best fixed (%s, %.1f ms): %s." % (
            trace, a, a / oracle, "met" if a <= 1.10 * oracle else "NOT met", names[best], fixed[best],
            "better" if a < fixed[best] else "NOT better"))
lines += ["", "## Verdicts", ""] + verdicts
lines += ["", "## Reaction time", "",
          "A constant camera -> pi1 link is shaped from one rate to another 6 s into a run (`link shape`, both directions) "
          "while requests run one at a time. `plan` = step to the daemon's plan event; `requests` = step to the start of "
          "the first request that ran under the new epoch. Medians of %s runs (each figure listed)." % reps, "",
          "| step | plan ms | requests ms |", "|---|---:|---:|"]
for step in ["step-down", "step-up"]:
    plans, firsts = [], []
    for s in (summary(f"{step}.{i}") for i in range(1, int(reps) + 1)):
        if s and "plan_after_step_ms" in s: plans.append(float(s["plan_after_step_ms"]))
        if s and "first_request_after_step_ms" in s: firsts.append(float(s["first_request_after_step_ms"]))
    fmt = lambda xs: ("%.0f (%s)" % (statistics.median(xs), ", ".join("%.0f" % x for x in xs))) if xs else "no re-plan"
    lines.append("| %s | %s | %s |" % ({"step-down": "40 Mbps -> 500 kbps", "step-up": "500 kbps -> 40 Mbps"}[step], fmt(plans), fmt(firsts)))
open(out_path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
