#!/usr/bin/python3
"""Summary tables for run_runtime_bench.sh: reads ROUNDS_FILE ("round model engine threads median p95
min" per line), writes TMP/runtime.json and TMP/runtime.md. Usage: runtime_summary.py ROUNDS_FILE TMP
MODEL... A ratio is the median over rounds of that round's ratio of medians: the runs it divides ran
seconds apart, so the machine's drift between rounds cancels."""
import json, math, os, statistics, subprocess, sys
rounds_file, tmp, models = sys.argv[1], sys.argv[2], sys.argv[3:]
env = os.environ
names = {"cleave": "cleave", "ort": f"ONNX Runtime {env['ORT_VERSION']}", "torch": "PyTorch"}
rows, by_round = {}, {}
for line in open(rounds_file):
    round_, model, engine, threads, median, p95, low = line.split()
    rows.setdefault((model, engine, int(threads)), []).append((float(median), float(p95), float(low)))
    by_round[int(round_), model, engine, int(threads)] = float(median)
rounds_run = sorted({r for (r, _, _, _) in by_round})
threads_measured = sorted({t for (_, _, t) in rows})
results = {key: {"median_ms": statistics.median(r[0] for r in rs), "p95_ms": statistics.median(r[1] for r in rs),
                 "min_ms": min(r[2] for r in rs), "rounds": [dict(zip(("median_ms", "p95_ms", "min_ms"), r)) for r in rs]}
           for key, rs in rows.items()}


def med(m, e, t):
    return results[m, e, t]["median_ms"]


def paired(m, e1, t1, e2, t2):
    """Median over rounds of (e1 at t1 threads) / (e2 at t2 threads) within each round."""
    return statistics.median(by_round[r, m, e1, t1] / by_round[r, m, e2, t2] for r in rounds_run
                             if (r, m, e1, t1) in by_round and (r, m, e2, t2) in by_round)


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


ratios = {f"{m}/{t}": {"cleave_vs_ort": paired(m, "cleave", t, "ort", t),
                       "cleave_vs_torch": paired(m, "cleave", t, "torch", t)}
          for m in models for t in threads_measured}
both = threads_measured == [1, 2]
if both:
    for m in models:
        ratios[f"{m}/2"]["cleave_2t_vs_1t"] = paired(m, "cleave", 2, "cleave", 1)
summary = {}
for t in threads_measured:
    r = [ratios[f"{m}/{t}"]["cleave_vs_ort"] for m in models]
    worst = max(models, key=lambda m: ratios[f"{m}/{t}"]["cleave_vs_ort"])
    summary[t] = {"geomean_cleave_vs_ort": geomean(r), "worst_model": worst, "worst_cleave_vs_ort": max(r)}
meta = {"rounds": int(env["ROUNDS"]), "timed_runs_per_round": int(env["RUNS"]), "threads": threads_measured, "batch": 1}
json.dump({"environment": json.load(open(env["BENCH_META_JSON"])), **meta,
           "results": [{"model": m, "engine": e, "threads": t, **r} for (m, e, t), r in results.items()],
           "ratios": ratios, "summary": {str(t): s for t, s in summary.items()}},
          open(f"{tmp}/runtime.json", "w"), indent=2)

md = ["# Runtime benchmark: cleave vs ONNX Runtime vs PyTorch\n"] + open(env["BENCH_META_MD"]).read().splitlines() + [
      f"- settings: batch 1, {' and '.join(map(str, threads_measured))} thread(s); {meta['rounds']} rounds with the "
      f"engines interleaved, each round 3 warm-up runs then {meta['timed_runs_per_round']} timed runs; median = "
      f"median of the round medians, p95 = median of the round p95s, min = fastest run seen",
      "- models: torchvision's, random weights with BatchNorm statistics set from random images, 1x3x224x224, "
      "exported by tools/models/export_torchvision.py", ""]
md += ["## Summary", "", "| threads | cleave/ORT, geometric mean | worst network | cleave/ORT there |",
       "|---:|---:|---|---:|"]
md += [f"| {t} | {s['geomean_cleave_vs_ort']:.2f} | {s['worst_model']} | {s['worst_cleave_vs_ort']:.2f} |"
       for t, s in summary.items()]
header = ["model"] + [f"cleave/ORT {t}T" for t in threads_measured] + [f"cleave/PyTorch {t}T" for t in threads_measured]
if both:
    header.append("cleave 2T/1T")
md += ["", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
for m in models:
    cells = [f"{ratios[f'{m}/{t}']['cleave_vs_ort']:.2f}" for t in threads_measured]
    cells += [f"{ratios[f'{m}/{t}']['cleave_vs_torch']:.2f}" for t in threads_measured]
    if both:
        cells.append(f"{ratios[f'{m}/2']['cleave_2t_vs_1t']:.2f}")
    md.append(f"| {m} | " + " | ".join(cells) + " |")
md += ["", "Each ratio is the median over rounds of that round's ratio of medians (one model's engines and "
       "thread counts run back to back, so the machine's drift between rounds cancels); lower is better for "
       "cleave (2T/1T below 1 means two threads pay).", ""]
choices_path = os.path.join(tmp, "pool_choices.txt")
if os.path.exists(choices_path):
    kept = {}
    for line in open(choices_path):
        model, threads, choice = line.split(maxsplit=2)
        kept.setdefault((model, threads), []).append(choice.strip())
    md += ["What cleave's threaded sessions kept after measuring their first runs with and without the pool "
           "(runtime/pool_choice.h), per round:", ""]
    md += [f"- {m}, {t} threads: " + ", ".join(c) for (m, t), c in kept.items()]
    md += [""]
for t in threads_measured:
    md += [f"## {t} thread{'s' if t > 1 else ''}", "", "| model | engine | median ms | p95 ms | min ms | vs ORT |",
           "|---|---|---:|---:|---:|---:|"]
    for m in models:
        for e in ("cleave", "ort", "torch"):
            r = results[m, e, t]
            md.append(f"| {m} | {names[e]} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['min_ms']:.2f} | "
                      f"{r['median_ms'] / med(m, 'ort', t):.2f}x |")
    md.append("")
md += ["## Reproduce", "",
       "```sh", "make bench                                # installs nodejs/npm + onnxruntime-node, builds, runs",
       "bench/run_runtime_bench.sh BUILD_DIR      # rerun on an existing build (ROUNDS=3 RUNS=30 by default)",
       "MODELS=resnet18 THREADS=1 bench/run_runtime_bench.sh BUILD_DIR   # one network, one thread", "```"]
for m in models:
    ratio = ratios[f"{m}/1"]["cleave_vs_ort"] if 1 in threads_measured else 0
    if ratio > 1.0:  # show where the time goes wherever cleave trails on one thread
        profile = subprocess.run([env["CLEAVECTL"], "model", "run", f"{env['MODEL_DIR']}/{m}.onnx", "--input",
                                  f"{env['MODEL_DIR']}/{m}.input.npy", "--repeat", "20", "--threads", "1", "--profile"],
                                 capture_output=True, text=True, check=True).stdout
        md += ["", f"## cleave profile: {m} (cleave/ORT = {ratio:.2f} on one thread)", "",
               f"`cleavectl model run {m}.onnx --input {m}.input.npy --repeat 20 --threads 1 --profile`", "",
               "```", profile.rstrip(), "```"]
open(f"{tmp}/runtime.md", "w").write("\n".join(md) + "\n")
