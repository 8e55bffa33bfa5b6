# Shared by the run_*_bench.sh scripts (sourced from the repository root, after `cd`): the load
# guard and the record of what a result was measured on. Usage in a script:
#
#   . bench/bench_common.sh
#   bench_begin run_foo_bench "$BUILD"       # refuses a loaded machine (exit 1) unless FORCE=1
#   bench_peer NAME VERSION [DETAILS]        # every peer the script measures against
#   bench_tool NAME VERSION [DETAILS]        # the harness (e.g. Google Benchmark)
#   ... measure (write nothing into bench/results yet) ...
#   bench_end                                # refuses to write (exit 1) if others loaded the machine
#   ... write the results: "$BENCH_META_MD" holds the markdown lines to put under the title,
#       "$BENCH_META_JSON" the same as a JSON object (key "environment" in every .json) ...
#
# Env: MAX_LOAD (default 1.0) limit on the 1-minute load average; FORCE=1 measures and writes
# anyway, marked in the results; LOAD_WAIT (default 120) seconds to wait at the start for the
# load left by a benchmark that ended less than that long ago (as in `make bench`) to fall.
#
# The load average at the end includes the benchmark's own threads (one busy thread alone brings
# it to about 1.0), so the end check does not use it: from bench_begin to bench_end a background
# sampler counts, every BENCH_SAMPLE_SECONDS (2), the runnable (R or D) threads of processes that
# are not this benchmark's (processes without this run's CLEAVE_BENCH_RUN in their environment,
# so the fleet that `cleavectl up` detaches still counts as ours), which is what the kernel's load
# average averages. If the highest 1-minute mean of that count is above MAX_LOAD, the load rose
# during the run: the script says so and writes nothing, unless FORCE=1.

BENCH_PY=/usr/bin/python3

bench_log() { echo "$BENCH_NAME: $*" >&2; }

# bench_above A B: true if the number A is greater than B.
bench_above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

# bench_cache VARIABLE: its value in BUILD_DIR/CMakeCache.txt, or nothing.
bench_cache() { sed -n "s/^$1:[A-Z]*=//p" "$BENCH_BUILD/CMakeCache.txt" 2>/dev/null | head -n1; }

bench_load1() { local l1 rest; read -r l1 rest </proc/loadavg; echo "$l1"; }

# The runnable threads of other processes right now (see the top of this file).
bench_others_now() {
  local marker="CLEAVE_BENCH_RUN=$CLEAVE_BENCH_RUN" others=0 pid n
  local environ
  while read -r pid n; do
    # A process gone before its environment is read is not load any more: most often the ps
    # above, which alone used to count as one runnable "other" thread in every sample.
    environ=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ") || continue
    grep -qxF "$marker" <<<"$environ" || others=$((others + n))
  done < <(ps -eLo pid=,stat= 2>/dev/null | awk '$2 ~ /^[RD]/ { n[$1]++ } END { for (p in n) print p, n[p] }')
  echo "$others"
}

