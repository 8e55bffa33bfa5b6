#!/usr/bin/env bash
# tools/testbed end to end: three agents (a - b - c) in their own network namespaces, links shaped
# by tc tbf. The a-b link starts at 40 Mbit/s, where the best plan sends the input to b; the test
# then drops it to 500 kbit/s with `tc qdisc change` itself (no replay: deterministic) and keeps
# sending requests until the daemon, following the agents' measurements, moves the whole model to
# a. Then `testbed down` must leave no namespace and no process.
# Figures (cleavectl plan CONFIG --sweep a-b): a [0, 8) below 1.28 Mbit/s, b [0, 8) above.
# Exits 77 (skipped) when not root, when network namespaces cannot be made, or when cleaved or
# cleave-agent is not built.
# Usage: testbed_test.sh CLEAVECTL [BUILD_DIR]
set -u
cleavectl=$1
build=${2:-$(cd "$(dirname "$cleavectl")/.." && pwd)}
root=$(cd "$(dirname "$0")/.." && pwd)
testbed=$root/tools/testbed/testbed
readonly REPLAN_WAIT_S=60

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veth, tc)"
probe=cleave-probe-$$
ip netns add "$probe" 2>/dev/null || skip "ip netns add is not allowed here"
ip netns del "$probe"
for bin in "$build/daemon/cleaved" "$build/agent/cleave-agent"; do
  [ -x "$bin" ] || skip "$bin is not built"
done

