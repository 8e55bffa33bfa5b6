#!/usr/bin/python3
"""Writes bench/results/early_exit.md (and .json) from what bench/run_early_exit_bench.sh left in its
work folder:

  COND-CONFIG-rR.out         one line per request: image, seconds into the window, exit status,
                             `cleavectl infer` output; out/COND-CONFIG-rR/IMAGE.npy its result tensor
  planshow-COND-CONFIG-rR.txt, apply-*.txt
                             the plan installed when the window started (`plan show`, `plan apply`)
  watch-COND-KIND-rR.txt     `cleavectl watch --plans` over the fleet's life: every plan change
  plan-COND-KIND.json        `cleavectl plan TOPOLOGY --json`: the planner's plan from the figures
  COND-KIND.toml             the topologies (device energy figures)
  inspect-teacher.json       the teacher's cost report (MACs per node, bytes per cut)
  reference.npz              labels and every block's logits in numpy (bench/early_exit_prepare.py)
  windows, trace-OFFSET.csv  when each trace window started, and the trace it replayed
  status-*.txt, problems     the daemon's counters; what could not be measured

COND is slow (a constant 1 Mbit/s uplink) or lte (the trace); CONFIG cascade, allcloud, alledge,
split or local (the teacher on the edge with the edge as the sink: nothing crosses the link). Exits 2 without writing when answers disagree with the reference beyond near ties: figures of
a fleet that computes the wrong thing mean nothing."""
import argparse
import glob
import json
import os
import re
import statistics
import sys
import tomllib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import meanet_verify  # noqa: E402  (the exit rule's confidence, as the runtime computes it)

CONDITIONS = ["slow", "lte"]
COND_NAMES = {"slow": "constant 1 Mbit/s uplink", "lte": "LTE trace (lte-drive.csv)"}
CONFIGS = ["cascade", "allcloud", "alledge", "split", "local"]
CONFIG_NAMES = {"cascade": "cascade (early_exit)", "allcloud": "all-cloud (teacher)", "alledge": "all-edge (teacher)",
                "split": "split, planner's best", "local": "teacher on the edge, answered there"}
LOGIT_TOLERANCE = 1e-3     # float32 kernels against float64 numpy, relative to the largest logit
NEAR_TIE = 1e-5            # a confidence this close to its threshold may fall either way
MAX_MISMATCH_SHARE = 0.01  # beyond near ties, none is expected; stop above this share
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
REQUEST_RE = re.compile(r"request \d+, epoch (\d+): latency ([0-9.]+) (us|ms|s) .*?round trip ([0-9.]+) (us|ms|s), "
                        r"exit stage (\d+)")
OUTPUT_RE = re.compile(r"output 0 '([^']+)': \S+, argmax (\d+)")
PLANSHOW_HEAD_RE = re.compile(r"^epoch (\d+), strategy (\S+), installed")
PREDICTED_RE = re.compile(r"predicted latency ([0-9.]+) (us|ms|s), energy ([0-9.]+) (uJ|mJ|J)")
WATCH_PLAN_RE = re.compile(r"^(\S+ \S+)\s+plan\s+epoch (\d+) (\S+): (.*); latency ([0-9.]+) (us|ms|s), "
                           r"energy ([0-9.]+) (uJ|mJ|J) \((.*)\)\s*$")
JOULES = {"uJ": 1e-6, "mJ": 1e-3, "J": 1.0}
SI = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}


def load_json(path):
    with open(path) as f:
        return json.load(f)


def ms(seconds, digits=None):
    if seconds is None:
        return "–"
    v = 1e3 * seconds
    if digits is not None:
        return "%.*f" % (digits, v)
    return "%.0f" % v if abs(v) >= 100 else "%.1f" % v if abs(v) >= 10 else "%.2f" % v


