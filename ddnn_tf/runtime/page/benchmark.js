// Times every exported depth with LiteRT.js on the device that opened the page, checks its outputs against
// the host's, shows a table and a plot, and posts a ddnn_tf.benchmark/1 report to the server.
// Query parameters: runs (default 50), warmup (5), threads (e.g. 1,2; default 1 and the device's cores up to 4,
// with threads only when the page is cross-origin isolated), accelerator (wasm to leave WebGPU out).
import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

const params = new URLSearchParams(location.search);
const RUNS = Math.max(1, Number(params.get('runs')) || 50);
const WARMUP = Math.max(0, Number(params.get('warmup') ?? 5));
const statusLine = document.getElementById('status');

function status(text) {
  statusLine.textContent = text;
}

function row(table, cells, className) {
  const tr = document.querySelector(`#${table} tbody`).insertRow();
  if (className) tr.className = className;
  for (const cell of cells) tr.insertCell().textContent = cell;
}

function percentile(sorted, q) {  // linear interpolation, numpy's default
  const position = (sorted.length - 1) * q / 100;
  const low = Math.floor(position), high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

function summarize(timings) {
  const sorted = [...timings].sort((a, b) => a - b);
  return {median_ms: percentile(sorted, 50), p90_ms: percentile(sorted, 90), p99_ms: percentile(sorted, 99),
          mean_ms: timings.reduce((a, b) => a + b, 0) / timings.length};
}

function deviceName() {
  const agent = navigator.userAgent;
  const browser = agent.match(/(HeadlessChrome|Edg|OPR|Firefox|Chrome|Version)\/(\d+)/);
  const system = agent.match(/\(([^)]+)\)/);
  const name = browser ? `${browser[1] === 'Version' ? 'Safari' : browser[1]} ${browser[2]}` : 'a browser';
  return `${name} (${system ? system[1] : 'unknown system'}), ${navigator.hardwareConcurrency || '?'} cores`;
}

async function chooseAccelerator() {
  if (params.get('accelerator') === 'wasm' || !navigator.gpu) return 'wasm';
  try {
    return (await navigator.gpu.requestAdapter()) ? 'webgpu' : 'wasm';
  } catch {
    return 'wasm';
  }
}

// What ran a compiled file, which is not always what was asked for: without JSPI (this page loads LiteRT.js
// without it) a file WebGPU cannot wholly take is compiled again for wasm, and with JSPI it is split between
// the two, which isFullyAccelerated tells.
function acceleratorOf(model) {
  const used = model.options.accelerator;
  return used !== 'wasm' && !model.isFullyAccelerated ? `${used}+wasm` : used;
}

async function outputOf(model, pixels, shape) {
  const input = new Tensor(pixels, shape);
  const outputs = await model.run(input);
  const logits = Float32Array.from(await outputs[0].data());
  input.delete();
  for (const output of outputs) output.delete();
  return logits;
}

async function timeFile(entry, bytes, threads, accelerator, test) {
  let start = performance.now();
  const model = await loadAndCompile(bytes, {accelerator, cpuOptions: {numThreads: threads}});
  const initMs = performance.now() - start;
  try {
    const details = model.getInputDetails()[0];
    const shape = Array.from(details.shape);
    if (String(details.dtype) !== 'uint8' || shape[0] !== 1) {
      throw new Error(`takes ${details.dtype} input of shape [${shape}], not one image of uint8 pixels: ` +
                      'export it with python -m ddnn_tf.export_tflite --target web');
    }
    const zeros = new Uint8Array(shape.reduce((a, b) => a * b, 1));
    start = performance.now();
    await outputOf(model, zeros, shape);
    const firstMs = performance.now() - start;
    for (let i = 0; i < WARMUP; i++) await outputOf(model, zeros, shape);
    const input = new Tensor(zeros, shape);
    const timings = [];
    for (let i = 0; i < RUNS; i++) {
      start = performance.now();
      const outputs = await model.run(input);  // the run alone, as benchmark_model times invoke()
      timings.push(performance.now() - start);
      for (const output of outputs) output.delete();
      if (i % 10 === 9) status(`${entry.file}, ${threads} thread(s): run ${i + 1} of ${RUNS}`);
    }
    input.delete();
    const checked = test && entry.expected_logits ? await check(model, entry, shape, test) : {};
    return {
      file: entry.file, signature: null, depth: entry.depth, quantize: entry.quantize, threads,
      init_ms: initMs, first_run_ms: firstMs, warmup_runs: WARMUP, runs: RUNS, ...summarize(timings), io_ms: null,
      process_peak_rss_mb: null, file_bytes: entry.bytes, multiply_accumulates: entry.multiply_accumulates,
      validated_accuracy: entry.validated_accuracy, accuracy: checked.accuracy ?? null, timings_ms: timings,
      accelerator: acceleratorOf(model), agreement: checked.agreement ?? null,
      max_relative_difference: checked.max_relative_difference ?? null,
    };
  } finally {
    model.delete();
  }
}

