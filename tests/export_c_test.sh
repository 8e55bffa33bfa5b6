#!/usr/bin/env bash
# `cleavectl model export-c`: fmnist-small quantised to int8, exported whole and as two stages,
# each compiled with gcc -std=c99 -Wall -Werror into tests/export_c_host.c and run on the int8
# reference kernels; their bytes must equal `cleavectl model run` on the quantised model (whole,
# and chained through the stages). Usage: export_c_test.sh CLEAVECTL SOURCE_DIR
set -euo pipefail
cleavectl=$1
src=$2
command -v gcc >/dev/null || { echo "skipped: no gcc"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$cleavectl" model quantize "$src/models/fmnist-small/model.onnx" --mode int8 --samples 200 \
  --calibration /usr/share/datasets/fashion-mnist -o "$work/small.onnx" >/dev/null
"$cleavectl" model run "$work/small.onnx" --input "$src/models/fmnist-small/sample.npy" --output "$work/expected.npy" >/dev/null
expected=$(/usr/bin/python3 -c "import numpy as np, sys; print(np.load(sys.argv[1]).tobytes().hex())" "$work/expected.npy")

build() {  # NAME: compile the exported NAME.{h,c} with the host program
  gcc -std=c99 -Wall -Wextra -Werror -O1 -I "$src" -I "$work" -DSTAGE_HEADER="\"$1.h\"" -DSTAGE_IMAGE="$1_image" \
    -DSTAGE_ARENA_BYTES="$(echo "$1" | tr a-z A-Z)_ARENA_BYTES" \
    -o "$work/$1" "$src/tests/export_c_host.c" "$work/$1.c" "$src"/runtime/int8/*.c -lm
}

"$cleavectl" model export-c "$work/small.onnx" --name fmnist_small -o "$work" | tee "$work/export.log"
grep -q "arena" "$work/export.log"
grep -q "const uint8_t fmnist_small_image" "$work/fmnist_small.c"
build fmnist_small
actual=$("$work/fmnist_small" "$src/models/fmnist-small/sample.npy")
[ "$actual" = "$expected" ] || { echo "whole model: C $actual, cleavectl $expected"; exit 1; }
echo "whole model: identical (${#actual} hex digits)"

# Two stages cut after the second convolution: the first's output bytes feed the second.
"$cleavectl" model export-c "$work/small.onnx" --name head --cuts 4 --stage 0 -o "$work" >/dev/null
"$cleavectl" model export-c "$work/small.onnx" --name tail --cuts 4 --stage 1 -o "$work" >/dev/null
build head
build tail
"$work/head" "$src/models/fmnist-small/sample.npy" >"$work/middle.hex"
/usr/bin/python3 -c "import sys; open(sys.argv[2], 'wb').write(bytes.fromhex(open(sys.argv[1]).read().strip()))" \
  "$work/middle.hex" "$work/middle.bin"
actual=$("$work/tail" "$work/middle.bin")
[ "$actual" = "$expected" ] || { echo "head + tail: C $actual, cleavectl $expected"; exit 1; }
echo "head + tail stages: identical; the head sends $(stat -c %s "$work/middle.bin") bytes (int8)"

# Refusals: a float model has no stage image form; a bad name is not a C identifier.
if "$cleavectl" model export-c "$src/models/fmnist-small/model.onnx" --name f -o "$work" 2>"$work/err"; then
  echo "exported a float model"; exit 1
fi
grep -q "has no stage image form" "$work/err"
if "$cleavectl" model export-c "$work/small.onnx" --name 9lives -o "$work" 2>"$work/err"; then exit 1; fi
grep -q "not a C identifier" "$work/err"
echo "refusals: named"
