#!/usr/bin/env bash
# Runs the test suite N times in a row in an existing build folder and prints "N passed, M failed"
# (runs, not tests). A flaky test is a bug: this is how one is found, and how a fix is shown.
#   tests/repeat_ctest.sh BUILD_DIR [RUNS] [ctest args...]     e.g. tests/repeat_ctest.sh build 30 -j2
# With LOAD=1 a busy loop per core runs beside the suite, so that it is tried under load too.
# The output of each failed run is kept in BUILD_DIR/repeat-logs/run-K.log.
set -uo pipefail
build=${1:?usage: repeat_ctest.sh BUILD_DIR [RUNS] [ctest args...]}
runs=${2:-30}
shift $(( $# >= 2 ? 2 : 1 ))
ctest_args=("$@")
[ ${#ctest_args[@]} -eq 0 ] && ctest_args=(-j2)
logs="$build/repeat-logs"
mkdir -p "$logs"

load_pids=()
stop_load() { [ ${#load_pids[@]} -gt 0 ] && kill "${load_pids[@]}" 2>/dev/null; }
trap stop_load EXIT
if [ "${LOAD:-0}" = 1 ]; then
  for _ in $(seq "$(nproc)"); do
    ( while :; do :; done ) &
    load_pids+=($!)
  done
  echo "loading $(nproc) cores with busy loops"
fi

passed=0
failed=0
for run in $(seq "$runs"); do
  log="$logs/run-$run.log"
  start=$(date +%s)
  if (cd "$build" && ctest --output-on-failure "${ctest_args[@]}") >"$log" 2>&1; then
    passed=$((passed + 1))
    rm -f "$log"
    echo "run $run: passed ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1))
    echo "run $run: FAILED ($(( $(date +%s) - start )) s): $(grep -E '^\s+[0-9]+ - ' "$log" | tr -s ' ' | tr '\n' ';')"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