bench_begin() {  # NAME BUILD_DIR
  BENCH_NAME=$1
  BENCH_BUILD=$2
  MAX_LOAD=${MAX_LOAD:-1.0}
  LOAD_WAIT=${LOAD_WAIT:-120}
  BENCH_SAMPLE_SECONDS=${BENCH_SAMPLE_SECONDS:-2}
  BENCH_FORCE=0
  [ "${FORCE:-0}" = 1 ] && BENCH_FORCE=1
  [[ $MAX_LOAD =~ ^[0-9]+([.][0-9]+)?$ ]] || { bench_log "MAX_LOAD=$MAX_LOAD is not a number"; exit 1; }
  [[ $LOAD_WAIT =~ ^[0-9]+$ ]] || { bench_log "LOAD_WAIT=$LOAD_WAIT is not a whole number of seconds"; exit 1; }
  BENCH_STAMP=${TMPDIR:-/tmp}/cleave-bench-last-end.$(id -u)

  # 1. The guard, before anything is measured.
  local load1 waited=0 ended
  load1=$(bench_load1)
  if bench_above "$load1" "$MAX_LOAD" && [ "$BENCH_FORCE" != 1 ]; then
    ended=$(cat "$BENCH_STAMP" 2>/dev/null || echo 0)
    [[ $ended =~ ^[0-9]+$ ]] || ended=0
    if [ $((EPOCHSECONDS - ended)) -lt "$LOAD_WAIT" ]; then
      bench_log "load average $load1 > $MAX_LOAD, $((EPOCHSECONDS - ended)) s after a benchmark ended; waiting up to $((ended + LOAD_WAIT - EPOCHSECONDS)) s for it to fall (LOAD_WAIT)"
      while bench_above "$load1" "$MAX_LOAD" && [ $((EPOCHSECONDS - ended)) -lt "$LOAD_WAIT" ]; do
        sleep 5
        load1=$(bench_load1)
      done
      waited=1
    fi
  fi
  if bench_above "$load1" "$MAX_LOAD"; then
    if [ "$BENCH_FORCE" != 1 ]; then
      bench_log "load average $load1 > $MAX_LOAD: figures taken under load mislead (one was once off by 1.6x against the peer); wait for a quiet machine or set FORCE=1"
      [ "$waited" = 0 ] || bench_log "(waited until $LOAD_WAIT s after the previous benchmark ended; the load did not fall)"
      exit 1
    fi
    bench_log "load average $load1 > $MAX_LOAD, measuring anyway (FORCE=1); the results will say so"
  fi
  BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

  # 2. What the results are measured on (all cheap).
  BENCH_DATE=$(date -Iseconds)
  BENCH_CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  [ -n "$BENCH_CPU" ] || BENCH_CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
  BENCH_CPUS=$(grep -c '^processor' /proc/cpuinfo)
  BENCH_NPROC=$(nproc)
  BENCH_KERNEL=$(uname -sr)
  BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo +dirty)
  local cache=$BENCH_BUILD/CMakeCache.txt
  BENCH_BUILD_TYPE=$(bench_cache CMAKE_BUILD_TYPE)
  BENCH_NATIVE=$(bench_cache CLEAVE_NATIVE)
  BENCH_CXX_PATH=$(bench_cache CMAKE_CXX_COMPILER)
  [ -n "$BENCH_CXX_PATH" ] || BENCH_CXX_PATH=c++
  BENCH_CXX=$("$BENCH_CXX_PATH" --version 2>/dev/null | head -n1) || true
  [ -n "$BENCH_CXX" ] || BENCH_CXX=unknown
  # The BLAS cleave linked: runtime/CMakeLists.txt links OPENBLAS_PTHREAD when CLEAVE_OPENBLAS is on
  # and the library was found, else Eigen's own GEMM.
  local openblas real package
  openblas=$(bench_cache OPENBLAS_PTHREAD)
  if [ ! -f "$cache" ]; then
    BENCH_BLAS="unknown (no $cache)"
  elif [ "$(bench_cache CLEAVE_OPENBLAS)" != OFF ] && [ -n "$openblas" ] && [[ $openblas != *NOTFOUND ]]; then
    real=$(readlink -f "$openblas" 2>/dev/null || echo "$openblas")
    package=$(dpkg-query -S "$real" 2>/dev/null | head -n1 | cut -d: -f1) || true
    BENCH_BLAS="OpenBLAS $openblas"
    [ -z "$package" ] || BENCH_BLAS="$BENCH_BLAS ($package $(dpkg-query -W -f='${Version}' "$package" 2>/dev/null))"
  else
    BENCH_BLAS=Eigen
  fi

  # 3. The sampler of other processes' load; it removes BENCH_DIR and stamps the end time for the
  # next benchmark's guard once this script has exited, so no trap is needed.
  BENCH_PID=$$
  BENCH_DIR=$(mktemp -d)
  CLEAVE_BENCH_RUN=$BENCH_PID.$EPOCHSECONDS.$RANDOM
  export CLEAVE_BENCH_RUN
  : >"$BENCH_DIR/peers"
  (
    set +e
    while kill -0 "$BENCH_PID" 2>/dev/null; do
      if [ ! -e "$BENCH_DIR/stop" ]; then
        echo "$EPOCHSECONDS $(bench_load1) $(bench_others_now)" >>"$BENCH_DIR/samples"
      fi
      sleep "$BENCH_SAMPLE_SECONDS"
    done
    echo "$EPOCHSECONDS" >"$BENCH_STAMP" 2>/dev/null
    rm -rf "$BENCH_DIR"
  ) </dev/null >/dev/null 2>&1 &
  disown $!
}

