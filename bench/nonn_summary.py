#!/usr/bin/python3
"""Writes bench/results/nonn.md from what bench/run_nonn_bench.sh left in its work folder:

  plan-STRATEGY-BW.json        `cleavectl plan --json` of each topology (the prediction)
  planshow-PLAN-RUN-rR.txt     the daemon's installed plan (`plan show`, or `plan apply` output)
  PLAN-RUN-rR.out              one line per request: image index, exit status, `cleavectl infer` output
  status-STRATEGY-RUN-rR.txt   `cleavectl status` before the fleet went down
  inspect-*.json               `cleavectl model inspect --optimize --json` of teacher, student, fusion
  reference.json               labels and the numpy reference's answers (bench/nonn_prepare.py)
  problems                     what could not be measured, one line each

and the bundles' manifests. RUN is a bandwidth (paced, shaped) or "floor" (unpaced, unshaped).
Exits 2 without writing when the fleet's answers disagree with the reference: latency figures of
a fleet that computes the wrong thing mean nothing."""
import argparse
import glob
import json
import math
import os
import re
import statistics
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLANS = ["nonn", "split", "layerwise"]
PLAN_NAMES = {"nonn": "nonn (4 students + fusion)", "split": "split, planner's best",
              "layerwise": "split, layer-wise over 4 Pis"}
REFERENCE_OF = {"nonn": "nonn", "split": "teacher", "layerwise": "teacher"}
MIN_AGREEMENT = 0.99  # float32 on the fleet, float64 in the reference: a near-tie may fall either way
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
REQUEST_RE = re.compile(r"request \d+, epoch (\d+): latency ([0-9.]+) (us|ms|s) .*?round trip ([0-9.]+) (us|ms|s)")
ARGMAX_RE = re.compile(r"argmax (\d+)")
PREDICTED_RE = re.compile(r"predicted latency ([0-9.]+) (us|ms|s)")
EPOCH_RE = re.compile(r"^epoch (\d+), strategy")


def manifest(name):
    with open(os.path.join(ROOT, "models", name, "bundle.toml"), "rb") as f:
        return tomllib.load(f)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def ms(seconds):
    """Milliseconds to three significant figures at most (cleavectl prints three)."""
    if seconds is None:
        return "–"
    v = 1e3 * seconds
    return "%.0f" % v if abs(v) >= 100 else "%.1f" % v if abs(v) >= 10 else "%.2f" % v


def kib(n):
    return "%d B" % n if n < 1024 else "%.1f KiB" % (n / 1024)


def count(n):
    if n >= 1e6:
        return "%.2fM" % (n / 1e6)
    return "{:,}".format(n)


def percentile(values, p):
    """Nearest-rank percentile, as cleavectl's p95."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def installed(work, plan, run, rounds):
    """(predicted seconds, epoch) per round, from the daemon's own description of the plan."""
    out = {}
    for r in range(1, rounds + 1):
        path = os.path.join(work, f"planshow-{plan}-{run}-r{r}.txt")
        if not os.path.exists(path):
            continue
        text = open(path).read()
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        predicted, epoch = PREDICTED_RE.search(text), EPOCH_RE.search(first_line)
        out[r] = (float(predicted.group(1)) * UNITS[predicted.group(2)] if predicted else None,
                  int(epoch.group(1)) if epoch else None)
    return out


def requests(work, plan, run, rounds):
    """Per round: list of (image, latency s, round trip s, epoch, top-1) of the answered requests,
    and the failures (image, reason)."""
    rows, failures = {}, {}
    for r in range(1, rounds + 1):
        path = os.path.join(work, f"{plan}-{run}-r{r}.out")
        if not os.path.exists(path):
            continue
        rows[r], failures[r] = [], []
        for line in open(path):
            image, status, text = line.rstrip("\n").split("\t", 2)
            m, top = REQUEST_RE.search(text), ARGMAX_RE.search(text)
            if status != "0" or not m or not top:
                failures[r].append((int(image), text.strip()[-200:]))
                continue
            rows[r].append((int(image), float(m.group(2)) * UNITS[m.group(3)], float(m.group(4)) * UNITS[m.group(5)],
                            int(m.group(1)), int(top.group(1))))
    return rows, failures


