#!/usr/bin/env bash
# Runs every fuzz target for SECONDS from a copy of its seed corpus and regressions (new inputs
# go to BUILD/corpus/<target>, never into the committed fuzz/corpus), prints executions, exec/s,
# coverage (cov: and ft: of libFuzzer's final stats line) and crashes per target, and writes the
# table to fuzz/results.md. Exits 1 when any target crashed, leaked, timed out or ran out of memory;
# the input is in BUILD/artifacts/<target>/ and the log in BUILD/logs/<target>.log.
# Usage: fuzz/run_fuzzers.sh [BUILD_DIR (build-fuzz)] [SECONDS (FUZZ_SECONDS or 60)] [TARGET...]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build-fuzz}")
seconds=${2:-${FUZZ_SECONDS:-60}}
shift $(( $# < 2 ? $# : 2 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx_model npy topology_toml agent_toml bandwidth_trace control_message data_message key_file)

# Input caps: a model may be large, everything else is a small file or one message.
max_len() { case "$1" in onnx_model) echo 1048576 ;; *) echo 65536 ;; esac; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/logs"
rows=()
failed=0
printf '%-16s %8s %10s %9s %7s %7s  %s\n' target seconds execs exec/s cov ft crashes
for t in "${targets[@]}"; do
  binary="$build/fuzz/fuzz_$t"
  if [ ! -x "$binary" ]; then
    echo "$t: $binary is missing (build the fuzz_targets target first)" >&2
    failed=1
    continue
  fi
  corpus="$build/corpus/$t" artifacts="$build/artifacts/$t/" log="$build/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/*
  for seeds in "$root/fuzz/corpus/$t" "$root/fuzz/regressions/$t"; do
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null
  done
  "$binary" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1
  rc=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n1)
  speed=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -n1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -n1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")
  found=$(find "$artifacts" -type f | wc -l)
  crashes=$([ "$found" -eq 0 ] && [ "$rc" -eq 0 ] && echo none || echo "$found (exit $rc): $(find "$artifacts" -type f -printf '%f ')")
  [ "$crashes" = none ] || failed=1
  printf '%-16s %8s %10s %9s %7s %7s  %s\n' "$t" "$seconds" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
  rows+=("| $t | $seconds | ${execs:-?} | ${speed:-?} | ${cov:-?} | ${ft:-?} | $crashes |")
done

{
  echo "# Fuzzing results"
  echo
  echo "Written by \`fuzz/run_fuzzers.sh\` (\`make fuzz\`) on $(date -u +%Y-%m-%d) with $(clang --version | head -n1)."
  echo "Each target ran from a copy of \`fuzz/corpus/<target>\` and \`fuzz/regressions/<target>\`;"
  echo "cov and ft are libFuzzer's coverage counters (edges, features) at the end of the run."
  echo
  echo "| target | seconds | execs | exec/s | cov | ft | crashes |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$root/fuzz/results.md"
exit $failed