async function check(model, entry, shape, test) {
  const size = test.height * test.width * test.channels;
  let correct = 0, agreeing = 0, largest = 0, difference = 0;
  for (let i = 0; i < test.count; i++) {
    const logits = await outputOf(model, test.pixels.subarray(i * size, (i + 1) * size), shape);
    const expected = entry.expected_logits[i];
    const top = logits.indexOf(Math.max(...logits)), hostTop = expected.indexOf(Math.max(...expected));
    correct += top === test.label_values[i];
    agreeing += top === hostTop;
    for (let k = 0; k < expected.length; k++) {
      largest = Math.max(largest, Math.abs(expected[k]));
      difference = Math.max(difference, Math.abs(logits[k] - expected[k]));
    }
    if (i % 50 === 49) status(`${entry.file}: checked ${i + 1} of ${test.count} test images`);
  }
  return {accuracy: correct / test.count, agreement: agreeing / test.count,
          max_relative_difference: largest ? difference / largest : difference};
}

function plot(results) {
  const svg = document.getElementById('plot');
  const points = results.filter(r => r.accuracy !== null || r.validated_accuracy !== null);
  if (!points.length) return;
  const x = r => Math.log10(r.median_ms), y = r => 100 * (r.accuracy ?? r.validated_accuracy);
  const [x0, x1] = [Math.min(...points.map(x)) - 0.1, Math.max(...points.map(x)) + 0.1];
  const [y0, y1] = [Math.min(...points.map(y)) - 1, Math.max(...points.map(y)) + 1];
  const sx = v => 50 + 480 * (v - x0) / (x1 - x0), sy = v => 290 - 260 * (v - y0) / (y1 - y0);
  let content = '<line x1="50" y1="290" x2="530" y2="290" stroke="#000"/><line x1="50" y1="30" x2="50" y2="290" stroke="#000"/>' +
      '<text x="290" y="315" text-anchor="middle">median ms per image (log scale)</text>' +
      '<text x="12" y="160" transform="rotate(-90 12 160)" text-anchor="middle">top-1 (%)</text>';
  for (const r of points) {
    content += `<circle cx="${sx(x(r))}" cy="${sy(y(r))}" r="4" fill="#1f77b4"/>` +
        `<text x="${sx(x(r)) + 6}" y="${sy(y(r)) - 6}">${r.depth} ${r.quantize}, ${r.threads} thr, ` +
        `${r.median_ms.toFixed(2)} ms</text>`;
  }
  svg.innerHTML = content;
}