bench_peer() { printf 'peer\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$BENCH_DIR/peers"; }  # NAME VERSION [DETAILS]
bench_tool() { printf 'tool\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$BENCH_DIR/peers"; }  # NAME VERSION [DETAILS]

bench_end() {
  touch "$BENCH_DIR/stop"
  echo "$EPOCHSECONDS $(bench_load1) $(bench_others_now)" >>"$BENCH_DIR/samples"
  BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
  # samples: "EPOCH LOAD1 OTHERS"; the highest mean of OTHERS over any 60 s window (the whole run
  # if shorter), their overall mean, and the count.
  local stats
  stats=$(awk '{ t[NR] = $1; o[NR] = $3; sum += $3 }
    END {
      if (NR == 0) { print "0 0 0"; exit }
      peak = -1; j = 1; s = 0
      for (i = 1; i <= NR; i++) {
        s += o[i]
        while (t[i] - t[j] >= 60) { s -= o[j]; j++ }
        if (t[i] - t[1] >= 59 || i == NR) { m = s / (i - j + 1); if (m > peak) peak = m }
      }
      printf "%.2f %.2f %d\n", peak, sum / NR, NR
    }' "$BENCH_DIR/samples")
  read -r BENCH_OTHERS_PEAK BENCH_OTHERS_MEAN BENCH_SAMPLES <<<"$stats"
  BENCH_LOADED=0
  if bench_above "$BENCH_OTHERS_PEAK" "$MAX_LOAD"; then
    BENCH_LOADED=1
    bench_log "the load rose during the run: other processes kept $BENCH_OTHERS_PEAK threads runnable over a minute (1-minute mean, limit MAX_LOAD=$MAX_LOAD; load average now $BENCH_LOAD_END, this benchmark's own threads included)"
    if [ "$BENCH_FORCE" != 1 ]; then
      bench_log "figures taken under load mislead; nothing written to bench/results (FORCE=1 writes them, marked)"
      exit 1
    fi
    bench_log "writing the results anyway (FORCE=1), marked as taken under load"
  fi
  BENCH_META_MD=$BENCH_DIR/meta.md
  BENCH_META_JSON=$BENCH_DIR/meta.json
  export BENCH_NAME BENCH_DATE BENCH_CPU BENCH_CPUS BENCH_NPROC BENCH_KERNEL BENCH_COMMIT BENCH_BUILD BENCH_BUILD_TYPE \
    BENCH_NATIVE BENCH_CXX BENCH_CXX_PATH BENCH_BLAS BENCH_LOAD_START BENCH_LOAD_END BENCH_OTHERS_PEAK \
    BENCH_OTHERS_MEAN BENCH_SAMPLES BENCH_LOADED BENCH_FORCE MAX_LOAD
  "$BENCH_PY" - "$BENCH_DIR/peers" "$BENCH_META_MD" "$BENCH_META_JSON" <<'PY' || { bench_log "recording the environment failed"; exit 1; }
import json, os, sys
e = os.environ
entries = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
start, end = [float(x) for x in e["BENCH_LOAD_START"].split()], [float(x) for x in e["BENCH_LOAD_END"].split()]
loaded, force, limit, limit_text = e["BENCH_LOADED"] == "1", e["BENCH_FORCE"] == "1", float(e["MAX_LOAD"]), e["MAX_LOAD"]
native = e["BENCH_NATIVE"] not in ("", "OFF", "0", "FALSE", "NO")
meta = {
    "date": e["BENCH_DATE"], "script": e["BENCH_NAME"],
    "machine": {"cpu": e["BENCH_CPU"], "logical_cpus": int(e["BENCH_CPUS"]), "available_cpus": int(e["BENCH_NPROC"]),
                "kernel": e["BENCH_KERNEL"]},
    "load": {"max_load": limit, "start": start, "end": end,
             "others_peak_1min": float(e["BENCH_OTHERS_PEAK"]), "others_mean": float(e["BENCH_OTHERS_MEAN"]),
             "samples": int(e["BENCH_SAMPLES"]), "rose_above_limit": loaded},
    "force": force,
    "cleave": {"commit": e["BENCH_COMMIT"], "build_dir": e["BENCH_BUILD"], "build_type": e["BENCH_BUILD_TYPE"] or "unknown",
               "compiler": e["BENCH_CXX"], "compiler_path": e["BENCH_CXX_PATH"], "march_native": native, "blas": e["BENCH_BLAS"]},
    "peers": [{"name": n, "version": v, "details": d} for kind, n, v, d in entries if kind == "peer"],
    "tools": [{"name": n, "version": v, "details": d} for kind, n, v, d in entries if kind == "tool"],
}
json.dump(meta, open(sys.argv[3], "w"), indent=2)
fmt = lambda xs: " ".join("%.2f" % x for x in xs)
md = []
if loaded:
    md += ["**Taken under load (FORCE=1):** other processes kept %.2f threads runnable over a minute during the run, "
           "above MAX_LOAD=%s; these figures may mislead." % (meta["load"]["others_peak_1min"], limit_text), ""]
elif force and start[0] > limit:
    md += ["**Started under load (FORCE=1):** load average %.2f at the start, above MAX_LOAD=%s; these figures may "
           "mislead." % (start[0], limit_text), ""]
def entry(n, v, d):
    return " ".join(x for x in (n, v) if x) + (" (%s)" % d if d else "")
c = meta["cleave"]
md += ["- date: %s" % meta["date"],
       "- machine: %s, %d logical CPUs (%d available to the benchmark), %s" % (
           meta["machine"]["cpu"] or "unknown CPU", meta["machine"]["logical_cpus"], meta["machine"]["available_cpus"],
           meta["machine"]["kernel"]),
       "- load average (1, 5, 15 min): %s at the start, %s at the end (this benchmark's own threads included); "
       "other processes during the run: at most %.2f runnable threads over a minute, %.2f on average (%d samples); "
       "limit MAX_LOAD=%s on the 1-minute figures: %s" % (
           fmt(start), fmt(end), meta["load"]["others_peak_1min"], meta["load"]["others_mean"], meta["load"]["samples"],
           limit_text, "EXCEEDED" if loaded or start[0] > limit else "kept"),
       "- FORCE=1: %s" % ("used" if force else "not used"),
       "- cleave: commit %s, %s build in `%s`, %s (`%s`)%s, BLAS: %s" % (
           c["commit"], c["build_type"], c["build_dir"], c["compiler"], c["compiler_path"],
           ", -march=native" if native else "", c["blas"])]
md += ["- peer: " + entry(p["name"], p["version"], p["details"]) for p in meta["peers"]]
md += ["- harness: " + entry(t["name"], t["version"], t["details"]) for t in meta["tools"]]
open(sys.argv[2], "w").write("\n".join(md) + "\n")
PY
}

# bench_version COMMAND...: the first line of its output, or "unknown".
# bench_wait_plan CTL STATE STRATEGY: until the daemon of the fleet in STATE (cleavectl up) has a
# plan of STRATEGY installed; 1 after 10 s.
bench_wait_plan() {
  local tries=0
  until "$1" --state "$2" plan show 2>/dev/null | head -n1 | grep -q "strategy $3, installed"; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || return 1
    sleep 0.2
  done
}

bench_version() { local v; v=$("$@" 2>/dev/null | head -n1) || true; echo "${v:-unknown}"; }
