#!/usr/bin/env node
// ONNX Runtime peer for run_runtime_bench.sh: batch 1, the same .npy input as cleavectl, THREADS
// intra-op threads (default 1).
// Usage: node ort_runner.js MODEL.onnx INPUT.npy RUNS [OUTPUT.npy|-] [THREADS]
// Prints the cleavectl latency line ("latency over N runs (1 thread): median X ms, p95 Y ms, min Z ms")
// and, if OUTPUT.npy is given, writes output 0 there for the correctness check.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

const WARMUP_RUNS = 3;  // as cleavectl

// Minimal .npy (v1-v3) reader/writer for little-endian float32 C-order arrays.
function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const v1 = buf[6] === 1;
  const headerLen = v1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (v1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', v1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${path}: expected little-endian float32 in C order, header ${header.trim()}`);
  const dims = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  return { data, dims };
}

function writeNpy(path, data, dims) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n';  // pad so the data starts 64-byte aligned
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  fs.writeFileSync(path, Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

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