async function main() {
  const catalogue = await (await fetch('/catalogue.json')).json();
  for (const entry of catalogue.files) {
    row('files', [entry.file, entry.depth ?? '-', entry.quantize ?? '-', entry.bytes.toLocaleString(),
                  entry.multiply_accumulates ? entry.multiply_accumulates.toLocaleString() : '-']);
  }
  const isolated = self.crossOriginIsolated === true;
  const accelerator = await chooseAccelerator();
  status(`loading LiteRT.js ${catalogue.litert_version} (${accelerator}${isolated ? ', threads' : ''})`);
  await loadLiteRt('/litert/core/wasm/', {threads: isolated});
  const cores = navigator.hardwareConcurrency || 1;
  const wanted = params.get('threads') ? params.get('threads').split(',').map(Number) : [1, Math.min(4, cores)];
  const threadCounts = accelerator === 'wasm' && isolated ? [...new Set(wanted.filter(t => t >= 1))] : [1];
  let test = null;
  if (catalogue.test_images) {
    const pixels = new Uint8Array(await (await fetch(`/files/${catalogue.test_images.images}`)).arrayBuffer());
    test = {...catalogue.test_images, pixels};
  }
  const results = [], problems = [];
  const show = message => {
    const item = document.createElement('li');
    item.className = 'problem';
    item.textContent = message;
    document.getElementById('problems').append(item);
  };
  // A file the page could not time: the report's problems.
  const problem = (file, message) => {
    problems.push({file, message});
    show(message);
  };
  for (const entry of catalogue.files) {
    if (entry.output_dtype === 'int8') {
      problem(entry.file, `${entry.file} gives int8 logits, which LiteRT.js cannot read: export it with ` +
                          'python -m ddnn_tf.export_tflite --target web (float32 logits)');
      continue;
    }
    const answer = await fetch(`/files/${entry.file}`);
    if (!answer.ok) {
      problem(entry.file, `${entry.file} is missing: the server answered HTTP ${answer.status}`);
      continue;
    }
    const bytes = new Uint8Array(await answer.arrayBuffer());
    // The host's interpreter could not read it either: said beside what the browser makes of it.
    const hostProblem = entry.problem ? ` (the host's LiteRT: ${entry.problem})` : '';
    for (const threads of threadCounts) {
      status(`${entry.file}, ${threads} thread(s): loading`);
      try {
        const result = await timeFile(entry, bytes, threads, accelerator, test);
        results.push(result);
        // Outputs further from the host's than the export allows its float32 files: shown, and kept in the
        // report's agreement and max_relative_difference.
        const mismatch = result.max_relative_difference !== null &&
            result.max_relative_difference > catalogue.float32_tolerance;
        row('results', [entry.file, result.accelerator, threads, result.median_ms.toFixed(3), result.p90_ms.toFixed(3),
                        result.accuracy === null ? '-' : `${(100 * result.accuracy).toFixed(2)} %`,
                        result.agreement === null ? '-' : `${(100 * result.agreement).toFixed(1)} %`],
            mismatch ? 'problem' : '');
        if (mismatch) {
          show(`${entry.file} on ${result.accelerator}, ${threads} thread(s): logits differ from the host LiteRT's ` +
               `by ${result.max_relative_difference.toExponential(2)} relative (tolerance ` +
               `${catalogue.float32_tolerance}); ${(100 * result.agreement).toFixed(1)} % same top-1`);
        }
        if (hostProblem && threads === threadCounts[0]) {
          show(`${entry.file} ran here, but its outputs are not checked${hostProblem}`);
        }
      } catch (error) {
        const text = String(error.message || error);
        problem(entry.file, `${entry.file} cannot run here: ${text.includes('INT8') ?
            'its int8 input or output is not supported by LiteRT.js; export it with --target web' : text}` +
            hostProblem);
        break;
      }
    }
  }
  // A median of 0 ms (or one that is not finite) was never measured: the clock is virtual or too coarse.
  const unmeasured = results.filter(r => !(r.median_ms > 0 && Number.isFinite(r.median_ms)));
  if (unmeasured.length) {
    status(`stopped: ${unmeasured[0].file} timed ${unmeasured[0].median_ms} ms, which no clock measures: this ` +
           'browser\'s timer is virtual or too coarse; no report was sent');
    return;
  }
  // What ran the files, for the device's runtime: the accelerator asked for when none ran.
  const ran = [...new Set(results.map(r => r.accelerator))].join(', ') || accelerator;
  plot(results);
  const report = {
    schema: 'ddnn_tf.benchmark/1', created: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    device: {name: deviceName(), kind: 'browser', machine: navigator.platform || null, system: navigator.userAgent,
             runtime: `LiteRT.js ${catalogue.litert_version} (${ran}${isolated ? ', threads' : ''})`,
             cores: navigator.hardwareConcurrency || null},
    results, problems,
  };
  const answer = await fetch('/report', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                         body: JSON.stringify(report)});
  const reply = await answer.json();
  status(answer.ok ? `done: ${results.length} result(s), report saved as ${reply.saved}` :
                     `done, but the server refused the report: ${reply.error}`);
}

main().catch(error => status(`stopped: ${error.message || error}`));
