/**
 * Draws the QR code of a URL on a canvas, as large as its box allows.
 * The server sends only the URL text; encoding here keeps the server's work per rotation tiny.
 */
import { encode } from './vendor/uqr.mjs';

/** Modules of white border around the symbol, as the QR standard asks. */
export const QUIET_ZONE = 4;

/**
 * Encode `text` (error correction M) and draw it on `canvas`, scaled to whole device pixels
 * per module so the edges stay sharp, fitting the smaller side of `box`.
 * @param {HTMLCanvasElement} canvas
 * @param {string} text
 * @param {HTMLElement} box the element whose size bounds the code
 * @returns {number} modules per side including the quiet zone
 */
export function drawQr(canvas, text, box) {
  const { size, data } = encode(text, { ecc: 'M', border: QUIET_ZONE });
  const ratio = window.devicePixelRatio || 1;
  const side = Math.min(box.clientWidth, box.clientHeight) * ratio;
  const scale = Math.max(1, Math.floor(side / size));
  const pixels = size * scale;
  canvas.width = pixels;
  canvas.height = pixels;
  canvas.style.width = `${pixels / ratio}px`;
  canvas.style.height = `${pixels / ratio}px`;
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, pixels, pixels);
  context.fillStyle = '#000000';
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      if (data[y][x]) context.fillRect(x * scale, y * scale, scale, scale);
    }
  }
  return size;
}

/**
 * Wipe the canvas so no stale code survives in its pixels while it is hidden.
 * @param {HTMLCanvasElement} canvas
 */
export function clearQr(canvas) {
  canvas.width = 0;
  canvas.height = 0;
}
