#!/usr/bin/env bash
# `make demo`: the live adaptive demo. cleave-demo starts a daemon and four agents (camera board,
# two Pis, cloud) on 127.0.0.1 with links shaped by traces (configs/demo-fmnist.toml), streams
# the Fashion-MNIST test set through the teacher under the split strategy with a live view, and
# writes an HTML report. Extra arguments go to cleave-demo (`make demo DEMO_ARGS="--images 10000"`).
set -euo pipefail
build=${1:-build}
shift || true
mkdir -p "$build/demo"
exec "$build/tools/demo/cleave-demo" --report "$build/demo/report.html" "$@"
