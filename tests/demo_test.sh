#!/usr/bin/env bash
# `make demo`, shortened: cleave-demo brings up the demo fleet (daemon + four agents on
# 127.0.0.1, trace-shaped links, paced compute), streams 40 Fashion-MNIST test images through it
# and must end cleanly with every request answered, the fleet down, and a report holding the
# four plots. Exit 77 (skipped) without the dataset.
set -uo pipefail
demo=$1
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || { echo "skipped: dataset-fashion-mnist missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$demo" --images 40 --plain --state "$work/state" --report "$work/report.html" >"$work/out" 2>&1; then
  echo "FAIL: cleave-demo failed:"; cat "$work/out"; tail -n 20 "$work"/state/logs/*.log; exit 1
fi
cat "$work/out"
grep -q "^40 requests, 0 failed" "$work/out" || { echo "FAIL: not 40 answered requests"; exit 1; }
for plot in latency-plot bandwidth-plot load-plot curve-plot; do
  grep -q "<svg[^>]*id=\"$plot\"" "$work/report.html" || { echo "FAIL: the report has no $plot"; exit 1; }
done
# Every process `up` started is gone.
while read -r name pid start; do
  case "$name" in "#"*|"") continue ;; esac
  if kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" = "$start" ]; then
    echo "FAIL: $name (pid $pid) still runs"; exit 1
  fi
done <"$work/state/pids"
echo "ok: 40 requests, report with 4 plots, fleet down"
