// QR decoding: the browser's BarcodeDetector when it reads qr_code (Chrome on Android), otherwise
// ZXing-C++ compiled to WASM (npm zxing-wasm, chosen by measurement: docs/qr-decoders.md), loaded
// only then, from this server; its default locateFile would reach for a CDN.
//
// The fallback decoder is about 1 MB. The page downloads it into the app's own cache as soon as
// the app opens without it (the enrolment form is usually the first screen), with progress, so
// it is there offline even when enrolment finished before the service worker took control. The
// scanner only asks for the QR once the decoder can run, and a frame is read only while it is
// fresh: a code decoded more than a second after its frame was captured is dropped, never sent.

import { DECODER_FILES, VENDOR_CACHE, WASM_URL, loadDecoder, readQr } from './wasm.js';

export { DECODER_FILES, VENDOR_CACHE };
// The bundle is told the worker's hashed name (scripts/build-assets); the sources find it beside.
/* global __DECODER_WORKER__ */
const WORKER_URL =
  typeof __DECODER_WORKER__ === 'string' ? __DECODER_WORKER__ : new URL('./decoder-worker.js', import.meta.url).href;
const TYPES = { js: 'text/javascript', wasm: 'application/wasm' };
export const FRESH_MS = 1000;
const SIDE = 480; // the viewfinder square is scaled to this: larger frames cost time, read no better

/** The decoder cannot run on this phone now (no native detector, fallback not downloadable). */
export class DecoderUnavailable extends Error {}

let nativeChecked = null;
let fetching = null;
const progressListeners = new Set();

/** @returns {Promise<boolean>} whether the browser's own BarcodeDetector reads QR codes. */
export function hasNative() {
  nativeChecked ??= (async () => {
    if (!('BarcodeDetector' in window)) return false;
    try {
      return (await window.BarcodeDetector.getSupportedFormats()).includes('qr_code');
    } catch {
      return false;
    }
  })();
  return nativeChecked;
}

/**
 * Be told how much of the fallback decoder has arrived.
 * @param {(loaded: number, total: number) => void} listener  bytes, total 0 when unknown
 */
export function onDecoderProgress(listener) {
  progressListeners.add(listener);
  return () => progressListeners.delete(listener);
}

async function vendorCache() {
  return 'caches' in window ? caches.open(VENDOR_CACHE) : null;
}

/** @returns {Promise<boolean>} whether every file of the fallback decoder is in the app's cache. */
export async function decoderCached() {
  const cache = await vendorCache();
  if (!cache) return false;
  const hits = await Promise.all(DECODER_FILES.map((url) => cache.match(url)));
  return hits.every(Boolean);
}

async function download(url, onBytes) {
  const response = await fetch(url);
  if (!response.ok) throw new DecoderUnavailable(`HTTP ${response.status} for ${url}`);
  // Content-Length counts compressed bytes when the server compressed the file; it then tells
  // the real size in X-Decoded-Length.
  const total =
    Number(response.headers.get('X-Decoded-Length')) ||
    (response.headers.get('Content-Encoding') ? 0 : Number(response.headers.get('Content-Length')) || 0);
  const reader = response.body.getReader();
  const chunks = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    onBytes(value.byteLength, total);
  }
  const type = TYPES[url.split('.').pop()];
  return new Response(new Blob(chunks, { type }), { headers: { 'Content-Type': type } });
}

/**
 * Download the fallback decoder into the app's cache, once; nothing to do on a phone with a
 * native detector or when it is cached already. Overlapping calls share one download.
 * @returns {Promise<void>}
 */
