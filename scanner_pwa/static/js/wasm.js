// Where the fallback decoder lives and how its WASM is compiled: from the app's own cache
// (decoder.js puts it there), streaming, so it works offline and never reaches for a CDN.
// Shared by the page and the decoder's Web Worker.

const VENDOR = '/s/static/vendor/zxing-wasm';
export const VENDOR_CACHE = 'presensi-scanner-vendor'; // the same name as in sw.js
export const MODULE_URL = `${VENDOR}/es/reader/index.js`;
export const WASM_URL = `${VENDOR}/reader/zxing_reader.wasm`;
export const DECODER_FILES = [MODULE_URL, `${VENDOR}/es/share.js`, WASM_URL];

async function wasmResponse() {
  const cache = 'caches' in self ? await caches.open(VENDOR_CACHE) : null;
  return (await cache?.match(WASM_URL)) ?? fetch(WASM_URL);
}

/** WebAssembly.instantiate the decoder with Emscripten's imports. */
export async function instantiate(imports) {
  const response = await wasmResponse();
  try {
    return await WebAssembly.instantiateStreaming(response.clone(), imports);
  } catch {
    return WebAssembly.instantiate(await response.arrayBuffer(), imports);
  }
}

/**
 * Import the decoder module and wait until its WASM is compiled from the app's cache, so no
 * frame waits for it. Resolves to the module (readBarcodes).
 */
export async function loadDecoder() {
  const zxing = await import(MODULE_URL);
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
}

/** The text of the first valid QR code in an ImageData, or null. */
export async function readQr(zxing, image) {
  const [hit] = await zxing.readBarcodes(image, { formats: ['QRCode'], tryHarder: true, maxNumberOfSymbols: 1 });
  return hit?.isValid ? hit.text : null;
}

