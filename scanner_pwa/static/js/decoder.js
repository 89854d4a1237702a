// QR decoding: the browser's BarcodeDetector when it reads qr_code (Chrome on Android), otherwise
// ZXing-C++ compiled to WASM (npm zxing-wasm, chosen by measurement: docs/qr-decoders.md), loaded
// only then, from this server; its default locateFile would reach for a CDN.

const VENDOR = '/s/static/vendor/zxing-wasm';
const MAX_SIDE = 960; // larger frames cost time and do not read better

async function nativeDetector() {
  if (!('BarcodeDetector' in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    if (!formats.includes('qr_code')) return null;
  } catch {
    return null;
  }
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  return async (video) => (await detector.detect(video))[0]?.rawValue ?? null;
}

async function wasmDetector() {
  const zxing = await import(`${VENDOR}/es/reader/index.js`);
  zxing.prepareZXingModule({
    overrides: {
      locateFile: (path, prefix) =>
        path.endsWith('.wasm') ? `${VENDOR}/reader/zxing_reader.wasm` : prefix + path,
    },
    fireImmediately: true,
  });
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', { willReadFrequently: true });
  return async (video) => {
    const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    if (!canvas.width || !canvas.height) return null;
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    const [hit] = await zxing.readBarcodes(image, {
      formats: ['QRCode'],
      tryHarder: true,
      maxNumberOfSymbols: 1,
    });
    return hit?.isValid ? hit.text : null;
  };
}

/**
 * A function that returns the text of the QR code in the video's current frame, or null.
 * @returns {Promise<{kind: 'native'|'wasm', detect: (video: HTMLVideoElement) => Promise<string|null>}>}
 */
export async function createDecoder() {
  const native = await nativeDetector();
  if (native) return { kind: 'native', detect: native };
  return { kind: 'wasm', detect: await wasmDetector() };
}
