// A check-in: sign the scan with the phone's key, send it, and keep it in the queue when there
// is no signal. A request in flight is never aborted: after CHECKIN_SLOW_MS the page says it is
// still sending and keeps a copy in the queue (locked by this page), but the first request may
// still finish and settle it. Delivery of the queue is retried on the online event, with
// backoff, and by Background Sync in the service worker where the browser has it; a lock in
// IndexedDB (store.js claim) makes exactly one sender deliver each queued scan.

import { CHECKIN_SLOW_MS, CHECKIN_TIMEOUT_MS, Unreachable, request, serverNow } from './api.js';
import { nonce, sign } from './crypto.js';
import { assertText } from './passkey.js';
import { claim, dequeue, enqueue, queued, release } from './store.js';

const CONTEXT = 'presensi/checkin/v1';
export const SYNC_TAG = 'presensi-checkins';
const BACKOFF_MS = [2000, 5000, 10000, 30000, 60000];
// This page's name as a sender of queued scans.
const OWNER = `page-${crypto.getRandomValues(new Uint32Array(2)).join('-')}`;

/**
 * @typedef {object} Outcome
 * @property {'ok'|'pending'|'bad'|'queued'|'sending'} state
 * @property {boolean} [repeat]  the same display window was already recorded
 * @property {number} [sentAt]   a queued scan: when it was delivered (phone time, ms)
 * @property {object} [record]   the server's check-in body
 * @property {{code: string, message?: string, message_en?: string}} [error]
 */

const listeners = new Set();
let flushing = null;
let retryTimer = null;
let failures = 0;

/**
 * The signed body of POST /api/v1/checkins for a scanned token; with a passkey, the owner's
 * assertion over the same text (passkey.js).
 * @param {{deviceId: string, privateKey: CryptoKey, passkey?: import('./passkey.js').Passkey}} device
 * @param {string} token
 */
export async function signScan(device, token) {
  const body = { token, device_id: device.deviceId, client_ts: serverNow(), nonce: nonce() };
  const text = `${CONTEXT}|${token}|${body.device_id}|${body.client_ts}|${body.nonce}`;
  body.signature = await sign(device.privateKey, text);
  if (device.passkey) {
    const assertion = await assertText(device.passkey, text);
    if (assertion) body.assertion = assertion;
  }
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

/** The answer to a queued scan: its first delivery is "sent", not "already recorded". */
function deliveredOutcome(status, body, sentAt) {
  const outcome = outcomeOf(status, body);
  return outcome.state === 'ok' ? { ...outcome, repeat: false, sentAt } : { ...outcome, sentAt };
}

async function queueForLater(body) {
  await enqueue(body);
  await registerSync();
  scheduleRetry();
  notify(null);
  return { state: 'queued' };
}

const SLOW = Symbol('slow');

/**
 * Send a signed scan now, or queue it when the server cannot be reached. A slow answer gives
 * {state: 'sending'} after CHECKIN_SLOW_MS; the real answer then comes to the onQueue listeners.
 * @param {object} body  from signScan
 * @returns {Promise<Outcome>}
 */
export async function submit(body) {
  const attempt = post(body);
  let timer;
  const slow = new Promise((resolve) => {
    timer = setTimeout(() => resolve(SLOW), CHECKIN_SLOW_MS);
  });
  let first;
  try {
    first = await Promise.race([attempt, slow]);
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    return queueForLater(body);
  } finally {
    clearTimeout(timer);
  }
  if (first !== SLOW) return first;
  // Still in flight: keep a copy that only this request may deliver while it runs.
  const key = await enqueue(body, OWNER);
  notify(null);
  attempt.then(
    async (outcome) => {
      await dequeue(key);
      await notify(outcome);
    },
    async () => {
      await release(key, OWNER);
      failures += 1;
      await registerSync();
      scheduleRetry();
      await notify({ state: 'queued' });
    },
  );
  return { state: 'sending' };
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

/** @returns {Promise<Array<{key: number, body: object, queuedAt: number}>>} scans not yet delivered */
export async function waiting() {
  return (await queued()).filter((item) => !item.outcome);
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
      outcome = deliveredOutcome(item.outcome.status, item.outcome.body, item.outcome.at);
    } else {
      // Another sender (the service worker, another tab, a request still in flight) has it.
      if (!(await claim(item.key, OWNER))) continue;
      try {
        const { status, body } = await request('POST', '/api/v1/checkins', {
          body: item.body,
          timeout: CHECKIN_TIMEOUT_MS,
        });
        outcome = deliveredOutcome(status, body, Date.now());
      } catch (error) {
        await release(item.key, OWNER);
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
