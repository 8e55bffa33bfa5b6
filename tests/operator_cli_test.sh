#!/usr/bin/env bash
# cleavectl's operator side end to end.
#   1. Without a daemon: argument mistakes and an unreachable daemon give one line on stderr and
#      a non-zero exit.
#   2. With cleaved and cleave-agent built ($BUILD/daemon, $BUILD/agent): `up` on a 3-device
#      topology, then status, agents, plan show/apply, infer (checked against the sample's label
#      and a local run of the same model), watch, link set, replan, and `down` leaving no process.
#      Exits 77 (skipped) when either binary is missing.
# Usage: operator_cli_test.sh CLEAVECTL [BUILD_DIR]
set -u
cleavectl=$1
build=${2:-$(cd "$(dirname "$cleavectl")/.." && pwd)}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
state=$work/state
watch_pid=
cleanup() {
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
  [ -f "$state/pids" ] && "$cleavectl" down --state "$state" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

expect_error() {  # expect_error NAME PATTERN ARGS...: non-zero exit, one line on stderr holding PATTERN
  local name=$1 pattern=$2
  shift 2
  local err status lines
  err=$("$cleavectl" "$@" 2>&1 >/dev/null)
  status=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$status" -eq 0 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$pattern" <<<"$err"; then
    fail "$name: exit $status, $lines lines: $err"
  else
    ok "$name: $err"
  fi
}

# A process is gone when /proc has no entry for it or it is a zombie waiting for its parent.
process_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# Polls (every 50 ms, at most 10 s) until the file holds a line matching the pattern.
wait_for_line() {  # wait_for_line FILE PATTERN
  local i
  for i in $(seq 200); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# --- 1. without a daemon ---------------------------------------------------------------------
"$cleavectl" keygen operator --out "$work/keys" >/dev/null || fail "keygen operator"
"$cleavectl" keygen daemon --out "$work/keys" >/dev/null || fail "keygen daemon"
# A free port: bound once by Python and released, so nothing listens there.
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nowhere=tcp://127.0.0.1:$port
key=$work/keys/operator.secret
mkdir -p "$work/empty-state"

expect_error "no daemon given" "say where the daemon is: --daemon ENDPOINT --key FILE, or --state DIR" status
expect_error "missing --key" "--daemon needs --key FILE" --daemon "$nowhere" status
expect_error "bad endpoint" "--daemon: '127.0.0.1:$port' is not a ZeroMQ endpoint" --daemon "127.0.0.1:$port" --key "$key" status
expect_error "missing key file" "$work/keys/nobody.secret" --daemon "$nowhere" --key "$work/keys/nobody.secret" status
expect_error "bad --state" "--state $work/nope: no such folder" --state "$work/nope" status
expect_error "--state without a running fleet" "$work/empty-state/endpoints: not found" --state "$work/empty-state" agents
expect_error "--state with --key" "drop --daemon, --key and --daemon-key" --state "$work/empty-state" --key "$key" status
expect_error "bad --timeout" "--timeout: 'soon' is not a number of seconds" --daemon "$nowhere" --key "$key" --timeout soon status
expect_error "no reply within --timeout 1" "no reply from $nowhere within 1 s (wrong key or daemon not running?)" \
  --daemon "$nowhere" --key "$key" --timeout 1 status
expect_error "no reply, options after the command" "no reply from $nowhere within 1 s" \
  plan show --daemon "$nowhere" --key "$key" --timeout 1
expect_error "cut count" "--cuts: a route of 3 devices needs 2 cut positions, not 1" \
  --daemon "$nowhere" --key "$key" plan apply --route a,b,c --cuts 2
expect_error "decreasing cuts" "cut positions must not decrease" --daemon "$nowhere" --key "$key" plan apply --route a,b,c --cuts 4,2
expect_error "link set without a shape" "give --bandwidth RATE" --daemon "$nowhere" --key "$key" link set a b
expect_error "link set bad unit" "--bandwidth: " --daemon "$nowhere" --key "$key" link set a b --bandwidth 2Mbit
expect_error "infer without its file" "$work/none.npy: cannot open file" --daemon "$nowhere" --key "$key" infer --input "$work/none.npy"
expect_error "infer --repeat 0" "--repeat: 0 is out of range" --daemon "$nowhere" --key "$key" infer --input x.npy --repeat 0
expect_error "up without its topology" "$work/nope.toml: cannot open file" up "$work/nope.toml"
out=$("$cleavectl" down --state "$work/empty-state" 2>&1) && grep -q "nothing to stop" <<<"$out" &&
  ok "down with nothing running: $out" || fail "down with nothing running: $out"
"$cleavectl" plan "$root/configs/home-lab.toml" >/dev/null && ok "offline plan CONFIG still works" || fail "plan CONFIG"

# --- 2. a real fleet ---------------------------------------------------------------------------
daemon_bin=$build/daemon/cleaved
agent_bin=$build/agent/cleave-agent
if [ ! -x "$daemon_bin" ] || [ ! -x "$agent_bin" ]; then
  echo "$failures failures in the part without a daemon"
  [ "$failures" -eq 0 ] || exit 1
  echo "SKIP the fleet part: $([ -x "$daemon_bin" ] || echo "$daemon_bin") $([ -x "$agent_bin" ] || echo "$agent_bin") not built"
  exit 77
fi

cat >"$work/ops.toml" <<EOF
# Three devices on 127.0.0.1 running fmnist-small. Figures are chosen, not measured, so that
# every device computes (as in tests/fleet/three-agents.toml, whose comments give the sums):
# camera holds nodes 0-1 at most, edge nodes 2-3, cloud nodes 2-7 at most; camera,edge,cloud
# with cuts 2,4 is valid.
[fleet]
name = "ops-test"
daemon = "tcp://127.0.0.1:7799"   # up binds ephemeral ports instead
keys = "no-such-keys"              # does not exist: up makes its own in the state folder
heartbeat = "100ms"
heartbeat_timeout = "1s"

[[device]]
name = "camera"
kind = "pi"
macs = "10G"
ram = "160KiB"

[[device]]
name = "edge"
kind = "pi"
macs = "2G"
ram = "240KiB"
flash = "1MiB"

[[device]]
name = "cloud"
kind = "cloud"
macs = "500M"
ram = "470KiB"

[[link]]
from = "camera"
to = "edge"
bandwidth = "100Mbps"
rtt = "1ms"

[[link]]
from = "edge"
to = "cloud"
bandwidth = "100Mbps"
rtt = "1ms"

[[link]]
from = "camera"
to = "cloud"
bandwidth = "10Mbps"
rtt = "20ms"

[model]
bundle = "$root/models/fmnist-small"
strategy = "split"
source = "camera"
sink = "cloud"

[planner]
adapt = false   # loopback measures GB/s: the plans checked here must not follow it
EOF

if ! "$cleavectl" up "$work/ops.toml" --state "$state" >"$work/up.out" 2>"$work/up.err"; then
  fail "up: $(cat "$work/up.err")"
  echo "$failures failures"
  exit 1
fi
ok "up: $(head -n 1 "$work/up.out")"
grep -q "cleavectl --state .* status" "$work/up.out" || fail "up does not say how to reach the fleet: $(cat "$work/up.out")"
for name in daemon camera edge cloud operator; do
  [ -f "$state/keys/$name.pub" ] && [ "$(stat -c %a "$state/keys/$name.secret")" = 600 ] || fail "key pair $name"
done
[ -d "$work/no-such-keys" ] && fail "up created the topology's keys folder"
for name in camera edge cloud; do
  grep -qE "^name = [\"']$name[\"']" "$state/agents/$name.toml" && grep -q '^\[device\]' "$state/agents/$name.toml" ||
    fail "agents/$name.toml: $(cat "$state/agents/$name.toml")"
done
pids=$(awk '!/^#/ {print $2}' "$state/pids")
[ "$(wc -w <<<"$pids")" -eq 4 ] && ok "4 processes recorded" || fail "pids: $(cat "$state/pids")"
for pid in $pids; do process_alive "$pid" || fail "process $pid is not running"; done

expect_error "a second up" "a fleet is already running from $state" up "$work/ops.toml" --state "$state"

out=$("$cleavectl" --state "$state" status 2>&1) || fail "status: $out"
grep -qE '^agents online: +3/3$' <<<"$out" && ok "status: 3/3 agents online" || fail "status: $out"
grep -qE '^epoch: +[1-9]' <<<"$out" || fail "status shows no plan: $out"

out=$("$cleavectl" --state "$state" agents 2>&1) || fail "agents: $out"
[ "$(grep -cE '^(camera|edge|cloud) +yes ' <<<"$out")" -eq 3 ] && ok "agents: 3 online rows" || fail "agents: $out"

out=$("$cleavectl" --state "$state" plan show 2>&1) || fail "plan show: $out"
grep -q "installed" <<<"$out" && grep -q "^0 *camera" <<<"$out" && grep -qE "cloud +([0-9]+\.\.7|\(relay\))" <<<"$out" &&
  ok "plan show: camera first, cloud last" || fail "plan show: $out"

# Inference: the sample is an ankle boot (class 9, models/fmnist-small/sample-label.txt), and the
# fleet's output matches the model run locally in one piece.
sample=$root/models/fmnist-small/sample.npy
out=$("$cleavectl" --state "$state" infer --input "$sample" --output "$work/fleet.npy" 2>&1) || fail "infer: $out"
grep -q "argmax 9 " <<<"$out" && ok "infer: class 9" || fail "infer: $out"
"$cleavectl" model run "$root/models/fmnist-small/model.onnx" --input "$sample" --output "$work/local.npy" >/dev/null ||
  fail "local model run"
/usr/bin/python3 - "$work/fleet.npy" "$work/local.npy" <<'PY' && ok "fleet output matches a local run" || fail "fleet output differs from a local run"
import sys, numpy as np
fleet, local = np.load(sys.argv[1]), np.load(sys.argv[2])
assert fleet.shape == local.shape, (fleet.shape, local.shape)
assert np.allclose(fleet, local, rtol=1e-4, atol=1e-5), (fleet, local)
PY

out=$("$cleavectl" --state "$state" infer --input "$sample" --repeat 5 2>&1) || fail "infer --repeat: $out"
grep -q "5 requests pipelined" <<<"$out" && grep -q "p95" <<<"$out" && ok "infer --repeat 5" || fail "infer --repeat 5: $out"

out=$("$cleavectl" --state "$state" plan apply --route camera,edge,cloud --cuts 2,4 --dry-run 2>&1) || fail "dry run: $out"
grep -q "not installed" <<<"$out" && grep -q "dry run" <<<"$out" && ok "plan apply --dry-run" || fail "plan apply --dry-run: $out"

# A watch sees the plans we install (applied until one shows: the daemon may register the watch
# after our first apply).
"$cleavectl" --state "$state" watch --plans >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
seen=
for i in $(seq 20); do
  "$cleavectl" --state "$state" plan apply --route camera,edge,cloud --cuts 2,4 >"$work/apply.out" 2>&1 ||
    { fail "plan apply: $(cat "$work/apply.out")"; break; }
  if wait_for_line "$work/watch.out" " plan +epoch [0-9]+ split: camera 0\.\.1 -> edge 2\.\.3 -> cloud 4\.\.7"; then
    seen=yes
    break
  fi
done
[ -n "$seen" ] && ok "watch printed the applied plan" || fail "watch: $(cat "$work/watch.out" "$work/watch.err")"
kill -INT "$watch_pid"
wait "$watch_pid"
status=$?
watch_pid=
[ "$status" -eq 0 ] && ok "watch exits 0 on SIGINT" || fail "watch exit $status: $(cat "$work/watch.err")"

out=$("$cleavectl" --state "$state" plan show 2>&1)
grep -qE "^0 +camera +0\.\.1 " <<<"$out" && grep -qE "^1 +edge +2\.\.3 " <<<"$out" && grep -qE "^2 +cloud +4\.\.7 " <<<"$out" &&
  ok "plan show: the applied plan" || fail "plan show after apply: $out"
out=$("$cleavectl" --state "$state" infer --input "$sample" 2>&1)
grep -q "argmax 9 " <<<"$out" && ok "infer under the applied plan: class 9" || fail "infer after apply: $out"

out=$("$cleavectl" --state "$state" link set camera edge --bandwidth 200kbps --rtt 10ms 2>&1) &&
  grep -q "the daemon plans with 200 kbps" <<<"$out" && ok "link set: $out" || fail "link set: $out"
out=$("$cleavectl" --state "$state" link set camera edge --clear 2>&1) && ok "link set --clear" || fail "link set --clear: $out"
out=$("$cleavectl" --state "$state" link shape camera edge --bandwidth 20Mbps --rtt 2ms 2>&1) &&
  grep -q "shaped to 20 Mbps" <<<"$out" && ok "link shape: $out" || fail "link shape: $out"
out=$("$cleavectl" --state "$state" link shape camera edge --clear 2>&1) && ok "link shape --clear" || fail "link shape --clear: $out"
expect_error "link set, unknown device" "daemon: link set: no device" --state "$state" link set camera nosuch --clear

out=$("$cleavectl" --state "$state" replan --force 2>&1) && grep -q "predicted latency" <<<"$out" &&
  ok "replan --force" || fail "replan --force: $out"

out=$("$cleavectl" down --state "$state" 2>&1) || fail "down: $out"
[ "$(grep -c "^stopped" <<<"$out")" -eq 4 ] && ok "down stopped 4 processes" || fail "down: $out"
left=
for pid in $pids; do process_alive "$pid" && left="$left $pid"; done
[ -z "$left" ] && ok "no process left behind" || fail "still running after down:$left"
[ ! -e "$state/pids" ] || fail "down left $state/pids"
expect_error "status after down" "$state/endpoints: not found" --state "$state" status

echo "$failures failures"
[ "$failures" -eq 0 ]
