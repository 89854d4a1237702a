// The fallback QR decoder's Web Worker: ZXing-C++ in WASM runs here, off the page's main
// thread, so a cheap phone's camera preview and buttons stay responsive while it decodes.
// The page (decoder.js) sends the viewfinder square as pixels; the answer is the text or null.

import { MODULE_URL, WASM_URL, instantiate } from './wasm.js';

let ready = null;

function load() {
  ready ??= import(MODULE_URL).then(async (zxing) => {
    await zxing.prepareZXingModule({
      overrides: {
        locateFile: (path, prefix) => (path.endsWith('.wasm') ? WASM_URL : prefix + path),
        instantiateWasm(imports, receive) {
          instantiate(imports).then(({ instance, module }) => receive(instance, module));
          return {};
        },
      },
      fireImmediately: true,
    });
    return zxing;
  });
  return ready;
}

self.addEventListener('message', async ({ data }) => {
  try {
    const zxing = await load();
    if (data.type === 'init') return self.postMessage({ id: data.id, ok: true });
    const image = new ImageData(new Uint8ClampedArray(data.pixels), data.width, data.height);
    const [hit] = await zxing.readBarcodes(image, { formats: ['QRCode'], tryHarder: true, maxNumberOfSymbols: 1 });
    self.postMessage({ id: data.id, ok: true, text: hit?.isValid ? hit.text : null });
  } catch (error) {
    self.postMessage({ id: data.id, ok: false, error: String(error) });
  }
});
