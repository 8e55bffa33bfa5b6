#!/usr/bin/env node
// ONNX Runtime peer for run_runtime_bench.sh: batch 1, the same .npy input as cleavectl, THREADS
// intra-op threads (default 1).
// Usage: node ort_runner.js MODEL.onnx INPUT.npy RUNS [OUTPUT.npy|-] [THREADS]
// Prints the cleavectl latency line ("latency over N runs (1 thread): median X ms, p95 Y ms, min Z ms")
// and, if OUTPUT.npy is given, writes output 0 there for the correctness check.
'use strict';
const ort = require('onnxruntime-node');

const WARMUP_RUNS = 3;  // as cleavectl

const { readNpy, writeNpy } = require('./npy.js');

async function main() {
  const [modelPath, inputPath, runsArg, outputArg, threadsArg] = process.argv.slice(2);
  const runs = Number(runsArg);
  const threads = Number(threadsArg || 1);
  const outputPath = outputArg && outputArg !== '-' ? outputArg : undefined;
  if (!modelPath || !inputPath || !(runs >= 1) || !(threads >= 1))
    throw new Error('usage: ort_runner.js MODEL.onnx INPUT.npy RUNS [OUTPUT.npy|-] [THREADS]');
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const input = readNpy(inputPath);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) };
  let result;
  for (let i = 0; i < WARMUP_RUNS; ++i) result = await session.run(feeds);
  if (outputPath) {
    const out = result[session.outputNames[0]];
    writeNpy(outputPath, out.data, out.dims);
  }
  const ms = [];
  for (let i = 0; i < runs; ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  const p95 = ms[Math.min(ms.length - 1, Math.floor(0.95 * ms.length))];
  console.log(`latency over ${runs} runs (${threads} thread${threads > 1 ? 's' : ''}): median ${median.toFixed(3)} ms, p95 ${p95.toFixed(3)} ms, min ${ms[0].toFixed(3)} ms`);
}

main().catch((e) => {
  console.error(`ort_runner: ${e.message}`);
  process.exit(1);
});