def graph_share(report, begin, end):
    """What nodes [begin, end) of a cost report need on a device, as the planner counts it."""
    nodes = report["nodes"][begin:end]
    weights = sum(n["weight_bytes"] for n in nodes)
    # A device that runs no node holds what it receives (the planner's peakBytes of an empty range).
    peak = max((n["live_bytes"] for n in nodes), default=report["cuts"][begin]["bytes"])
    held = sum(n["kernel_bytes"] for n in nodes) + max((n["workspace_bytes"] for n in nodes), default=0)
    return {"macs": sum(n["macs"] for n in nodes), "weights": weights, "peak": peak, "ram": weights + peak + held}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", required=True, help="the run record bench_end wrote (markdown)")
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--layerwise-requests", type=int, required=True)
    ap.add_argument("--floor-requests", type=int, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--cuts", required=True, help="the layer-wise split's cut positions, a,b,c")
    ap.add_argument("--seconds", type=int, required=True, help="wall time of the measurements")
    ap.add_argument("--bandwidths", nargs="+", required=True)
    a = ap.parse_args()
    w = a.work
    rounds = a.rounds

    nonn4, nonn2, teacher = manifest("fmnist-nonn-4"), manifest("fmnist-nonn-2"), manifest("fmnist-teacher")
    ref = load_json(os.path.join(w, "reference.json"))
    inspect = {k: load_json(os.path.join(w, f"inspect-{k}.json"))
               for k in ("fmnist-teacher-model", "fmnist-nonn-4-student0", "fmnist-nonn-4-fusion")}
    cuts = [int(c) for c in a.cuts.split(",")]
    problems_path = os.path.join(w, "problems")
    problems = open(problems_path).read().splitlines() if os.path.exists(problems_path) else []

    # ---- Measurements, and the check of every answer against the reference.
    runs = a.bandwidths + ["floor"]
    measured, checks, wrong = {}, [], []
    for run in runs:
        for plan in PLANS:
            rows, failures = requests(w, plan, run, rounds)
            if not rows:
                continue
            answered = [x for r in rows.values() for x in r]
            failed = sum(len(f) for f in failures.values())
            shown = installed(w, plan, run, rounds)
            off_epoch = sum(1 for r, rs in rows.items() for x in rs
                            if shown.get(r, (None, None))[1] not in (None, x[3]))
            reference = ref[REFERENCE_OF[plan]]
            agree = sum(1 for x in answered if x[4] == reference[x[0]])
            right = sum(1 for x in answered if x[4] == ref["labels"][x[0]])
            ref_right = sum(1 for x in answered if reference[x[0]] == ref["labels"][x[0]])
            agreement = agree / len(answered) if answered else 0.0
            medians = [statistics.median([x[1] for x in rs]) for r, rs in sorted(rows.items()) if rs]
            p95s = [percentile([x[1] for x in rs], 95) for r, rs in sorted(rows.items()) if rs]
            trips = [statistics.median([x[2] for x in rs]) for r, rs in sorted(rows.items()) if rs]
            predicted = [p for p, _ in shown.values() if p is not None]
            measured[(run, plan)] = {
                "median": statistics.median(medians) if medians else None, "medians": medians,
                "p95": statistics.median(p95s) if p95s else None, "trip": statistics.median(trips) if trips else None,
                "answered": len(answered), "failed": failed, "off_epoch": off_epoch,
                "daemon_predicted": statistics.median(predicted) if predicted else None}
            checks.append("| %s | %s | %d | %d | %.4f | %.4f | %.4f | %d |" % (
                run if run != "floor" else "unshaped, unpaced", PLAN_NAMES[plan], len(answered), failed,
                agreement, right / len(answered) if answered else 0, ref_right / len(answered) if answered else 0,
                off_epoch))
            if answered and agreement < MIN_AGREEMENT:
                wrong.append("%s at %s: %d of %d answers agree with the numpy reference" % (
                    plan, run, agree, len(answered)))
            for r, fs in sorted(failures.items()):
                for image, text in fs[:3]:
                    problems.append("round %d %s %s: request for image %d failed: %s" % (r, plan, run, image, text))
    for path in sorted(glob.glob(os.path.join(w, "status-*.txt"))):
        text = open(path).read()
        for key in ("requests failed", "dropped messages", "refused connections"):
            m = re.search(r"^%s:\s+(\d+)" % key, text, re.M)
            if m and int(m.group(1)) > 0:
                problems.append("%s: the daemon counted %s %s" % (
                    os.path.basename(path)[len("status-"):-len(".txt")], m.group(1), key))
    if wrong:
        sys.exit("nonn_summary: the fleet's answers are wrong (" + "; ".join(wrong) + "); nothing written")

    # ---- Predictions from `cleavectl plan --json` (the layer-wise split: the daemon's costing of it).
    plans_json = {(bw, s): load_json(os.path.join(w, f"plan-{s}-{bw}.json"))
                  for bw in a.bandwidths for s in ("nonn", "split")}
    predicted = {}
    for bw in a.bandwidths:
        for s in ("nonn", "split"):
            predicted[(bw, s)] = plans_json[(bw, s)]["plans"][0]["latency_s"]
        predicted[(bw, "layerwise")] = measured.get((bw, "layerwise"), {}).get("daemon_predicted")

    lines = ["# NoNN against a split of its teacher on four Raspberry Pi 4", ""]
    lines += open(a.meta).read().splitlines()
    lines += ["", "`make bench` (`bench/run_nonn_bench.sh`; issue 13). Four Raspberry Pi 4 on one switch "
              "(`bench/nonn-bench.toml.in`: pi1 holds the camera and runs a student, pi4 wants the result; every pair of "
              "Pis linked, RTT 0.2 ms, all links at the bandwidth under test; device figures of `configs/nonn-8pi.toml`), "
              "model `models/fmnist-nonn-4` (four students of `models/fmnist-teacher`, whose teacher is its split graph)."
              " The planner does not re-plan during the runs (`adapt = false`): what is measured is the plan predicted "
              "from the topology's figures.", ""]

    # ---- (a) Accuracy.
    lines += ["## Accuracy", "",
              "Top-1 on the Fashion-MNIST test set (10,000 images), from the bundles' manifests (written by "
              "`tools/train/train_fmnist_nonn.py`, recomputed from the ONNX files by `tools/train/nonn_verify.py`). "
              "*Alone*: the fusion with only that student's features, the others zeroed; *missing*: that student's "
              "features zeroed (what the fusion gets when its device is gone).", "",
              "| model | K = 4 (`fmnist-nonn-4`) | K = 2 (`fmnist-nonn-2`) |", "|---|---:|---:|",
              "| teacher (%s parameters, one device) | %.4f | %.4f |" % (
                  "{:,}".format(ref["teacher_parameters"]), nonn4["accuracy"]["teacher_top1"],
                  nonn2["accuracy"]["teacher_top1"]),
              "| all K students, fused | **%.4f** | **%.4f** |" % (nonn4["accuracy"]["top1"], nonn2["accuracy"]["top1"])]
    k4, k2 = nonn4["student"], nonn2["student"]
    for key, label in (("top1_alone", "student %d alone"), ("top1_without", "student %d missing (K − 1 fused)")):
        for i in range(max(len(k4), len(k2))):
            cell = lambda ss: "%.4f" % ss[i][key] if i < len(ss) else "–"
            lines.append("| %s | %s | %s |" % (label % i, cell(k4), cell(k2)))
    assert teacher["accuracy"]["top1"] == nonn4["accuracy"]["teacher_top1"], "the manifests disagree on the teacher"
    t1, n1 = teacher["accuracy"]["top1"], nonn4["accuracy"]["top1"]
    worst_missing = min(s["top1_without"] for s in k4)
    lines += ["", "Fusing four students costs %.1f points against the teacher (two: %.1f); losing any one of the four "
              "costs at most %.1f points more (%.4f)." % (
                  100 * (t1 - n1), 100 * (t1 - nonn2["accuracy"]["top1"]), 100 * (n1 - worst_missing), worst_missing), ""]

    # ---- (b) Size per device.
    tr, st, fu = inspect["fmnist-teacher-model"], inspect["fmnist-nonn-4-student0"], inspect["fmnist-nonn-4-fusion"]
    t_all = graph_share(tr, 0, len(tr["nodes"]))
    s_all = graph_share(st, 0, len(st["nodes"]))
    f_all = graph_share(fu, 0, len(fu["nodes"]))
    student_params, fusion_params = k4[0]["parameters"], nonn4["bundle"]["fusion_parameters"]
    teacher_params, teacher_macs = ref["teacher_parameters"], ref["teacher_macs"]
    lines += ["## Size per device", "",
              "Parameters and MACs (Conv and Gemm) as trained: the students' and the fusion's from the manifests, the "
              "teacher's counted from its ONNX file the same way (`bench/nonn_prepare.py`); *as run*: cleave's cost report of the "
              "graph it runs (`cleavectl model inspect --optimize --json`: BatchNorm folded into the convolutions, "
              "elementwise work counted too), the planner's figures. RAM: weights + peak activations + the buffers "
              "kernels keep (Winograd filters) and one workspace, what the planner checks against a device's `ram`.", "",
              "| | parameters | MACs | MACs as run | weights as run | peak activations | RAM needed | vs teacher: parameters, MACs, RAM |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    rows = [("teacher", teacher_params, teacher_macs, t_all),
            ("one student (of 4)", student_params, k4[0]["macs"], s_all),
            ("fusion", fusion_params, nonn4["bundle"]["fusion_macs"], f_all)]
    for name, params, macs, share in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %.1f%%, %.1f%%, %.1f%% |" % (
            name, count(params), count(macs), count(share["macs"]), kib(share["weights"]), kib(share["peak"]),
            kib(share["ram"]), 100 * params / teacher_params, 100 * macs / teacher_macs,
            100 * share["ram"] / t_all["ram"]))

    lines += ["", "What each Pi holds and sends per request under each plan (figures as run):", "",
              "| plan | Pi | runs | MACs | weights | peak activations | RAM needed | sends per request |",
              "|---|---|---|---:|---:|---:|---:|---|"]
    nonn_plan = plans_json[(a.bandwidths[0], "nonn")]["plans"][0]
    sends = {}
    for e in nonn_plan.get("edges", []):
        src, dst = nonn_plan["stages"][e["from"]]["device"], nonn_plan["stages"][e["to"]]["device"]
        if src != dst:
            sends.setdefault(src, []).append("%s to %s (%d B)" % ("+".join(e["tensors"]), dst, e["bytes"]))
    per_pi = {}
    for s in nonn_plan["stages"]:
        if s["graph"] == "student":
            per_pi.setdefault(s["device"], []).append(("student %d" % s["graph_index"], s_all))
        elif s["graph"] == "fusion":
            per_pi.setdefault(s["device"], []).append(("fusion", f_all))
    for pi in sorted(set(per_pi) | set(sends)):
        held = per_pi.get(pi, [])
        total = {k: sum(h[1][k] for h in held) for k in ("macs", "weights", "ram")}
        peak = max((h[1]["peak"] for h in held), default=0)
        lines.append("| nonn | %s | %s | %s | %s | %s | %s | %s |" % (
            pi, " + ".join(h[0] for h in held) or "relays", count(total["macs"]), kib(total["weights"]), kib(peak),
            kib(total["ram"]), "; ".join(sends.get(pi, [])) or "the result"))
    split_plan = plans_json[(a.bandwidths[0], "split")]["plans"][0]
    for s in split_plan["stages"]:
        share = graph_share(tr, s["begin"], s["end"])
        lines.append("| split, planner's best | %s | %s | %s | %s | %s | %s | %s |" % (
            s["device"],
            "nodes %d–%d of %d" % (s["begin"], s["end"] - 1, len(tr["nodes"])) if s["end"] > s["begin"] else "nothing (sink)",
            count(share["macs"]), kib(share["weights"]), kib(share["peak"]), kib(share["ram"]),
            "%d B" % s["send_bytes"] if s["send_bytes"] else "the result"))
    bounds = [0] + cuts + [len(tr["nodes"])]
    sent = {c["position"]: c["bytes"] for c in tr["cuts"]}
    for i, (b, e) in enumerate(zip(bounds, bounds[1:])):
        share = graph_share(tr, b, e)
        lines.append("| split, layer-wise | pi%d | nodes %d–%d | %s | %s | %s | %s | %s |" % (
            i + 1, b, e - 1, count(share["macs"]), kib(share["weights"]), kib(share["peak"]), kib(share["ram"]),
            kib(sent[e]) if e < len(tr["nodes"]) else "the result"))
    lines += ["", "The layer-wise split is cut at positions %s of the teacher's %d nodes as run (`plan apply --route "
              "pi1,pi2,pi3,pi4 --cuts %s`): each Pi computes about a quarter of the MACs (the largest share as small as "
              "it can be within 1%%, then the fewest bytes sent; `bench/nonn_prepare.py`). The planner itself never "
              "chooses it: on four identical Pis, every cut only adds a transfer to a request's latency." % (
                  a.cuts, len(tr["nodes"]), a.cuts), ""]

    # ---- (c) Latency.
    lines += ["## Latency, predicted and measured", "",
              "*Predicted*: the planner's latency (`cleavectl plan --strategy S --json`; the layer-wise split: the "
              "daemon's costing of it at `plan apply`), from the topology's figures. *Measured*: the daemon's "
              "submit-to-completion latency of one request at a time, median of the %d round medians (each round's "
              "median in brackets), and the median of the round p95s. *Floor*: the same plan on unshaped loopback links "
              "without pacing (x86 compute in microseconds): what the fleet's own messaging, CURVE and processes cost "
              "per request on this machine, which the cost model leaves out." % rounds, "",
              "| links | plan | predicted ms | measured ms (rounds) | p95 ms | measured − predicted ms | floor ms | requests (failed) |",
              "|---|---|---:|---|---:|---:|---:|---:|"]
    for bw in a.bandwidths:
        for plan in PLANS:
            m, fl = measured.get((bw, plan)), measured.get(("floor", plan))
            p = predicted.get((bw, plan))
            if not m:
                lines.append("| %s | %s | %s | not measured | | | | |" % (bw, PLAN_NAMES[plan], ms(p)))
                continue
            lines.append("| %s | %s | %s | **%s** (%s) | %s | %s | %s | %d (%d) |" % (
                bw, PLAN_NAMES[plan], ms(p), ms(m["median"]), ", ".join(ms(x) for x in m["medians"]), ms(m["p95"]),
                ms(m["median"] - p) if p is not None else "–", ms(fl["median"]) if fl else "–",
                m["answered"] + m["failed"], m["failed"]))
    gaps = [(bw, plan, measured[(bw, plan)]["median"] - predicted[(bw, plan)] - measured[("floor", plan)]["median"])
            for bw in a.bandwidths for plan in PLANS
            if (bw, plan) in measured and ("floor", plan) in measured and predicted.get((bw, plan)) is not None]
    if gaps:
        worst = max(gaps, key=lambda g: abs(g[2]))
        bound = math.ceil(1e4 * abs(worst[2])) / 10  # ms, rounded up to a tenth
        split_floor = measured.get(("floor", "split"), {}).get("median")
        lines += ["", "Measured is predicted plus the floor to within %.1f ms in every row (largest: %s at %s, %+.2f ms; "
                  "cleavectl prints latencies to three figures): the cost model's compute and transfer times hold on this "
                  "testbed, and what it leaves out is the fleet's own cost per request: the daemon handing the request to "
                  "pi1, and every message between processes, results included (pi4 returns the result to pi1, the agent "
                  "the request entered at, which answers the daemon). %s" % (
                      bound, PLAN_NAMES[worst[1]], worst[0], 1e3 * worst[2],
                      "The best split's floor, %s ms, is four such messages (daemon, pi1, pi4, pi1, daemon): about "
                      "%.1f ms each between processes sharing this machine's CPUs." % (ms(split_floor), 1e3 * split_floor / 4)
                      if split_floor else "")]
    lines += ["", "Ratios of latencies (below 1: nonn is faster):", "",
              "| links | nonn / split (best): predicted | measured | nonn / layer-wise: predicted | measured |",
              "|---|---:|---:|---:|---:|"]
    ratio = lambda x, y: "%.2f" % (x / y) if x is not None and y else "–"
    for bw in a.bandwidths:
        mn = measured.get((bw, "nonn"), {}).get("median")
        lines.append("| %s | %s | **%s** | %s | **%s** |" % (
            bw, ratio(predicted[(bw, "nonn")], predicted[(bw, "split")]),
            ratio(mn, measured.get((bw, "split"), {}).get("median")),
            ratio(predicted[(bw, "nonn")], predicted[(bw, "layerwise")]),
            ratio(mn, measured.get((bw, "layerwise"), {}).get("median"))))
    lines.append("")

    # ---- Checks.
    lines += ["## Checks", "",
              "Every answer's top-1 against the same graphs evaluated in numpy, float64 (`tools/train/nonn_reference.py`;"
              " the students and fusion for nonn, the teacher for split); the run stops without writing below %.2f "
              "agreement. Accuracy here is on the images sent (the first %d test images, a different %d each round, the "
              "same for every plan within a round), so it differs from the full test set's above by sampling. Off-plan: "
              "answers computed under another epoch than the installed plan's (a re-plan during the run)." % (
                  MIN_AGREEMENT, rounds * a.requests, a.requests), "",
              "| links | plan | answers | failed | agree with reference | top-1 | reference top-1 | off-plan |",
              "|---|---|---:|---:|---:|---:|---:|---:|"] + checks + [""]
    if problems:
        lines += ["Problems during the run:", ""] + ["- " + p for p in problems] + [""]

    # ---- (d) Conditions and the verdict.
    lines += ["## Conditions", "",
              "- %d rounds; in each, every fleet once (nonn and split at each bandwidth, then both unshaped), in an order "
              "rotated by one per round; each fleet started with `cleavectl up`, its plan waited for, %d untimed warm-up "
              "requests, then one request at a time: %d for nonn and the best split, %d for the layer-wise split "
              "(installed on the split fleet after it), %d per plan unshaped; %d s of measurement in all." % (
                  rounds, a.warmup, a.requests, a.layerwise_requests, a.floor_requests, a.seconds),
              "- `--pace`: each agent makes a stage run last as long as the planner predicts for the declared device "
              "(a Raspberry Pi 4: conv 3 GMAC/s, gemm 1.5 GMAC/s, elementwise 600 MMAC/s, 0.3 µs per node), so this "
              "x86 machine stands in for four Pis; it can only lengthen a run. Links are shaped in each agent (token "
              "bucket at the link's rate plus half the RTT each way), each peer on its own.",
              "- All four agents and the daemon share this machine's CPUs and talk over loopback with CURVE; the floor "
              "column is what that costs.", ""]

    bw0 = a.bandwidths[0]
    nonn_stages = plans_json[(bw0, "nonn")]["plans"][0]["stages"]
    facts = {"image_bytes": tr["cuts"][0]["bytes"], "logit_bytes": tr["cuts"][-1]["bytes"],
             "feature_bytes": st["cuts"][-1]["bytes"], "layer_bytes": sum(sent[c] for c in cuts),
             "layer_parts": " + ".join(kib(sent[c]) for c in cuts), "student_macs": s_all["macs"],
             "student_s": max(x["compute_s"] for x in nonn_stages if x["graph"] == "student"),
             "teacher_macs": t_all["macs"], "teacher_s": sum(x["compute_s"] for x in split_plan["stages"]),
             "teacher_ram": t_all["ram"], "teacher_top1": t1, "nonn_top1": n1,
             "floor_nonn": measured.get(("floor", "nonn"), {}).get("median"),
             "floor_split": measured.get(("floor", "split"), {}).get("median")}
    lines += ["## Does the paper's claim hold here?", ""] + verdict(a.bandwidths, predicted, measured, facts) + [""]
    with open(a.out, "w") as out:
        out.write("\n".join(lines))
    print("\n".join(lines))


