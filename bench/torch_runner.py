#!/usr/bin/python3
"""PyTorch peer for run_runtime_bench.sh: one thread, batch 1, eager mode under inference_mode.

Usage: /usr/bin/python3 torch_runner.py NAME INPUT.npy RUNS [OUTPUT.npy]
Rebuilds torchvision's NAME with the seed tools/models/export_torchvision.py uses (so the weights are
those of the exported ONNX file), prints the cleavectl latency line
("latency over N runs (1 thread): median X ms, p95 Y ms, min Z ms") and, if OUTPUT.npy is given,
writes output 0 there for the correctness check.
"""
import sys
import time

import numpy as np
import torch
import torchvision

WARMUP_RUNS = 3  # as cleavectl


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: torch_runner.py NAME INPUT.npy RUNS [OUTPUT.npy]")
    name, input_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)  # as export_torchvision.py
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.from_numpy(np.load(input_path))
    with torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            y = model(x)
        if len(sys.argv) == 5:
            np.save(sys.argv[4], y.numpy())
        ms = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    median, p95 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"latency over {runs} runs (1 thread): median {median:.3f} ms, p95 {p95:.3f} ms, min {ms[0]:.3f} ms")


if __name__ == "__main__":
    main()
