#!/usr/bin/env node
// ONNX Runtime peer for run_quantisation_bench.sh: runs a batch-1 model on every row of a float32
// .npy batch (one intra-op thread, all graph optimisations), writes output 0 of every row stacked
// as float32 .npy, and prints the per-input latency line cleavectl model evaluate prints.
// Usage: node ort_evaluate.js MODEL.onnx IMAGES.npy OUTPUTS.npy
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');
const { readNpy, writeNpy } = require('./npy.js');

async function main() {
  const [modelPath, imagesPath, outputsPath] = process.argv.slice(2);
  if (!modelPath || !imagesPath || !outputsPath) throw new Error('usage: ort_evaluate.js MODEL.onnx IMAGES.npy OUTPUTS.npy');
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const images = readNpy(imagesPath);
  const count = images.dims[0];
  const rowDims = [1, ...images.dims.slice(1)];
  const rowElements = images.data.length / count;
  const ms = [];
  let outputs;
  let outputDims;
  for (let n = 0; n < count; ++n) {
    const row = images.data.subarray(n * rowElements, (n + 1) * rowElements);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', row, rowDims) };
    const start = process.hrtime.bigint();
    const result = await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    const out = result[session.outputNames[0]];
    if (!outputs) {
      outputs = new Float32Array(count * out.data.length);
      outputDims = [count, ...out.dims];
    }
    outputs.set(out.data, n * out.data.length);
  }
  writeNpy(outputsPath, outputs, outputDims);
  ms.sort((a, b) => a - b);
  const p95 = ms[Math.min(ms.length - 1, Math.floor(0.95 * ms.length))];
  console.log(`${modelPath}: onnxruntime ${ort.env.versions.common}; per input median ${ms[ms.length >> 1].toFixed(4)} ms, p95 ${p95.toFixed(4)} ms`);
}

main().catch((e) => {
  console.error(`ort_evaluate.js: ${e.message}`);
  process.exit(1);
});
