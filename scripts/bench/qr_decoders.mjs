#!/usr/bin/env node
// Decode every image of a hard-QR set (tests/support/hard_qr.py) with each JS/WASM candidate and
// report decode rates per category, mean decode time and what a browser would download.
//
//   node scripts/bench/qr_decoders.mjs DIR [--candidates jsqr,zxing-wasm] [--json]
//
// Decoders get the same full RGBA frame a scanner would grab from <video> into a canvas. Network
// access is refused while it runs, so a decoder that tries to reach a CDN fails loudly.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { resolveObjectURL } from 'node:buffer';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * @typedef {{data: Uint8ClampedArray, width: number, height: number}} Frame
 * @typedef {{name: string, category: string, text: string}} Case
 * @typedef {{
 *   label: string,
 *   load: () => Promise<(frame: Frame) => Promise<string|null>>,
 *   size: () => Promise<{bytes: number, files: string[]}>,
 * }} Candidate
 */

globalThis.fetch = async (url) => {
  throw new Error(`network access during the benchmark: ${url}`);
};

/**
 * Minified + gzipped size of an ES module entry bundled the way the PWA would ship it.
 * @param {string} source ES module source importing the decoder
 * @returns {Promise<number>}
 */
async function bundledGzip(source) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    stdin: { contents: source, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return gzipSync(result.outputFiles[0].contents, { level: 9 }).length;
}

/**
 * Gzipped size of a file as shipped (already minified, or binary such as .wasm).
 * @param {string} specifier package path resolvable from here
 * @returns {number}
 */
function fileGzip(specifier) {
  return gzipSync(readFileSync(require.resolve(specifier)), { level: 9 }).length;
}

/**
 * Average of R, G, B weighted like zxing's luminance, one byte per pixel.
 * @param {Frame} frame
 * @returns {Uint8ClampedArray}
 */
function luminance(frame) {
  const { data } = frame;
  const out = new Uint8ClampedArray(frame.width * frame.height);
  for (let i = 0, j = 0; j < out.length; i += 4, j += 1) {
    out[j] = (306 * data[i] + 601 * data[i + 1] + 117 * data[i + 2] + 512) >> 10;
  }
  return out;
}

/** @type {Record<string, Candidate>} */
const CANDIDATES = {
  jsqr: {
    label: 'jsQR 1.4 (pure JS)',
    async load() {
      const jsQR = require('jsqr');
      return async (frame) =>
        jsQR(frame.data, frame.width, frame.height, { inversionAttempts: 'dontInvert' })?.data ?? null;
    },
    async size() {
      return { bytes: await bundledGzip("export { default } from 'jsqr';"), files: ['jsqr'] };
    },
  },
  'zxing-library': {
    label: '@zxing/library (TS port, QR reader only)',
    async load() {
      const zx = require('@zxing/library');
      const reader = new zx.QRCodeReader();
      const hints = new Map([[zx.DecodeHintType.TRY_HARDER, true]]);
      return async (frame) => {
        const source = new zx.RGBLuminanceSource(luminance(frame), frame.width, frame.height);
        try {
          return reader.decode(new zx.BinaryBitmap(new zx.HybridBinarizer(source)), hints).getText();
        } catch (error) {
          if (error instanceof zx.Exception) return null;
          throw error;
        }
      };
    },
    async size() {
      const source = `export { QRCodeReader, BinaryBitmap, HybridBinarizer, RGBLuminanceSource,
        DecodeHintType } from '@zxing/library';`;
      return { bytes: await bundledGzip(source), files: ['@zxing/library (tree-shaken)'] };
    },
  },
  'zxing-wasm': {
    label: 'zxing-wasm/reader (ZXing-C++ WASM)',
    async load() {
      const { prepareZXingModule, readBarcodes } = await import('zxing-wasm/reader');
      // Never the package's default (a CDN): hand it the local bytes, as the PWA will hand it
      // a same-origin URL through locateFile.
      const wasmPath = require.resolve('zxing-wasm/reader/zxing_reader.wasm');
      await prepareZXingModule({
        overrides: {
          wasmBinary: readFileSync(wasmPath),
          locateFile: (path, prefix) =>
            path.endsWith('.wasm') ? pathToFileURL(wasmPath).href : prefix + path,
        },
        fireImmediately: true,
      });
      const options = { formats: ['QRCode'], tryHarder: true, maxNumberOfSymbols: 1 };
      return async (frame) => (await readBarcodes(frame, options))[0]?.text ?? null;
    },
    async size() {
      const js = await bundledGzip(
        "export { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';",
      );
      const wasm = fileGzip('zxing-wasm/reader/zxing_reader.wasm');
      return { bytes: js + wasm, files: [`js ${js}`, `wasm ${wasm}`] };
    },
  },
  'qr-scanner': {
    label: 'qr-scanner 1.4 worker (jsQR fork)',
    async load() {
      // The package only runs in a browser (camera, canvas, Worker). Its decoder is the worker
      // script: capture that script's source and run it as a function of a stand-in `self`.
      let workerUrl = '';
      globalThis.Worker = class {
        /** @param {string} url */
        constructor(url) {
          workerUrl = url;
        }
      };
      const { createWorker } = await import('qr-scanner/qr-scanner-worker.min.js');
      createWorker();
      const code = await resolveObjectURL(workerUrl).text();
      /** @type {{data: string|null}|null} */
      let reply = null;
      const self = { postMessage: (message) => (reply = message), onmessage: null };
      new Function('self', code)(self);
      return async (frame) => {
        reply = null;
        self.onmessage({ data: { id: 1, type: 'decode', data: frame } });
        return reply?.data ?? null;
      };
    },
    async size() {
      const main = fileGzip('qr-scanner/qr-scanner.min.js');
      const worker = fileGzip('qr-scanner/qr-scanner-worker.min.js');
      return { bytes: main + worker, files: [`main ${main}`, `worker ${worker}`] };
    },
  },
};

