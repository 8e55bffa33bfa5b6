#!/usr/bin/python3
"""PyTorch peer for run_runtime_bench.sh: batch 1, eager mode under inference_mode, THREADS
intra-op threads (default 1).

Usage: /usr/bin/python3 torch_runner.py NAME INPUT.npy RUNS [OUTPUT.npy|-] [THREADS]
Rebuilds torchvision's NAME with the seed and BatchNorm calibration tools/models/export_torchvision.py
uses (so the weights are those of the exported ONNX file), prints the cleavectl latency line
("latency over N runs (1 thread): median X ms, p95 Y ms, min Z ms") and, if OUTPUT.npy is given,
writes output 0 there for the correctness check.
"""
import sys
import time

import os

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "models"))
from export_torchvision import calibrate_batch_norm  # noqa: E402

WARMUP_RUNS = 3  # as cleavectl


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit("usage: torch_runner.py NAME INPUT.npy RUNS [OUTPUT.npy|-] [THREADS]")
    name, input_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    output_path = sys.argv[4] if len(sys.argv) >= 5 and sys.argv[4] != "-" else None
    threads = int(sys.argv[5]) if len(sys.argv) == 6 else 1
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)  # as export_torchvision.py
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(torchvision.models, name)(weights=None)
    calibrate_batch_norm(model, torch.Generator().manual_seed(1))
    x = torch.from_numpy(np.load(input_path))
    with torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            y = model(x)
        if output_path:
            np.save(output_path, y.numpy())
        ms = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    median, p95 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    plural = "s" if threads > 1 else ""
    print(f"latency over {runs} runs ({threads} thread{plural}): median {median:.3f} ms, p95 {p95:.3f} ms, min {ms[0]:.3f} ms")


if __name__ == "__main__":
    main()
