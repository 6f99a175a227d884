// Times every exported depth with LiteRT.js on the device that opened the page, checks its outputs against
// the host's, runs the folder's cascade.json (when it holds one) on the test images, shows a table and a plot,
// and posts a ddnn_tf.benchmark/1 report to the server.
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

// A file compiled for one image of uint8 pixels, with its input shape; an Error says why a file takes other input.
async function compile(bytes, threads, accelerator) {
  const model = await loadAndCompile(bytes, {accelerator, cpuOptions: {numThreads: threads}});
  const details = model.getInputDetails()[0];
  const shape = Array.from(details.shape);
  if (String(details.dtype) !== 'uint8' || shape[0] !== 1) {
    model.delete();
    throw new Error(`takes ${details.dtype} input of shape [${shape}], not one image of uint8 pixels: ` +
                    'export it with python -m ddnn_tf.export_tflite --target web');
  }
  return {model, shape};
}

async function timeFile(entry, bytes, threads, accelerator, test) {
  let start = performance.now();
  const {model, shape} = await compile(bytes, threads, accelerator);
  const initMs = performance.now() - start;
  try {
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

// ------------------------------------------------------------------ the cascade of cascade.json

const CASCADE_SCHEMA = 'ddnn_tf.cascade/1';
const CASCADE_RULES = ['max_probability', 'entropy'];
const CALIBRATE_HINT = 'calibrate it again on this folder: python -m ddnn_tf.cascade --export_dir FOLDER --max_drop N';

// An image's exit score in the float64 arithmetic of ddnn_tf.runtime.cascade.exit_scores (exponentials added in
// class order), so that the thresholds calibrated in Python mean the same here.
function exitScore(logits, rule) {
  let largest = -Infinity;
  for (const value of logits) largest = Math.max(largest, value);
  let total = 0, weighted = 0;
  for (const value of logits) {
    const z = value - largest, e = Math.exp(z);
    total += e;
    weighted += e * z;
  }
  return rule === 'max_probability' ? 1 / total : weighted / total - Math.log(total);
}

// Python's round(), halves to the even neighbour: the host's cascade row rounds its multiply-accumulates so.
function roundHalfEven(value) {
  const nearest = Math.round(value);
  return Math.abs(value % 1) === 0.5 ? 2 * Math.round(value / 2) : nearest;
}

// What makes a cascade.json unrunnable, as ddnn_tf.runtime.cascade.read says it, or null.
function cascadeFault(document) {
  if (document === null || typeof document !== 'object' || document.schema !== CASCADE_SCHEMA) {
    const found = document !== null && typeof document === 'object' ? document.schema : undefined;
    return `cascade.json is not a ${CASCADE_SCHEMA} file (its schema is ${JSON.stringify(found ?? null)}); ` +
           'write one with python -m ddnn_tf.cascade';
  }
  if (!CASCADE_RULES.includes(document.rule)) {
    return `cascade.json: unknown rule ${JSON.stringify(document.rule ?? null)}; valid choices: ` +
           CASCADE_RULES.join(', ');
  }
  if (!Array.isArray(document.stages) || !document.stages.length) {
    return 'cascade.json: stages must be a non-empty list';
  }
  for (const [index, stage] of document.stages.entries()) {
    if (stage === null || typeof stage !== 'object' || typeof stage.file !== 'string' || stage.file.includes('/') ||
        typeof stage.sha256 !== 'string') {
      return `cascade.json: stages[${index}] must name a file in its folder and its sha256`;
    }
    if (!Number.isInteger(stage.multiply_accumulates) || stage.multiply_accumulates < 1) {
      return `cascade.json: stages[${index}].multiply_accumulates must be a whole number above 0`;
    }
    const final = index === document.stages.length - 1;
    if (final !== (stage.threshold === null || stage.threshold === undefined) ||
        !(final || Number.isFinite(stage.threshold))) {
      return `cascade.json: stages[${index}].threshold must be ` +
             (final ? 'null (the last stage always answers)' : 'a number');
    }
  }
  return null;
}

// SHA-256 of bytes, as lowercase hex. crypto.subtle exists only on a secure page (https, or this machine's own
// address); a phone that opens the page over plain http gets the same digest from sha256Plain.
async function sha256(bytes) {
  const digest = globalThis.crypto?.subtle ?
      new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)) : sha256Plain(bytes);
  return Array.from(digest, byte => byte.toString(16).padStart(2, '0')).join('');
}

const SHA256_ROUNDS = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2]);

