// The phone's key: ECDSA P-256 made by WebCrypto with `extractable: false`, so the private key
// can sign but can never be read out of the browser, not even by this app.

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };

/** @returns {boolean} whether this browser can make and keep a non-extractable key. */
export function supported() {
  return Boolean(globalThis.crypto?.subtle && globalThis.indexedDB);
}

/**
 * A new key pair; only the public half can be exported.
 * @returns {Promise<{privateKey: CryptoKey, publicJwk: JsonWebKey}>}
 */
export async function createKey() {
  const pair = await crypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return { privateKey: pair.privateKey, publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
}

/** @param {ArrayBuffer|Uint8Array} bytes @returns {string} base64url without padding */
export function b64url(bytes) {
  let binary = '';
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @returns {string} 16 random bytes, base64url: what the server expects as a nonce. */
export function nonce() {
  return b64url(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * Sign a text; WebCrypto returns the raw r||s (P1363) form the server expects.
 * @param {CryptoKey} privateKey
 * @param {string} text
 * @returns {Promise<string>} base64url signature
 */
export async function sign(privateKey, text) {
  const signature = await crypto.subtle.sign(SIGNING, privateKey, new TextEncoder().encode(text));
  return b64url(signature);
}
