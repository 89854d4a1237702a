// Talking to the server, and the server's clock, which is the only clock that counts for
// check-ins. A check-in is never cut short while the link is merely slow: after CHECKIN_SLOW_MS
// the page says it is still sending and keeps a copy queued; only a request that has run for
// CHECKIN_TIMEOUT_MS (a connection the network silently dropped) is given up.

const CLOCK_KEY = 'presensi.clockOffset';
export const CHECKIN_SLOW_MS = 6000;
export const CHECKIN_TIMEOUT_MS = 120000;
const DEFAULT_TIMEOUT_MS = 10000;

/** Thrown when the server could not be reached (no signal, timeout, or a server failure). */
export class Unreachable extends Error {}

let offset = readOffset();

function readOffset() {
  try {
    return Number(localStorage.getItem(CLOCK_KEY)) || 0;
  } catch {
    return 0;
  }
}

/** @returns {number} the phone's best estimate of the server's time, in unix milliseconds. */
export function serverNow() {
  return Math.round(Date.now() + offset);
}

/**
 * Learn the difference between the phone's clock and the server's; kept for offline scans.
 * @returns {Promise<boolean>} whether the clock could be synced now
 */
export async function syncClock() {
  const sent = Date.now();
  try {
    const { status, body } = await request('GET', '/api/v1/time', { timeout: 4000 });
    if (status !== 200) return false;
    const received = Date.now();
    offset = body.server_time * 1000 - (sent + received) / 2;
    localStorage.setItem(CLOCK_KEY, String(Math.round(offset)));
    return true;
  } catch {
    return false;
  }
}

/**
 * One JSON request. Resolves with any HTTP answer below 500; rejects with Unreachable otherwise.
 * @param {string} method
 * @param {string} path
 * @param {{body?: object, headers?: Record<string, string>, timeout?: number}} [options]
 * @returns {Promise<{status: number, body: any}>}
 */
export async function request(method, path, { body, headers = {}, timeout = DEFAULT_TIMEOUT_MS } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body ? { 'Content-Type': 'application/json', ...headers } : headers,
      body: body ? JSON.stringify(body) : undefined,
      signal: controller.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
    if (response.status >= 500) throw new Unreachable(`HTTP ${response.status}`);
    return { status: response.status, body: await response.json().catch(() => null) };
  } catch (error) {
    throw error instanceof Unreachable ? error : new Unreachable(String(error));
  } finally {
    clearTimeout(timer);
  }
}
