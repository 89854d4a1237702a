// A check-in: sign the scan with the phone's key, send it, and keep it in the queue when there
// is no signal. Delivery is retried on the online event, with backoff, and by Background Sync
// in the service worker where the browser has it. The server's idempotency (one record per
// display window) makes a scan delivered twice harmless.

import { CHECKIN_TIMEOUT_MS, Unreachable, request, serverNow } from './api.js';
import { nonce, sign } from './crypto.js';
import { dequeue, enqueue, queued } from './store.js';

const CONTEXT = 'presensi/checkin/v1';
export const SYNC_TAG = 'presensi-checkins';
const BACKOFF_MS = [2000, 5000, 10000, 30000, 60000];

/**
 * @typedef {object} Outcome
 * @property {'ok'|'pending'|'bad'|'queued'} state
 * @property {boolean} [repeat]  the same display window was already recorded
 * @property {object} [record]   the server's check-in body
 * @property {{code: string, message?: string, message_en?: string}} [error]
 */

const listeners = new Set();
let flushing = null;
let retryTimer = null;
let failures = 0;

/**
 * The signed body of POST /api/v1/checkins for a scanned token.
 * @param {{deviceId: string, privateKey: CryptoKey}} device
 * @param {string} token
 */
export async function signScan(device, token) {
  const body = { token, device_id: device.deviceId, client_ts: serverNow(), nonce: nonce() };
  const text = `${CONTEXT}|${token}|${body.device_id}|${body.client_ts}|${body.nonce}`;
  body.signature = await sign(device.privateKey, text);
  return body;
}

/**
 * @param {number} status
 * @param {any} body
 * @returns {Outcome}
 */
export function outcomeOf(status, body) {
  if (status === 200 || status === 201) return { state: 'ok', repeat: status === 200, record: body };
  if (status === 202) return { state: 'pending', record: body };
  return { state: 'bad', error: body?.error ?? { code: `http_${status}` } };
}

async function post(body) {
  const { status, body: answer } = await request('POST', '/api/v1/checkins', {
    body,
    timeout: CHECKIN_TIMEOUT_MS,
  });
  return outcomeOf(status, answer);
}

/**
 * Send a signed scan now, or queue it when the server cannot be reached.
 * @param {object} body  from signScan
 * @returns {Promise<Outcome>}
 */
export async function submit(body) {
  try {
    return await post(body);
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    await enqueue(body);
    await registerSync();
    scheduleRetry();
    notify(null);
    return { state: 'queued' };
  }
}

/**
 * Be told about each queued scan once it is answered (outcome), and when the queue changes (null).
 * @param {(outcome: Outcome|null, count: number) => void} listener
 */
export function onQueue(listener) {
  listeners.add(listener);
}

async function notify(outcome) {
  const count = (await queued()).filter((item) => !item.outcome).length;
  for (const listener of listeners) listener(outcome, count);
}

async function registerSync() {
  try {
    // getRegistration, not ready: `ready` never settles on a phone whose worker is not installed.
    const registration = await navigator.serviceWorker?.getRegistration('/s');
    if (registration?.active) await registration.sync?.register(SYNC_TAG);
  } catch {
    // No Background Sync: the online event and the backoff timer deliver instead.
  }
}

function scheduleRetry() {
  clearTimeout(retryTimer);
  const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
  retryTimer = setTimeout(flush, delay * (0.8 + Math.random() * 0.4));
}

async function flushOnce() {
  for (const item of await queued()) {
    let outcome;
    if (item.outcome) {
      // Delivered by the service worker while this page was closed or busy.
      outcome = outcomeOf(item.outcome.status, item.outcome.body);
    } else {
      try {
        outcome = await post(item.body);
      } catch (error) {
        if (!(error instanceof Unreachable)) throw error;
        failures += 1;
        scheduleRetry();
        return;
      }
    }
    failures = 0;
    await dequeue(item.key);
    await notify(outcome);
  }
}

/** Try to deliver every queued scan now; calls overlap into one run. */
export function flush() {
  flushing ??= flushOnce().finally(() => {
    flushing = null;
  });
  return flushing;
}

/** Deliver what is queued now and whenever the phone gets signal back. */
export function startQueue() {
  window.addEventListener('online', () => {
    failures = 0;
    flush();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') flush();
  });
  navigator.serviceWorker?.addEventListener('message', (event) => {
    if (event.data?.type === 'queue') flush();
  });
  notify(null);
  return flush();
}