def bits_per_second(text):
    """'100Mbps' -> 1e8 (the bandwidths the script runs: a number and bps, kbps, Mbps or Gbps)."""
    m = re.fullmatch(r"([0-9.]+)\s*([kMG]?)bps", text)
    if not m:
        raise ValueError(f"bandwidth '{text}' is not NUMBER[k|M|G]bps")
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


def floor_text(facts):
    """Why the floor weighs more on nonn than on the best split, from the two floors measured."""
    nf, sf = facts.get("floor_nonn"), facts.get("floor_split")
    if nf is None or sf is None:
        return ""
    return ("nonn's floor is %s ms against the best split's %s ms: its critical path has one message more (daemon, pi1, "
            "a student's Pi, pi4, pi1, daemon) and waits for the slowest of three image copies and of three feature "
            "messages, while four agents and the daemon share two CPUs. Where nonn's predicted advantage is smaller than "
            "the %s ms difference of floors, the best split measures faster." % (ms(nf), ms(sf), ms(nf - sf)))


def verdict(bandwidths, predicted, measured, facts):
    """The claim: students that exchange only final features beat a model split layer-wise across
    the same devices. Said from the figures of this run; `facts` holds the sizes it needs."""
    out = []
    for bw in bandwidths:
        get = lambda plan: measured.get((bw, plan), {}).get("median")
        n, s, l = get("nonn"), get("split"), get("layerwise")
        if n is None or s is None or l is None:
            out.append("- %s: not every plan was measured; no verdict." % bw)
            continue
        out.append("- **%s**: nonn %s ms measured (%s predicted), the layer-wise split %s ms (%s): nonn is %.1fx "
                   "faster, **the claim %s**. Against the planner's best split, %s ms (%s predicted), nonn is %s "
                   "(predicted: %s)." % (
                       bw, ms(n), ms(predicted[(bw, "nonn")]), ms(l), ms(predicted[(bw, "layerwise")]), l / n,
                       "holds" if n < l else "does not hold", ms(s), ms(predicted[(bw, "split")]),
                       "%.2fx faster" % (s / n) if n < s else "%.2fx slower" % (n / s),
                       "%.2fx faster" % (predicted[(bw, "split")] / predicted[(bw, "nonn")])
                       if predicted[(bw, "nonn")] < predicted[(bw, "split")]
                       else "%.2fx slower" % (predicted[(bw, "nonn")] / predicted[(bw, "split")])))
    image, features, layer = facts["image_bytes"], facts["feature_bytes"], facts["layer_bytes"]
    wire = lambda b, bw: 1e3 * 8 * b / bits_per_second(bw)
    out += ["",
            "Why. Per request, nonn sends the %s-byte image from pi1 to the three other Pis, each over its own link, and "
            "%d bytes of features from each student to pi4: its critical path is one image transfer (%s), one student "
            "(%s MACs, %s ms on a Pi 4; the four run at once) and one feature transfer. The layer-wise split sends %s "
            "of activations along the chain (%s): %s on the wire alone, before any compute, and its %s MACs run one Pi "
            "after another. The planner's best split sends only the %d bytes of logits from pi1 to pi4, but pi1 computes "
            "the whole teacher (%s ms): nonn's advantage over it is compute spread over four Pis, and it shrinks as the "
            "links slow, since nonn must ship the image where the split ships logits." % (
                "{:,}".format(image), features, " and ".join("%.2f ms at %s" % (wire(image, bw), bw) for bw in bandwidths),
                count(facts["student_macs"]), ms(facts["student_s"]), kib(layer), facts["layer_parts"],
                " and ".join("%.1f ms at %s" % (wire(layer, bw), bw) for bw in bandwidths), count(facts["teacher_macs"]),
                facts["logit_bytes"], ms(facts["teacher_s"])),
            "",
            "The paper's students exist because no one device can hold the teacher. Here one Pi 4 can (it needs %s of "
            "RAM as run, of 3 GiB), so the planner's split keeps the teacher whole; the layer-wise split is the paper's "
            "baseline, installed by hand." % kib(facts["teacher_ram"]),
            "",
            "Caveats. The measured latency includes what the cost model leaves out (the floor column). %s Links are "
            "modelled and shaped independently: pi1's three image copies each get the full rate. On real Pis they share "
            "pi1's one switch port (on WiFi, one channel) and would leave one after another: %.1f ms for the three at "
            "%s instead of one image's time. On real Pis, each agent has "
            "a board of its own but slower cores, so the floor would differ; this testbed cannot say by how much. And "
            "nonn pays %.1f points of top-1 (%.4f against the teacher's %.4f), which a split of the teacher does not." % (
                floor_text(facts), wire(3 * image, bandwidths[-1]), bandwidths[-1],
                100 * (facts["teacher_top1"] - facts["nonn_top1"]), facts["nonn_top1"], facts["teacher_top1"])]
    return out


if __name__ == "__main__":
    main()
