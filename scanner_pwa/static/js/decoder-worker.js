// The fallback QR decoder's Web Worker: ZXing-C++ in WASM runs here, off the page's main
// thread, so a cheap phone's camera preview and buttons stay responsive while it decodes.
// The page (decoder.js) sends the viewfinder square as pixels; the answer is the text or null.

import { loadDecoder, readQr } from './wasm.js';

let ready = null;

function load() {
  ready ??= loadDecoder();
  return ready;
}

self.addEventListener('message', async ({ data }) => {
  try {
    const zxing = await load();
    if (data.type === 'init') return self.postMessage({ id: data.id, ok: true });
    const image = new ImageData(new Uint8ClampedArray(data.pixels), data.width, data.height);
    self.postMessage({ id: data.id, ok: true, text: await readQr(zxing, image) });
  } catch (error) {
    self.postMessage({ id: data.id, ok: false, error: String(error) });
  }
});
