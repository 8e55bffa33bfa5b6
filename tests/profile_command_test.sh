#!/usr/bin/env bash
# `cleavectl profile` prints one [[device]] block that TOML parses, with every key the topology
# needs and figures in the schema's unit grammar and in a plausible range; bad arguments give
# one `cleavectl: error:` line and a non-zero exit. Figures are checked only for plausibility
# (speed belongs in bench/), so the test holds on slow and fast machines alike.
set -u
cleavectl=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

if "$cleavectl" profile --seconds 0.5 --name test-box >"$work/out.toml" 2>"$work/err.txt"; then
  echo "ok   profile ran"
else
  echo "FAIL profile exited $?: $(cat "$work/err.txt")"
  failures=$((failures + 1))
fi
cat "$work/out.toml"

/usr/bin/python3 - "$work/out.toml" <<'PY' || failures=$((failures + 1))
import re, sys, tomllib

def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)

try:
    with open(sys.argv[1], "rb") as f:
        doc = tomllib.load(f)
except tomllib.TOMLDecodeError as e:
    fail(f"output is not TOML: {e}")

if set(doc) != {"device"} or not isinstance(doc["device"], list) or len(doc["device"]) != 1:
    fail(f"expected exactly one [[device]] and nothing else, got {doc}")
device = doc["device"][0]
expected = {"name", "kind", "macs", "node_overhead", "ram"}
if set(device) != expected:
    fail(f"device keys {sorted(device)}, expected {sorted(expected)}")
if device["name"] != "test-box" or device["kind"] != "measured":
    fail(f"name/kind {device['name']!r}/{device['kind']!r}, expected 'test-box'/'measured'")

# The schema's rate grammar: a number with a k/M/G/T suffix.
RATE_UNITS = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
classes = {"default", "conv", "depthwise", "gemm", "elementwise"}
if set(device["macs"]) != classes:
    fail(f"macs keys {sorted(device['macs'])}, expected {sorted(classes)}")
for name, text in device["macs"].items():
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kMGT])", text)
    if not m:
        fail(f"macs.{name} = {text!r} is not a rate like '9.8G'")
    value = float(m.group(1)) * RATE_UNITS[m.group(2)]
    digits = len(m.group(1).replace(".", "").lstrip("0"))
    if not (1e6 <= value <= 1e12) or digits > 3:
        fail(f"macs.{name} = {text!r} is implausible or not 3 significant digits")
if device["macs"]["default"] != device["macs"]["conv"]:
    fail("macs.default should be the conv figure")

# Time grammar. The lower bound is 5 ns (a dozen cycles): this runtime dispatches a node in
# about 40-60 ns on a server core, so 0.05 us would be too tight to hold everywhere.
TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
m = re.fullmatch(r"(\d+(?:\.\d+)?)(us|ms|s)", device["node_overhead"])
if not m:
    fail(f"node_overhead = {device['node_overhead']!r} is not a time like '20us'")
overhead = float(m.group(1)) * TIME_UNITS[m.group(2)]
if not (5e-9 <= overhead <= 1e-3):
    fail(f"node_overhead = {device['node_overhead']!r} is outside [0.005us, 1ms]")

m = re.fullmatch(r"(\d+)MiB", device["ram"])
if not m:
    fail(f"ram = {device['ram']!r} is not a size like '4096MiB'")
with open("/proc/meminfo") as f:
    total_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
if int(m.group(1)) != total_kib // 1024:
    fail(f"ram = {device['ram']!r}, /proc/meminfo says {total_kib} kB")
print("ok   output parses and every figure is plausible")
PY

expect_error() {  # expect_error NAME PATTERN ARGS...
  local name=$1 pattern=$2
  shift 2
  local err status lines
  err=$("$cleavectl" profile "$@" 2>&1 >/dev/null)
  status=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$status" -eq 0 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$pattern" <<<"$err"; then
    echo "FAIL $name: exit $status, $lines lines: $err"
    failures=$((failures + 1))
  else
    echo "ok   $name: $err"
  fi
}
expect_error "zero seconds" "cleavectl: error: --seconds: 0 is out of range" --seconds 0
expect_error "negative seconds" "cleavectl: error: --seconds: -2 is out of range" --seconds -2
expect_error "seconds not a number" "cleavectl: error: --seconds: '3x' is not a number" --seconds 3x
expect_error "zero threads" "cleavectl: error: --threads: 0 is out of range" --threads 0
expect_error "bad name" "cleavectl: error: --name: 'a b' may hold only" --name "a b"

echo "$failures failures"
[ "$failures" -eq 0 ]