export function prefetchDecoder() {
  fetching ??= (async () => {
    if ((await hasNative()) || (await decoderCached())) return;
    const cache = await vendorCache();
    const others = DECODER_FILES.filter((url) => url !== WASM_URL);
    let loaded = 0;
    const tick = (bytes, total) => {
      loaded += bytes;
      for (const listener of progressListeners) listener(loaded, total);
    };
    const wasm = await download(WASM_URL, tick);
    const scripts = await Promise.all(others.map((url) => download(url, () => {})));
    if (cache) {
      await cache.put(WASM_URL, wasm);
      await Promise.all(scripts.map((response, i) => cache.put(others[i], response)));
    }
  })().catch((error) => {
    fetching = null;
    throw error instanceof DecoderUnavailable ? error : new DecoderUnavailable(String(error));
  });
  return fetching;
}

/** The centre square of the frame (what the viewfinder shows), scaled down. */
function grabber() {
  const canvas = document.createElement('canvas');
  canvas.width = SIDE;
  canvas.height = SIDE;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  return (video) => {
    const { videoWidth: w, videoHeight: h } = video;
    if (!w || !h) return null;
    const side = Math.min(w, h);
    const size = Math.min(SIDE, side);
    context.drawImage(video, (w - side) / 2, (h - side) / 2, side, side, 0, 0, size, size);
    return context.getImageData(0, 0, size, size);
  };
}

/** Decoding in a Web Worker: the page only grabs the viewfinder square and hands it over. */
async function workerDetector() {
  const worker = new Worker(WORKER_URL, { type: 'module' });
  const waiting = new Map();
  let next = 0;
  worker.addEventListener('message', ({ data }) => {
    const call = waiting.get(data.id);
    waiting.delete(data.id);
    if (data.ok) call?.resolve(data.text ?? null);
    else call?.reject(new Error(data.error));
  });
  worker.addEventListener('error', (event) => {
    for (const call of waiting.values()) call.reject(new Error(event.message || 'decoder worker failed'));
    waiting.clear();
  });
  const call = (message, transfer = []) =>
    new Promise((resolve, reject) => {
      next += 1;
      waiting.set(next, { resolve, reject });
      worker.postMessage({ ...message, id: next }, transfer);
    });
  try {
    await call({ type: 'init' });
  } catch (error) {
    worker.terminate();
    throw error;
  }
  const grab = grabber();
  return async (video) => {
    const image = grab(video);
    if (!image) return null;
    const { buffer } = image.data;
    return call({ type: 'decode', pixels: buffer, width: image.width, height: image.height }, [buffer]);
  };
}

/** Decoding on the page's own thread, where a module worker cannot start. */
async function wasmDetector() {
  let zxing;
  try {
    zxing = await loadDecoder();
  } catch (error) {
    throw new DecoderUnavailable(String(error));
  }
  const grab = grabber();
  return async (video) => {
    const image = grab(video);
    if (!image) return null;
    return readQr(zxing, image);
  };
}

function fresh(detect) {
  return async (video) => {
    const captured = performance.now();
    const text = await detect(video);
    const ms = performance.now() - captured;
    return { text: ms <= FRESH_MS ? text : null, ms };
  };
}

/**
 * The phone's QR decoder. `detect` reads the video's current frame and gives its text (null when
 * none, or when the frame was no longer fresh once read) and how long the decoding took.
 * Rejects with DecoderUnavailable at once when the fallback is needed but cannot be had.
 * @returns {Promise<{kind: 'native'|'wasm', thread: 'worker'|'page', detect: (video: HTMLVideoElement) => Promise<{text: string|null, ms: number}>}>}
 */
export async function createDecoder() {
  if (await hasNative()) {
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    return { kind: 'native', thread: 'page', detect: fresh(async (video) => (await detector.detect(video))[0]?.rawValue ?? null) };
  }
  if (!(await decoderCached()) && navigator.onLine === false) throw new DecoderUnavailable('offline');
  await prefetchDecoder();
  try {
    return { kind: 'wasm', thread: 'worker', detect: fresh(await workerDetector()) };
  } catch {
    return { kind: 'wasm', thread: 'page', detect: fresh(await wasmDetector()) };
  }
}
