#!/usr/bin/env bash
# `cleavectl plan` end to end on configs/home-lab.toml: the table, JSON that parses and agrees
# with itself, a bandwidth override that changes the plan, a sweep, and one-line errors.
set -u
cleavectl=$1
root=$(cd "$(dirname "$0")/.." && pwd)
config=$root/configs/home-lab.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

out=$("$cleavectl" plan "$config") || fail "plan exited non-zero"
grep -q "predicted latency" <<<"$out" || fail "no predicted latency in: $out"
grep -q "runner-ups:" <<<"$out" || fail "no runner-ups in: $out"

# JSON: three plans, best first, each from camera to cloud covering every node once.
"$cleavectl" plan "$config" --json >"$work/plan.json" || fail "plan --json exited non-zero"
/usr/bin/python3 - "$work/plan.json" <<'PY' || fail "plan --json content"
import json, sys
d = json.load(open(sys.argv[1]))
plans = d["plans"]
assert len(plans) == 3, len(plans)
assert [p["cost"] for p in plans] == sorted(p["cost"] for p in plans)
for p in plans:
    s = p["stages"]
    assert s[0]["device"] == "camera" and s[-1]["device"] == "cloud", s
    assert s[0]["begin"] == 0 and all(a["end"] == b["begin"] for a, b in zip(s, s[1:]))
    total = sum(x["compute_s"] + x["transfer_s"] for x in s)
    assert abs(total - p["latency_s"]) <= 1e-9 * total, (total, p["latency_s"])
PY

# A slow first hop keeps the work on the camera: the best plan changes.
"$cleavectl" plan "$config" --json --bandwidth camera-pi1=100kbps --bandwidth camera-cloud=100kbps >"$work/slow.json" ||
  fail "plan with --bandwidth exited non-zero"
/usr/bin/python3 - "$work/plan.json" "$work/slow.json" <<'PY' || fail "--bandwidth did not change the plan"
import json, sys
fast = json.load(open(sys.argv[1]))["plans"][0]
slow = json.load(open(sys.argv[2]))["plans"][0]
assert fast["cuts"] != slow["cuts"] or [s["device"] for s in fast["stages"]] != [s["device"] for s in slow["stages"]]
assert slow["stages"][0]["end"] > 0, "the camera should compute when its links crawl"
PY

sweep=$("$cleavectl" plan "$config" --sweep camera-cloud --from 10kbps --to 100Mbps) || fail "sweep exited non-zero"
grep -q "best plan by bandwidth camera -> cloud" <<<"$sweep" || fail "sweep header missing: $sweep"
[ "$(grep -c ' \.\. ' <<<"$sweep")" -ge 2 ] || fail "sweep has fewer than 2 segments: $sweep"

expect_error() {  # NAME PATTERN ARGS...
  local name=$1 pattern=$2
  shift 2
  local err status
  err=$("$cleavectl" "$@" 2>&1 >/dev/null)
  status=$?
  if [ "$status" -eq 0 ] || ! grep -qF -- "$pattern" <<<"$err"; then fail "$name: exit $status: $err"; else echo "ok   $name: $err"; fi
}
expect_error "missing file" "nope.toml: cannot open file" plan "$work/nope.toml"
expect_error "unknown link" "'camera-pi9' does not name a link" plan "$config" --bandwidth camera-pi9=1Mbps
expect_error "no such link" "no link joins 'pi1' and 'cloud'" plan "$config" --bandwidth pi1-cloud=1Mbps
expect_error "bad unit" "'1Mbit' has unit 'Mbit'" plan "$config" --bandwidth camera-pi1=1Mbit
expect_error "bad objective" "--objective 'speed'" plan "$config" --objective speed
# The first Pi's RAM in words: the error names the copy's line and column.
line=$(grep -n '^ram = "3GiB"' "$config" | head -1 | cut -d: -f1)
sed "${line}s/^ram = \"3GiB\"/ram = \"3 gigs\"/; s|^bundle = \"\.\./|bundle = \"$root/|" "$config" >"$work/bad.toml"
expect_error "bad topology" "bad.toml:$line:1: error: [[device]] 'pi1': 'ram' '3 gigs' has unit 'gigs'" plan "$work/bad.toml"

[ "$failures" -eq 0 ] && echo "all plan command checks passed"
exit "$failures"