function sha256Plain(bytes) {  // FIPS 180-4
  const rotate = (x, n) => (x >>> n) | (x << (32 - n));
  const hash = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                                0x5be0cd19]);
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 0x20000000));  // the length in bits, big-endian
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);
  const w = new Uint32Array(64);
  for (let block = 0; block < padded.length; block += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block + 4 * t);
    for (let t = 16; t < 64; t++) {
      const s0 = rotate(w[t - 15], 7) ^ rotate(w[t - 15], 18) ^ (w[t - 15] >>> 3);
      const s1 = rotate(w[t - 2], 17) ^ rotate(w[t - 2], 19) ^ (w[t - 2] >>> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;  // a Uint32Array keeps the sum modulo 2^32
    }
    let [a, b, c, d, e, f, g, h] = hash;
    for (let t = 0; t < 64; t++) {
      const t1 = (h + (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_ROUNDS[t] +
                  w[t]) >>> 0;
      const t2 = ((rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      [h, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    [a, b, c, d, e, f, g, h].forEach((value, i) => { hash[i] += value; });
  }
  const digest = new Uint8Array(32);
  const out = new DataView(digest.buffer);
  hash.forEach((value, i) => out.setUint32(4 * i, value));
  return digest;
}

// The folder's cascade.json with each stage's bytes, null when the folder holds none; whatever keeps it from
// running (the file damaged, a stage not served or not the file it was calibrated on, no test images to run it
// on) is a problem of the report instead.
async function fetchCascade(catalogue, test, problem) {
  const answer = await fetch('/files/cascade.json');
  if (answer.status === 404) return null;
  if (!answer.ok) {
    problem('cascade.json', `cascade.json is not served: the server answered HTTP ${answer.status}`);
    return null;
  }
  let document;
  try {
    document = JSON.parse(await answer.text());
  } catch (error) {
    problem('cascade.json', `cascade.json is not JSON (${error.message}); write it again with ` +
                            'python -m ddnn_tf.cascade');
    return null;
  }
  const fault = cascadeFault(document);
  if (fault) {
    problem('cascade.json', fault);
    return null;
  }
  if (!test) {
    problem('cascade.json', 'cascade.json cannot run: the folder holds no test images; export the depths with ' +
                            'python -m ddnn_tf.export_tflite --target web');
    return null;
  }
  const entries = new Map(catalogue.files.map(entry => [entry.file, entry]));
  const stages = [];
  for (const stage of document.stages) {
    const fetched = await fetch(`/files/${stage.file}`);
    if (!fetched.ok) {
      problem('cascade.json', `cascade.json names ${stage.file}, which the server does not serve (HTTP ` +
                              `${fetched.status}): put it beside cascade.json, or ${CALIBRATE_HINT}`);
      continue;
    }
    const bytes = new Uint8Array(await fetched.arrayBuffer());
    if (await sha256(bytes) !== stage.sha256) {
      problem('cascade.json', `cascade.json was calibrated for another ${stage.file} (its sha256 differs): ` +
                              CALIBRATE_HINT);
      continue;
    }
    if (entries.get(stage.file)?.output_dtype === 'int8') {
      problem('cascade.json', `cascade.json names ${stage.file}, which gives int8 logits that LiteRT.js cannot ` +
                              `read: export the depths with --target web, then ${CALIBRATE_HINT}`);
      continue;
    }
    stages.push({...stage, bytes, quantize: entries.get(stage.file)?.quantize ?? null});
  }
  return stages.length === document.stages.length ? {rule: document.rule, stages} : null;
}

// The cascade's row at one thread count, as python -m ddnn_tf.benchmark --cascade measures it: each test image
// timed from its pixels to the answer, every file it ran included, after a first run and the warm-up.
async function timeCascade(cascade, threads, accelerator, test) {
  const {rule, stages} = cascade;
  const models = [];
  try {
    let start = performance.now();
    for (const stage of stages) models.push(await compile(stage.bytes, threads, accelerator));
    const initMs = performance.now() - start;
    const size = test.height * test.width * test.channels;
    const image = i => test.pixels.subarray(i * size, (i + 1) * size);
    const decide = async pixels => {
      for (const [index, {model, shape}] of models.entries()) {
        const logits = await outputOf(model, pixels, shape);
        if (index === models.length - 1 || exitScore(logits, rule) >= stages[index].threshold) {
          return {stage: index, label: logits.indexOf(Math.max(...logits))};
        }
      }
    };
    start = performance.now();
    await decide(image(0));
    const firstMs = performance.now() - start;
    const warmup = Math.min(WARMUP, test.count);
    for (let i = 0; i < warmup; i++) await decide(image(i));
    // An image that escalates costs every file it ran: the stages' multiply-accumulates added up to its stop.
    const costs = [];
    for (const stage of stages) costs.push((costs.at(-1) ?? 0) + stage.multiply_accumulates);
    const timings = [], exits = stages.map(() => 0);
    let correct = 0, macs = 0;
    for (let i = 0; i < test.count; i++) {
      start = performance.now();
      const {stage, label} = await decide(image(i));
      timings.push(performance.now() - start);
      exits[stage] += 1;
      correct += label === test.label_values[i];
      macs += costs[stage];
      if (i % 50 === 49) status(`cascade.json, ${threads} thread(s): image ${i + 1} of ${test.count}`);
    }
    return {
      file: 'cascade.json', signature: 'cascade', depth: 'cascade', quantize: stages[0].quantize, threads,
      init_ms: initMs, first_run_ms: firstMs, warmup_runs: warmup, runs: test.count, ...summarize(timings),
      io_ms: null, process_peak_rss_mb: null, file_bytes: stages.reduce((sum, s) => sum + s.bytes.length, 0),
      multiply_accumulates: roundHalfEven(macs / test.count), validated_accuracy: null,
      accuracy: correct / test.count, timings_ms: timings,
      accelerator: [...new Set(models.map(({model}) => acceleratorOf(model)))].join(', '),
      agreement: null, max_relative_difference: null,
      cascade: {rule, depths: stages.map(s => s.depth), thresholds: stages.slice(0, -1).map(s => s.threshold),
                exit_fractions: exits.map(count => count / test.count)},
    };
  } finally {
    for (const {model} of models) model.delete();
  }
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
  const cascade = await fetchCascade(catalogue, test, problem);
  for (const threads of cascade ? threadCounts : []) {
    status(`cascade.json, ${threads} thread(s): loading`);
    try {
      const result = await timeCascade(cascade, threads, accelerator, test);
      results.push(result);
      const answered = result.cascade.depths.map((depth, i) =>
          `${(100 * result.cascade.exit_fractions[i]).toFixed(1)} % at ${depth}`).join(', ');
      row('results', [`cascade.json (${answered})`, result.accelerator, threads, result.median_ms.toFixed(3),
                      result.p90_ms.toFixed(3), `${(100 * result.accuracy).toFixed(2)} %`, '-']);
    } catch (error) {
      problem('cascade.json', `cascade.json cannot run here: ${String(error.message || error)}`);
      break;
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