work=$(mktemp -d)
state=$work/state
fleet=tb$$
# On failure the logs are printed (their last lines) before the state folder goes; with
# CLEAVE_KEEP_TESTBED=1 the folder stays.
cleanup() {
  if [ "$failures" -ne 0 ] && [ -d "$state/logs" ]; then
    for log in "$state"/logs/*; do
      echo "--- last 60 lines of $log"
      tail -n 60 "$log"
    done
  fi
  [ -f "$state/testbed/namespaces" ] && "$testbed" down "$state" >/dev/null 2>&1
  if [ "${CLEAVE_KEEP_TESTBED:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
failures=0
trap cleanup EXIT
# The first failure also prints the agents' TCP sockets and qdiscs as they are at that moment.
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
  [ "$failures" -eq 1 ] || return 0
  for ns in $(cat "$state/testbed/namespaces" 2>/dev/null); do
    echo "--- $ns: TCP sockets and qdiscs"
    ip netns exec "$ns" ss -tino 2>&1
    tc -n "$ns" -s qdisc show 2>&1
  done
}
ok() { echo "ok   $*"; }
indent() { sed 's/^/    /'; }
now_us() { local t=$EPOCHREALTIME; echo $((${t%.*} * 1000000 + 10#${t#*.})); }

# A process is gone when /proc has no entry for it or it is a zombie waiting for its parent.
process_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

cat >"$work/chain.toml" <<EOF
# a (slow, 100 MMAC/s) -- b, c (fast): at 40 Mbit/s a sends the 3 KiB input to b, which runs the
# whole model; at 500 kbit/s that takes 50 ms and a runs it itself (about 24 ms).
[fleet]
name = "$fleet"
daemon = "tcp://127.0.0.1:7799"   # testbed binds inside its namespaces instead
keys = "no-such-keys"              # testbed makes its own in the state folder
heartbeat = "200ms"
heartbeat_timeout = "2s"

[[device]]
name = "a"
kind = "pi"
macs = "100M"
ram = "64MiB"

[[device]]
name = "b"
kind = "cloud"
macs = "20G"
ram = "1GiB"

[[device]]
name = "c"
kind = "cloud"
macs = "20G"
ram = "1GiB"

[[link]]
from = "a"
to = "b"
bandwidth = "40Mbps"
rtt = "1ms"

[[link]]
from = "b"
to = "c"
bandwidth = "100Mbps"
rtt = "1ms"

[model]
bundle = "$root/models/fmnist-small"
strategy = "split"
source = "a"
sink = "c"

[planner]
hold = "200ms"
EOF

if ! "$testbed" up "$work/chain.toml" --state "$state" --bin-dir "$build" --pace >"$work/up.out" 2>&1; then
  fail "testbed up: $(cat "$work/up.out")"
  echo "$failures failures"
  exit 1
fi
ok "up: $(head -n 1 "$work/up.out")"
namespaces="cleave-$fleet cleave-$fleet-a cleave-$fleet-b cleave-$fleet-c"
for ns in $namespaces; do [ -e "/run/netns/$ns" ] || fail "namespace $ns missing"; done
pids=$(awk '!/^#/ {print $2}' "$state/pids")
[ "$(wc -w <<<"$pids")" -eq 4 ] && ok "4 processes recorded" || fail "pids: $(cat "$state/pids")"
for pid in $pids; do process_alive "$pid" || fail "process $pid is not running"; done
ns_a=cleave-$fleet-a
ns_c=cleave-$fleet-c

# The kernel holds what the topology says, and c reaches a's address through b (two hops).
qdisc=$(tc -n "$ns_a" qdisc show dev l0)
grep -q "tbf .*rate 40Mbit" <<<"$qdisc" && ok "a -> b shaped: $qdisc" || fail "a's end of a-b: $qdisc"
route=$(ip -n "$ns_c" route get 10.202.0.1)
grep -q "via 10.200.1.1 dev l1 .*src 10.202.0.3" <<<"$route" && ok "c -> a routed via b" || fail "c -> a: $route"
# A TCP connection from c to a's data port crosses b both ways (the agent drops it: no handshake).
timeout 5 ip netns exec "$ns_c" bash -c 'exec 3<>/dev/tcp/10.202.0.1/7000' && ok "c connects to a's data port" ||
  fail "c cannot connect to 10.202.0.1:7000"

out=$("$testbed" link "$state" c b 100Mbps 2>&1) && grep -q "rate 100Mbit" <<<"$(tc -n "$ns_c" qdisc show dev l1)" &&
  ok "testbed link: $out" || fail "testbed link c b: $out"
out=$("$testbed" link "$state" a c 1Mbps 2>&1) && fail "link between non-neighbours accepted: $out" ||
  ok "testbed link refuses a non-link: $out"

label=$(awk '{print $1; exit}' "$root/models/fmnist-small/sample-label.txt")
sample=$root/models/fmnist-small/sample.npy
out=$("$testbed" ctl "$state" status 2>&1)
grep -qE '^agents online: +3/3$' <<<"$out" && ok "status: 3/3 agents online" || fail "status: $out"
before=$("$testbed" ctl "$state" plan show 2>&1)
echo "plan at 40 Mbit/s:"
indent <<<"$before"
grep -qE '^1 +b +0\.\.7 ' <<<"$before" && ok "b runs the model at 40 Mbit/s" || fail "plan before: $before"
out=$("$testbed" ctl "$state" infer --input "$sample" --repeat 20 2>&1)
grep -q "argmax $label " <<<"$out" && grep -q "20 requests pipelined" <<<"$out" && ok "infer --repeat 20: class $label" ||
  fail "infer: $out"

# Drop a -> b to 500 kbit/s behind the agents' backs, then send requests until a plan moves the
# model (the agents measure their transfers, the daemon re-plans after [planner] hold).
tc -n "$ns_a" qdisc change dev l0 root tbf rate 500kbit burst 1600 limit 262144 || fail "tc qdisc change"
grep -q "rate 500Kbit" <<<"$(tc -n "$ns_a" qdisc show dev l0)" || fail "a -> b is not at 500 kbit/s"
start=$(now_us)
deadline=$((start + REPLAN_WAIT_S * 1000000))
after=
rounds=0
while [ "$(now_us)" -lt "$deadline" ]; do
  rounds=$((rounds + 1))
  out=$("$testbed" ctl "$state" infer --input "$sample" --repeat 5 2>&1) || fail "infer while waiting: $out"
  current=$("$testbed" ctl "$state" plan show 2>&1)
  if grep -qE '^0 +a +0\.\.7 ' <<<"$current"; then
    after=$current
    break
  fi
done
if [ -n "$after" ]; then
  ok "re-planned $((($(now_us) - start) / 1000)) ms after the drop ($rounds rounds of 5 requests)"
  echo "plan at 500 kbit/s:"
  indent <<<"$after"
else
  fail "no re-plan within $REPLAN_WAIT_S s; plan: $current"
fi
grep -q "link a -> b moved" "$state/logs/daemon.log" && ok "daemon log: $(grep -m1 -o 'link a -> b moved[^;]*' "$state/logs/daemon.log")" ||
  fail "daemon log does not name link a -> b: $(grep -i plan "$state/logs/daemon.log" | tail -n 3)"
out=$("$testbed" ctl "$state" infer --input "$sample" 2>&1)
grep -q "argmax $label " <<<"$out" && ok "infer under the new plan: class $label" || fail "infer after the re-plan: $out"

out=$("$testbed" down "$state" 2>&1) || fail "down: $out"
[ "$(grep -c '^stopped' <<<"$out")" -eq 4 ] && ok "down stopped 4 processes" || fail "down: $out"
left=
for pid in $pids; do process_alive "$pid" && left="$left $pid"; done
[ -z "$left" ] && ok "no process left behind" || fail "still running after down:$left"
left=
for ns in $namespaces; do ip netns list | awk '{print $1}' | grep -qxF "$ns" && left="$left $ns"; done
[ -z "$left" ] && ok "no namespace left behind" || fail "namespaces left after down:$left"
out=$("$testbed" down "$state" 2>&1) && grep -q "nothing to stop" <<<"$out" && ok "a second down: $out" ||
  fail "second down: $out"

echo "$failures failures"
[ "$failures" -eq 0 ]
