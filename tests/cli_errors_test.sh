#!/usr/bin/env bash
# Bad input to `cleavectl model ...` gives one line on stderr naming the problem, and a
# non-zero exit. Uses ONNX's own test models; writes its .npy files with NumPy.
set -u
cleavectl=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=/usr/share/libonnx-testdata/data/node
relu=$data/test_relu/model.onnx  # input x: float32[3,4,5]
small=$(dirname "$0")/../models/fmnist-small
failures=0

expect_error() {  # expect_error NAME PATTERN COMMAND...
  local name=$1 pattern=$2
  shift 2
  local err status lines
  err=$("$@" 2>&1 >/dev/null)
  status=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$status" -eq 0 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$pattern" <<<"$err"; then
    echo "FAIL $name: exit $status, $lines lines: $err"
    failures=$((failures + 1))
  else
    echo "ok   $name: $err"
  fi
}

/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
w = sys.argv[1]
np.save(f"{w}/good.npy", np.ones((3, 4, 5), np.float32))
np.save(f"{w}/labels.npy", np.zeros(2, np.int64))
np.save(f"{w}/shape.npy", np.ones((2, 2), np.float32))
np.save(f"{w}/dtype.npy", np.ones((3, 4, 5), np.int64))
open(f"{w}/garbage.npy", "wb").write(b"not numpy at all")
PY
head -c 60 "$data/test_conv_with_strides_padding/model.onnx" >"$work/truncated.onnx"

"$cleavectl" model run "$relu" --input "$work/good.npy" >/dev/null || { echo "FAIL: good input rejected"; failures=$((failures + 1)); }
expect_error "missing model" "$work/none.onnx: cannot open file" "$cleavectl" model run "$work/none.onnx" --input "$work/good.npy"
expect_error "truncated model" "truncated.onnx: not a valid ONNX model" "$cleavectl" model inspect "$work/truncated.onnx"
expect_error "unsupported op" "node 'Abs_0' uses op 'Abs', which cleave does not support" "$cleavectl" model inspect "$data/test_abs/model.onnx"
expect_error "unsupported op names the model" "test_abs/model.onnx" "$cleavectl" model run "$data/test_abs/model.onnx" --input "$work/good.npy"
expect_error "wrong shape" "expects float32[3,4,5], the file holds float32[2,2]" "$cleavectl" model run "$relu" --input "$work/shape.npy"
expect_error "wrong dtype" "expects float32[3,4,5], the file holds int64[3,4,5]" "$cleavectl" model run "$relu" --input "$work/dtype.npy"
expect_error "missing input" "$work/none.npy: cannot open file" "$cleavectl" model run "$relu" --input "$work/none.npy"
expect_error "not an npy" "garbage.npy: not a .npy file" "$cleavectl" model run "$relu" --input "$work/garbage.npy"
expect_error "profile to unwritable path" "/nonexistent-dir/p.csv: cannot write" "$cleavectl" model run "$relu" --input "$work/good.npy" --profile-csv /nonexistent-dir/p.csv
# --profile-csv: a header and one row per node run (test_relu has one node).
"$cleavectl" model run "$relu" --input "$work/good.npy" --repeat 3 --profile-csv "$work/p.csv" >/dev/null &&
  [ "$(head -1 "$work/p.csv")" = "node,op,ms_per_run,macs" ] && [ "$(wc -l <"$work/p.csv")" -eq 2 ] &&
  grep -q '^"[^"]*",Relu,[0-9.]*,60$' "$work/p.csv" ||
  { echo "FAIL: --profile-csv wrote: $(cat "$work/p.csv" 2>&1)"; failures=$((failures + 1)); }
expect_error "optimize to unwritable path" "cannot open" "$cleavectl" model optimize "$relu" -o /nonexistent-dir/out.onnx

# Quantisation, evaluation and pruning: bad input is named.
expect_error "quantize without calibration" "--mode int8 needs --calibration" "$cleavectl" model quantize "$relu" -o "$work/q.onnx"
expect_error "calibration of the wrong shape" "shape.npy: holds float32[2,2]; needs a batch [N, ...] of input float32[3,4,5]" "$cleavectl" model quantize "$relu" --calibration "$work/shape.npy" -o "$work/q.onnx"
expect_error "an op without an int8 kernel" "node 'Relu_0' (Relu) has no int8 kernel" "$cleavectl" model quantize "$relu" --calibration "$work/good.npy" -o "$work/q.onnx"
"$cleavectl" model quantize "$small/model.onnx" --calibration "$small/sample.npy" -o "$work/q.onnx" >/dev/null ||
  { echo "FAIL: quantize of fmnist-small"; failures=$((failures + 1)); }
expect_error "quantised twice" "the model is quantised already" "$cleavectl" model quantize "$work/q.onnx" --calibration "$small/sample.npy" -o "$work/qq.onnx"
expect_error "evaluate labels of the wrong count" "labels.npy: needs 1 int64 labels, holds int64[2]" "$cleavectl" model evaluate "$relu" --images "$work/good.npy" --labels "$work/labels.npy"
expect_error "prune sparsity out of range" "sparsity 1.5 is not in [0, 1)" "$cleavectl" model prune "$relu" --sparsity 1.5 -o "$work/p.onnx"

echo "$failures failures"
[ "$failures" -eq 0 ]
