// IndexedDB: the phone's enrolment (with its non-extractable private key) and the queue of
// signed scans waiting for signal. The service worker (sw.js) opens the same database to
// deliver queued scans with Background Sync, so the names here are shared with it.

const DB_NAME = 'presensi';
const DB_VERSION = 1;
const DEVICE = 'device';
const QUEUE = 'queue';
const SELF = 'self';

let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(DEVICE)) db.createObjectStore(DEVICE);
      if (!db.objectStoreNames.contains(QUEUE)) db.createObjectStore(QUEUE, { autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => {
      opening = null;
      reject(request.error);
    };
  });
  return opening;
}

async function run(store, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const request = work(tx.objectStore(store));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/**
 * @typedef {object} Device
 * @property {string} deviceId
 * @property {string} nip
 * @property {string} name
 * @property {CryptoKey} privateKey  non-extractable; IndexedDB keeps the key object itself
 */

/** @returns {Promise<Device|undefined>} this phone's enrolment, if any. */
export function loadDevice() {
  return run(DEVICE, 'readonly', (s) => s.get(SELF));
}

/** @param {Device} device */
export function saveDevice(device) {
  return run(DEVICE, 'readwrite', (s) => s.put(device, SELF));
}

/** Forget the enrolment (the server refused the key, so a new enrolment is needed). */
export function forgetDevice() {
  return run(DEVICE, 'readwrite', (s) => s.delete(SELF));
}

/**
 * Keep a signed check-in until it can be delivered.
 * @param {object} body  the exact JSON body of POST /api/v1/checkins
 * @param {string|null} [owner]  a sender already delivering it (its lock is taken at once)
 * @returns {Promise<number>} the queue entry's key
 */
export function enqueue(body, owner = null) {
  const lock = owner ? { owner, until: Date.now() + LOCK_MS } : null;
  return run(QUEUE, 'readwrite', (s) => s.add({ body, queuedAt: Date.now(), outcome: null, lock }));
}

/** @returns {Promise<Array<{key: number, body: object, queuedAt: number, outcome: object|null}>>} */
export async function queued() {
  const db = await open();
  return new Promise((resolve, reject) => {
    const items = [];
    const tx = db.transaction(QUEUE, 'readonly');
    tx.objectStore(QUEUE).openCursor().onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor) return;
      items.push({ key: cursor.key, ...cursor.value });
      cursor.continue();
    };
    tx.oncomplete = () => resolve(items);
    tx.onerror = () => reject(tx.error);
  });
}

/** @param {number} key */
export function dequeue(key) {
  return run(QUEUE, 'readwrite', (s) => s.delete(key));
}

// Exactly one sender (this page, another tab, or the service worker) delivers a queued scan:
// it takes the entry's lock in one IndexedDB transaction first. A lock outlives the longest
// request (LOCK_MS), so a sender that vanished mid-request lets the others try again later.
// sw.js implements the same protocol on the same database.
export const LOCK_MS = 150000;

/**
 * Take the lock of a queued scan for `owner`.
 * @param {number} key
 * @param {string} owner
 * @returns {Promise<boolean>} false when it is delivered, gone, or another sender holds it
 */
export async function claim(key, owner) {
  let taken = false;
  await run(QUEUE, 'readwrite', (s) => {
    const request = s.get(key);
    request.onsuccess = () => {
      const item = request.result;
      const now = Date.now();
      if (!item || item.outcome || (item.lock && item.lock.owner !== owner && item.lock.until > now)) return;
      s.put({ ...item, lock: { owner, until: now + LOCK_MS } }, key);
      taken = true;
    };
    return null;
  });
  return taken;
}

/**
 * Give the lock back without an answer (the server could not be reached).
 * @param {number} key
 * @param {string} owner
 */
export function release(key, owner) {
  return run(QUEUE, 'readwrite', (s) => {
    const request = s.get(key);
    request.onsuccess = () => {
      const item = request.result;
      if (item?.lock?.owner === owner) s.put({ ...item, lock: null }, key);
    };
    return null;
  });
}

// Requests for the supervisor (selfservice.js) waiting for signal: kept unsigned in the device
// store (one list under OUTBOX), because a phone request's signature is fresh for only
// ±120 s; each is signed when it is finally sent.
const OUTBOX = 'outbox';

/** @returns {Promise<Array<object>>} the unsent requests, oldest first */
export async function loadOutbox() {
  return (await run(DEVICE, 'readonly', (s) => s.get(OUTBOX))) ?? [];
}

/** @param {Array<object>} items */
export function saveOutbox(items) {
  return run(DEVICE, 'readwrite', (s) => s.put(items, OUTBOX));
}