def percentile(values, p):
    """Nearest-rank percentile, as cleavectl's p95."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def energy_figure(text):
    """'300pJ' -> 3e-10 (joules)."""
    m = re.fullmatch(r"([0-9.]+)\s*([pnum]?)J", text)
    return float(m.group(1)) * SI[m.group(2)]


# ---- Plans: every epoch each fleet ran, as (strategy, stages [(device, what)], thresholds, predicted).

def parse_planshow(text):
    """`plan show` / `plan apply` output -> (epoch, plan) or None."""
    lines = text.strip().splitlines()
    if not lines:
        return None
    head = PLANSHOW_HEAD_RE.match(lines[0])
    if not head:
        return None
    plan = {"strategy": head.group(2), "stages": [], "thresholds": [], "latency": None, "energy": None}
    for line in lines[1:]:
        p = PREDICTED_RE.search(line)
        if p:
            plan["latency"] = float(p.group(1)) * UNITS[p.group(2)]
            plan["energy"] = float(p.group(3)) * JOULES[p.group(4)]
        m = re.match(r"^(\d+)\s+(\S+)\s+(block \d+|relay|\(relay\)|\d+\.\.\d+)\s", line)
        if m:
            plan["stages"].append((m.group(2), m.group(3)))
        if line.startswith("exits:"):
            plan["thresholds"] = [float(t) for t in re.findall(r"block \d+ at ([0-9.]+)", line)]
    return int(head.group(1)), plan


def parse_watch_plan(line):
    """A `watch --plans` plan line -> (time, epoch, plan, reason) or None."""
    m = WATCH_PLAN_RE.match(line.strip())
    if not m:
        return None
    when, epoch, strategy, desc = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    plan = {"strategy": strategy, "stages": [], "thresholds": [],
            "latency": float(m.group(5)) * UNITS[m.group(6)], "energy": float(m.group(7)) * JOULES[m.group(8)]}
    if strategy == "early_exit":
        body, _, exits = desc.partition(" [exits:")
        for part in body.split(", "):
            device, _, what = part.partition(" ")
            plan["stages"].append((device, what))
        plan["thresholds"] = [float(t) for t in re.findall(r"block \d+ at ([0-9.]+)", exits)]
    else:
        for part in desc.split(" -> "):
            device, _, what = part.partition(" ")
            plan["stages"].append((device, what))
    return when, epoch, plan, m.group(9)


def fleet_plans(work, condition, kind, round_):
    """epoch -> plan for one fleet, and its plan events in order (time, epoch, plan, reason)."""
    plans, events = {}, []
    path = os.path.join(work, f"watch-{condition}-{kind}-r{round_}.txt")
    if os.path.exists(path):
        for line in open(path):
            got = parse_watch_plan(line)
            if got:
                plans[got[1]] = got[2]
                events.append(got)
    labels = {"cascade": ["cascade"], "split": ["split", "allcloud", "alledge"], "fixed": ["allcloud", "alledge"],
              "local": ["local"]}[kind]
    for config in labels:
        for prefix in ("planshow", "apply"):
            p = os.path.join(work, f"{prefix}-{condition}-{config}-r{round_}.txt")
            if os.path.exists(p):
                got = parse_planshow(open(p).read())
                if got:
                    plans.setdefault(got[0], got[1])
    return plans, events


def fleet_of(condition, config):
    if config in ("cascade", "local"):
        return config
    if condition == "slow":
        return "split"
    return "split" if config == "split" else "fixed"


def describe(plan):
    if plan["strategy"] == "early_exit":
        return ", ".join(f"{what} on {device}" for device, what in plan["stages"]) + \
            " (thresholds %s)" % ", ".join("%g" % t for t in plan["thresholds"])
    return " -> ".join(f"{device} {what}" for device, what in plan["stages"])


# ---- What one request cost the edge, from its plan and where it finished.

class Costs:
    def __init__(self, work, teacher_nodes):
        inspect = load_json(os.path.join(work, "inspect-teacher.json"))
        self.node_macs = [n["macs"] for n in inspect["nodes"]]
        self.cut_bytes = {c["position"]: c["bytes"] for c in inspect["cuts"]}
        self.teacher_nodes = teacher_nodes
        cascade = load_json(os.path.join(work, "plan-slow-cascade.json"))["plans"][0]
        self.block_macs = {s["graph_index"]: s["macs"] for s in cascade["stages"] if s["graph"] == "block"}
        self.block_edges = {(e["from"], e["to"]): e["bytes"] for e in cascade["edges"]}
        with open(os.path.join(work, "slow-cascade.toml"), "rb") as f:
            devices = {d["name"]: d for d in tomllib.load(f)["device"]}
        self.mac_j = energy_figure(devices["edge"]["energy_per_mac"])
        self.byte_j = energy_figure(devices["edge"]["radio_energy_per_byte"])

    def request(self, plan, exit_stage):
        """(edge MACs, bytes edge -> cloud, whether the answering stage ran on the edge), or None."""
        stages = plan["stages"]
        if exit_stage >= len(stages):
            return None
        if plan["strategy"] == "early_exit":
            macs = sent = 0
            for i in range(exit_stage + 1):
                device, what = stages[i]
                if device == "edge" and what.startswith("block "):
                    macs += self.block_macs[int(what.split()[1])]
                if i < exit_stage and device == "edge" and stages[i + 1][0] == "cloud":
                    if (i, i + 1) not in self.block_edges:
                        return None
                    sent += self.block_edges[(i, i + 1)]
            return macs, sent, stages[exit_stage][0] == "edge"
        if [d for d, _ in stages] == ["edge"]:  # the teacher on the edge, which is the sink: nothing sent
            return sum(self.node_macs), 0, True
        # split: edge first, then cloud; the edge runs nodes [0, cut) and sends what crosses the cut.
        if [d for d, _ in stages] != ["edge", "cloud"]:
            return None
        what = stages[0][1]
        cut = 0 if "relay" in what else int(what.split("..")[1]) + 1
        return sum(self.node_macs[:cut]), self.cut_bytes[cut], False

    def joules(self, macs, sent):
        return macs * self.mac_j + sent * self.byte_j


# ---- Requests.

def read_requests(work, label):
    """[(image, t, latency s, epoch, exit stage, output name, argmax)], [(image, reason)]."""
    rows, failures = [], []
    path = os.path.join(work, f"{label}.out")
    if not os.path.exists(path):
        return None, None
    for line in open(path):
        image, t, status, text = line.rstrip("\n").split("\t", 3)
        m, o = REQUEST_RE.search(text), OUTPUT_RE.search(text)
        if status != "0" or not m or not o:
            failures.append((int(image), text.strip()[-200:]))
            continue
        rows.append((int(image), float(t), float(m.group(2)) * UNITS[m.group(3)], int(m.group(1)), int(m.group(6)),
                     o.group(1), int(o.group(2))))
    return rows, failures


def trace_at(rows, t):
    """(bit/s, RTT s) of a trace (time, bit/s, rtt ms rows, repeating) at time t."""
    period = rows[-1][0] + (rows[-1][0] - rows[-2][0])
    t %= period
    row = max((r for r in rows if r[0] <= t), key=lambda r: r[0])
    return row[1], row[2] / 1e3


def read_trace(path):
    rows = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("time_s"):
            rows.append(tuple(float(x) for x in line.split(",")))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("--work", "--out", "--json", "--meta", "--meta-json", "--trace", "--lte-interval",
                 "--lte-cascade-interval"):
        ap.add_argument(name, required=True)
    for name in ("--rounds", "--requests", "--teacher-requests", "--lte-seconds", "--warmup", "--teacher-nodes",
                 "--seconds"):
        ap.add_argument(name, type=int, required=True)
    a = ap.parse_args()
    w = a.work
    ref = np.load(os.path.join(w, "reference.npz"))
    labels, logits = ref["labels"], ref["logits"]  # logits: [block, image, class], float32
    confidence = np.stack([meanet_verify.confidence(l) for l in logits[:-1]])  # float32, as the runtime
    teacher_right = logits[-1].argmax(1) == labels
    costs = Costs(w, a.teacher_nodes)
    with open(os.path.join(ROOT, "models", "fmnist-meanet", "bundle.toml"), "rb") as f:
        bundle = tomllib.load(f)
    teacher_full = bundle["accuracy"]["teacher_top1"]
    problems = open(os.path.join(w, "problems")).read().splitlines() if os.path.exists(os.path.join(w, "problems")) else []
    trace = read_trace(os.path.join(ROOT, a.trace))
    windows = {}
    if os.path.exists(os.path.join(w, "windows")):
        for line in open(os.path.join(w, "windows")):
            label, offset, start = line.split()
            windows[label] = int(offset)

    # ---- Every request: checked, costed.
    results, mismatches, unknown_plan, events_all = {}, [], [], {}
    max_logit_error = 0.0
    for cond in CONDITIONS:
        for config in CONFIGS:
            per_round = {}
            for r in range(1, a.rounds + 1):
                label = f"{cond}-{config}-r{r}"
                rows, failures = read_requests(w, label)
                if rows is None:
                    continue
                kind = fleet_of(cond, config)
                plans, events = fleet_plans(w, cond, kind, r)
                events_all[(cond, kind, r)] = events
                out = []
                for image, t, latency, epoch, stage, name, top in rows:
                    plan = plans.get(epoch)
                    cost = costs.request(plan, stage) if plan else None
                    if cost is None:
                        unknown_plan.append(f"{label}: image {image} ran under epoch {epoch}, whose plan was not recorded")
                        continue
                    macs, sent, on_edge = cost
                    if plan["strategy"] == "early_exit":
                        block = int(plan["stages"][stage][1].split()[1])
                        th = plan["thresholds"]
                        expected = next((k for k in range(len(th)) if confidence[k][image] >= np.float32(th[k])),
                                        len(th))
                    else:
                        block, expected = len(logits) - 1, len(logits) - 1
                    path = os.path.join(w, "out", label, f"{image}.npy")
                    got = np.load(path).reshape(-1) if os.path.exists(path) else None
                    error = None
                    if got is not None and block == expected:
                        want = logits[block][image]
                        error = float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))
                        max_logit_error = max(max_logit_error, error)
                    ok = block == expected and top == int(logits[block][image].argmax()) and \
                        (error is None or error <= LOGIT_TOLERANCE)
                    if not ok:
                        near = block != expected and plan["strategy"] == "early_exit" and any(
                            abs(float(confidence[k][image]) - th[k]) < NEAR_TIE for k in range(min(block, expected) + 1)
                            if k < len(th))
                        mismatches.append({"label": label, "image": image, "block": block, "expected": expected,
                                           "argmax": top, "reference_argmax": int(logits[block][image].argmax()),
                                           "logit_error": error, "near_tie": bool(near)})
                    trace_bw = None
                    if cond == "lte" and label in windows:
                        trace_bw = trace_at(trace, windows[label] + t)
                    out.append({"image": image, "t": t, "latency": latency, "epoch": epoch, "block": block,
                                "on_edge": on_edge, "right": top == int(labels[image]), "macs": macs, "sent": sent,
                                "joules": costs.joules(macs, sent), "predicted": plan["latency"],
                                "trace": trace_bw, "placement": describe(plan)})
                per_round[r] = (out, failures)
            if per_round:
                results[(cond, config)] = per_round

    answered = sum(len(o) for pr in results.values() for o, _ in pr.values())
    hard = [m for m in mismatches if not m["near_tie"]]
    if answered == 0:
        sys.exit("early_exit_summary: no request was answered; nothing written")
    if len(hard) > MAX_MISMATCH_SHARE * answered:
        for m in hard[:20]:
            print("mismatch:", m, file=sys.stderr)
        sys.stderr.write("early_exit_summary: %d of %d answers disagree with the numpy reference; nothing written\n"
                         % (len(hard), answered))
        sys.exit(2)

    # ---- Figures per condition and configuration.
    figures = {}
    for (cond, config), per_round in results.items():
        rows = [x for o, _ in per_round.values() for x in o]
        failed = sum(len(f) for _, f in per_round.values())
        if not rows:
            continue
        means = [statistics.fmean(x["latency"] for x in o) for r, (o, _) in sorted(per_round.items()) if o]
        p95s = [percentile([x["latency"] for x in o], 95) for r, (o, _) in sorted(per_round.items()) if o]
        images = [x["image"] for x in rows]
        blocks = [x["block"] for x in rows]
        f = {"requests": len(rows), "failed": failed, "round_means": means, "round_p95s": p95s,
             "accuracy": statistics.fmean(x["right"] for x in rows),
             "teacher_same_images": float(np.mean(teacher_right[images])),
             "cloud_bytes": statistics.fmean(x["sent"] for x in rows),
             "edge_mj": 1e3 * statistics.fmean(x["joules"] for x in rows),
             "edge_share": statistics.fmean(x["on_edge"] for x in rows),
             "exit_shares": [blocks.count(k) / len(blocks) for k in range(len(logits))],
             "predicted": statistics.fmean(x["predicted"] for x in rows),
             "placements": {}}
        for x in rows:
            f["placements"][x["placement"]] = f["placements"].get(x["placement"], 0) + 1
        if cond == "slow":
            # One link figure throughout: every round measures the same thing; the median of rounds.
            f["mean"], f["p95"] = statistics.median(means), statistics.median(p95s)
        else:
            # Each round replays another stretch of the trace: together they cover it once.
            f["mean"] = statistics.fmean(x["latency"] for x in rows)
            f["p95"] = percentile([x["latency"] for x in rows], 95)
            spans = [max(x["t"] for x in o) for o, _ in per_round.values() if o]
            f["span"] = max(spans) if spans else None
        figures[(cond, config)] = f

    # ---- The report.
    lines = ["# Early exit against the teacher, edge and cloud", ""] + open(a.meta).read().splitlines() + [""]
    lines += ["`make bench` (`bench/run_early_exit_bench.sh`, issue 14): real processes on 127.0.0.1 under "
              "`cleavectl up --pace`, the fleet of `configs/meanet-edge-cloud.toml` (a Pi Zero 2 W class `edge`, the "
              "source; a cloud VM, the sink; `bench/early-exit-bench.toml.in`), `models/fmnist-meanet`, Fashion-MNIST "
              "test images one request at a time. Accuracy at most 1 point below the teacher (`accuracy_drop = 0.01`, "
              "held-out bounds) as in the topology; objective weighted "
              "(1 x seconds + 0.5 x joules), as in the topology.", ""]

    cols = "| configuration | plan | accuracy | mean ms | p95 ms | cloud bytes / request | edge mJ / request | requests (failed) |"
    for cond in CONDITIONS:
        if not any((cond, c) in figures for c in CONFIGS):
            continue
        lines += [f"## {COND_NAMES[cond]}", ""]
        if cond == "slow":
            lines += ["Uplink edge -> cloud shaped at 1 Mbit/s, downlink 13 Mbit/s, RTT 50 ms; the daemon keeps the "
                      "plan it made from these figures. Mean and p95: medians over the %d rounds of each round's mean "
                      "and p95 (round means in brackets)." % a.rounds, ""]
        else:
            lines += ["The link replays `%s` in both directions (2-40 Mbit/s, RTT 40-90 ms). Requests start on a "
                      "fixed clock (every %s s; the cascade every %s s) for %d s per round, each round another stretch "
                      "of the trace (round r from %d x (r-1) s in), so the rounds together cover %d s of it and every "
                      "configuration samples the same stretches uniformly in time. Mean and p95 over all rounds' "
                      "requests (each round's mean in brackets: different stretches, not repetitions). The planner's "
                      "own plans (cascade, split) re-plan from the agents' link measurements (hysteresis 0.2, hold "
                      "5 s); all-cloud and all-edge are installed by hand on a fleet that does not." % (
                          a.trace, a.lte_interval, a.lte_cascade_interval, a.lte_seconds, a.lte_seconds,
                          a.rounds * a.lte_seconds), ""]
        lines += [cols, "|---|---|---:|---:|---:|---:|---:|---:|"]
        for config in CONFIGS:
            f = figures.get((cond, config))
            if not f:
                lines.append(f"| {CONFIG_NAMES[config]} | not measured | | | | | | |")
                continue
            placement = "; ".join(f"{p}" + (f" ({n} req.)" if len(f['placements']) > 1 else "")
                                  for p, n in f["placements"].items())
            lines.append("| %s | %s | %.4f | **%s** (%s) | %s | %.0f | %.3f | %d (%d) |" % (
                CONFIG_NAMES[config], placement, f["accuracy"], ms(f["mean"]), ", ".join(ms(x) for x in f["round_means"]),
                ms(f["p95"]), f["cloud_bytes"], f["edge_mj"], f["requests"], f["failed"]))
        c = figures.get((cond, "cascade"))
        if c:
            lines += ["", "Cascade: %s of requests finished at block 0, %s at block 1, %s at block 2 (the teacher); "
                      "%.1f%% finished on the edge. Accuracy %.4f on its %d images; the teacher on the same images "
                      "(numpy) %.4f (%+.2f points), on the full test set %.4f." % tuple(
                          ["%.1f%%" % (100 * s) for s in c["exit_shares"]] +
                          [100 * c["edge_share"], c["accuracy"], c["requests"], c["teacher_same_images"],
                           100 * (c["accuracy"] - c["teacher_same_images"]), teacher_full])]
        lines += [""]

    # Predictions.
    lines += ["## The planner's predictions next to the measurements", "",
              "*Predicted*: the daemon's latency of the plan each request ran under (for the cascade, the mean over "
              "where requests finish, at the held-out exit shares), averaged over the requests; on the trace it is the "
              "figure at the link estimate when that plan was installed. *Measured*: the daemon's submit-to-completion "
              "time, which ends when the result is back at the edge (the origin, where the request entered).", "",
              "| link | configuration | predicted ms | measured mean ms | measured − predicted ms |", "|---|---|---:|---:|---:|"]
    for cond in CONDITIONS:
        for config in CONFIGS:
            f = figures.get((cond, config))
            if f:
                lines.append("| %s | %s | %s | %s | %+.1f |" % (cond, CONFIG_NAMES[config], ms(f["predicted"]),
                                                              ms(f["mean"]), 1e3 * (f["mean"] - f["predicted"])))
    slow_plan = load_json(os.path.join(w, "plan-slow-cascade.json"))["plans"][0]
    lines += ["", "The planner's cascade at 1 Mbit/s: thresholds %s, held-out exit shares %s, expected accuracy %.4f, "
              "predicted latency %s ms and energy %.0f µJ (all devices, results delivered to the source)." % (
                  ", ".join("%g" % t for t in slow_plan["exit_thresholds"]),
                  " / ".join("%.3f" % x for x in slow_plan["exit_fractions"]), slow_plan["accuracy"],
                  ms(slow_plan["latency_s"]), 1e6 * slow_plan["energy_j"]), ""]

    # Sink accounting: what the measured latency includes for each configuration.
    cascade_stages_on_cloud = any(x["placement"].count("on cloud")
                                  for cond in CONDITIONS for x in
                                  [y for o, _ in results.get((cond, "cascade"), {}).values() for y in o])
    lines += ["## What the latency includes", "",
              "The fleet's measured latency ends when the result is back at the origin (the edge, where the request "
              "entered) for every configuration. The planner's figure for a split ends when the result reaches the sink "
              "(the cloud), so a split's result goes edge -> cloud -> edge and measured = predicted + one more one-way "
              "trip (RTT/2, 25 ms at 50 ms RTT) + the fleet's own messaging. The planner's figure for an early-exit plan "
              "already ends at the source (each exit's result goes back there), so measured = predicted + messaging. "
              "The teacher on the edge, answered there, is the split with the topology's sink moved to the edge: the "
              "like-for-like alternative to the cascade, with no hop for its result.%s" % (
                  "" if cascade_stages_on_cloud else " In this run no cascade request's plan placed anything on the "
                  "cloud: every cascade result was answered on the edge."), ""]

    # Re-planning on the trace.
    lines += ["## Plans during the trace", ""]
    for (cond, kind, r), events in sorted(events_all.items()):
        if cond != "lte" or kind in ("fixed", "local"):
            continue
        changes = [e for e in events if "operator" not in e[3]]
        if not changes:
            lines.append("- %s, round %d: no re-plan." % (kind, r))
        for when, epoch, plan, reason in changes:
            lines.append("- %s, round %d, %s: epoch %d, %s (%s)." % (kind, r, when, epoch, describe(plan), reason))
    lines.append("")

    # Checks.
    lines += ["## Checks", "",
              "Every answer against the bundle's ONNX files evaluated in numpy (float64, logits rounded to float32; "
              "`bench/early_exit_prepare.py`): for the cascade, the exit the plan's thresholds give (max softmax in "
              "float32, summed in class order, >= float32(threshold)) and that block's argmax and logits; for the "
              "teacher's configurations, the teacher's argmax and logits. %d answers, %d mismatches (%d at a near tie, "
              "confidence within %g of a threshold); largest logit difference %.2g of the largest logit." % (
                  answered, len(mismatches), len(mismatches) - len(hard), NEAR_TIE, max_logit_error), ""]
    for m in mismatches[:10]:
        lines.append("- %s image %d: block %d (reference %d), argmax %d (reference %d)%s" % (
            m["label"], m["image"], m["block"], m["expected"], m["argmax"], m["reference_argmax"],
            ", near tie" if m["near_tie"] else ""))
    for (cond, config), per_round in sorted(results.items()):
        for r, (_, failures) in sorted(per_round.items()):
            for image, text in failures[:3]:
                problems.append("%s %s round %d: image %d failed: %s" % (cond, config, r, image, text))
    problems += unknown_plan[:10]
    for path in sorted(glob.glob(os.path.join(w, "status-*.txt"))):
        text = open(path).read()
        for key in ("requests failed", "dropped messages", "refused connections"):
            m = re.search(r"^%s:\s+(\d+)" % key, text, re.M)
            if m and int(m.group(1)) > 0:
                problems.append("%s: the daemon counted %s %s" % (os.path.basename(path)[7:-4], m.group(1), key))
    if problems:
        lines += ["Problems during the run:", ""] + ["- " + p for p in problems] + [""]

    # How figures are obtained.
    lines += ["## How the figures are obtained", "",
              "- Accuracy: top-1 against the Fashion-MNIST test labels, on the images each configuration was sent (the "
              "first images of the test set, a different block each round, the same for every configuration within "
              "a round; the teacher's configurations get fewer). With 1000 images the standard error of an accuracy "
              "near 0.92 is about 0.86 points; the cascade-minus-teacher difference on the same images is paired and "
              "much less noisy.",
              "- Cloud bytes per request: *modelled from measured counts*: for each request, the payload bytes its "
              "route sent from the edge to the cloud under the plan it ran (the cascade: %d B of image to a block on "
              "the cloud, only for requests that went on to it; a split: the tensors at its cut, 3136 B at cut 0, "
              "40 B of logits at the end), averaged. Message headers, CURVE framing and link probes are not counted; "
              "results coming back from the cloud are downlink and not counted." % costs.block_edges.get((1, 2), 0),
              "- Edge energy per request: *modelled, not metered*: the MACs the edge actually ran for each request "
              "(the blocks up to its exit; a split: the nodes before its cut) x %g pJ, plus the bytes above x %g µJ "
              "(the topology's `energy_per_mac` and `radio_energy_per_byte`), averaged. Idle and receive power are "
              "not counted." % (costs.mac_j * 1e12, costs.byte_j * 1e6),
              "- Latency: the daemon's submit-to-completion time of each request (one at a time), paced compute "
              "(each stage lasts what the declared device is predicted to take), links shaped in the agents "
              "(token bucket at the rate plus half the RTT each way).",
              "- %d rounds, the fleets in an order rotated each round; %d warm-up requests before every window; "
              "%d s of measurement in all." % (a.rounds, a.warmup, a.seconds), ""]

    # Targets.
    lines += ["## Target", ""]
    slow = {c: figures.get(("slow", c)) for c in CONFIGS}
    for cond in CONDITIONS:
        c = figures.get((cond, "cascade"))
        if not c:
            continue
        early = sum(c["exit_shares"][:-1])
        lines.append("- %s: most inputs finish on the edge: **%s**: %.1f%% finished at an early exit (blocks 0-1, on "
                     "the edge), so never needed the teacher; %.1f%% were answered on the edge device in all (the "
                     "teacher's block is placed on the edge too when the planner keeps it there)." % (
                         COND_NAMES[cond], "held" if early > 0.5 else "not held", 100 * early, 100 * c["edge_share"]))
        gap = 100 * (c["accuracy"] - c["teacher_same_images"])
        lines.append("- %s: accuracy within 1 point of the teacher: **%s** (%.4f against the teacher's %.4f on the same "
                     "%d images: %+.2f points; against the teacher's %.4f on the full test set: %+.2f points)." % (
                         COND_NAMES[cond], "held" if gap >= -1.0 else "not held", c["accuracy"], c["teacher_same_images"],
                         c["requests"], gap, teacher_full, 100 * (c["accuracy"] - teacher_full)))
    if slow["cascade"] and all(slow[x] for x in CONFIGS):
        others = {x: slow[x]["mean"] for x in CONFIGS if x != "cascade"}
        best = min(others, key=others.get)
        lines.append("- Slow uplink: lower mean latency than every alternative: **%s** (cascade %s ms, best "
                     "alternative %s %s ms; predicted: cascade %s ms, %s %s ms). See \"What the latency includes\": "
                     "the splits' results take one more hop than the cascade's; the teacher on the edge, answered there, takes none." % (
                         "held" if slow["cascade"]["mean"] < others[best] else "not held", ms(slow["cascade"]["mean"]),
                         CONFIG_NAMES[best], ms(others[best]), ms(slow["cascade"]["predicted"]), CONFIG_NAMES[best],
                         ms(slow[best]["predicted"])))
    lines.append("")
    with open(a.out, "w") as out:
        out.write("\n".join(lines))
    doc = {"environment": load_json(a.meta_json),
           "figures": {f"{cond}/{config}": {k: v for k, v in f.items()} for (cond, config), f in figures.items()},
           "mismatches": mismatches, "problems": problems}
    with open(a.json, "w") as out:
        json.dump(doc, out, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