/**
 * Read a PNG (grey or RGB) as an RGBA frame.
 * @param {string} path
 * @returns {Promise<Frame>}
 */
async function readFrame(path) {
  const { PNG } = await import('pngjs');
  const png = PNG.sync.read(readFileSync(path));
  return { data: new Uint8ClampedArray(png.data), width: png.width, height: png.height };
}

/**
 * Run one candidate over every case.
 * @param {string} name key of CANDIDATES
 * @param {Case[]} cases
 * @param {Map<string, Frame>} frames
 */
async function measure(name, cases, frames) {
  const candidate = CANDIDATES[name];
  const decode = await candidate.load();
  /** @type {Record<string, {n: number, ok: number}>} */
  const categories = {};
  const failures = [];
  let ok = 0;
  let elapsed = 0;
  for (const item of cases) {
    const frame = frames.get(item.name);
    // each decoder gets its own copy: some write into the buffer they are given
    const copy = { ...frame, data: new Uint8ClampedArray(frame.data) };
    const start = performance.now();
    const text = await decode(copy);
    elapsed += performance.now() - start;
    const row = (categories[item.category] ??= { n: 0, ok: 0 });
    row.n += 1;
    if (text === item.text) {
      row.ok += 1;
      ok += 1;
    } else {
      failures.push(item.name);
    }
  }
  const size = await candidate.size();
  return {
    candidate: name,
    label: candidate.label,
    categories,
    ok,
    n: cases.length,
    meanMs: elapsed / cases.length,
    gzipBytes: size.bytes,
    sizeParts: size.files,
    failures,
  };
}

/** @param {string[]} argv */
async function main(argv) {
  const args = argv.filter((a) => !a.startsWith('--'));
  const flag = (name) => argv.find((a) => a.startsWith(`--${name}`));
  if (args.length !== 1) {
    console.error('usage: qr_decoders.mjs DIR [--candidates=a,b] [--json]');
    process.exit(2);
  }
  const dir = args[0];
  const chosen = flag('candidates')?.split('=')[1]?.split(',') ?? Object.keys(CANDIDATES);
  const unknown = chosen.filter((c) => !(c in CANDIDATES));
  if (unknown.length) throw new Error(`unknown candidates ${unknown}; known: ${Object.keys(CANDIDATES)}`);
  /** @type {Case[]} */
  const cases = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const frames = new Map();
  for (const item of cases) frames.set(item.name, await readFrame(join(dir, item.name)));
  const results = [];
  for (const name of chosen) results.push(await measure(name, cases, frames));
  if (flag('json')) {
    console.log(JSON.stringify(results, null, 1));
    return;
  }
  for (const r of results) {
    const cats = Object.entries(r.categories).map(([c, v]) => `${c} ${v.ok}/${v.n}`);
    console.log(`${r.label}: ${r.ok}/${r.n}, ${r.meanMs.toFixed(1)} ms, ${r.gzipBytes} B gz`);
    console.log(`  ${cats.join(', ')}`);
  }
}

await main(process.argv.slice(2));
