// The scanner's service worker (scope /s). The server fills in VERSION and SHELL from the files
// on disk (scanner_pwa/routes.py), so each release installs a fresh cache.
//
// - The app shell is precached and served cache-first: a repeat visit opens with no network.
// - The fallback QR decoder (vendor/) is put in its cache by the page (static/js/decoder.js)
//   once the first screen is up, and by this worker when it passes through.
// - Other pages in scope fall back to the offline page when there is no network.
// - The API is never cached or intercepted. Background Sync delivers queued, already signed
//   scans from IndexedDB (the same database as static/js/store.js) when the page is closed.

const VERSION = "__VERSION__";
const SHELL = ["__SHELL__"];
const CACHE = `presensi-scanner-${VERSION}`;
const VENDOR_CACHE = 'presensi-scanner-vendor';
const SYNC_TAG = 'presensi-checkins';

// The page has just loaded the hashed bundle (immutable for a year): take it from the HTTP
// cache rather than download the app a second time. Other files are revalidated (a 304).
const HASHED = /\/dist\/.+-[0-9a-f]{12}\.\w+$/;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) =>
        cache.addAll(SHELL.map((url) => new Request(url, { cache: HASHED.test(url) ? 'default' : 'no-cache' }))),
      )
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith('presensi-scanner-') && name !== CACHE && name !== VENDOR_CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

async function shellFirst(request) {
  const cached = await caches.match(request, { ignoreSearch: request.mode === 'navigate' });
  return cached || fetch(request);
}

async function vendor(request) {
  const cache = await caches.open(VENDOR_CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function page(request) {
  try {
    return await fetch(request);
  } catch (error) {
    return (await caches.match('/s/offline')) || Promise.reject(error);
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/s/static/vendor/')) {
    event.respondWith(vendor(request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(shellFirst(request));
  } else if (request.mode === 'navigate' && (url.pathname === '/s' || url.pathname.startsWith('/s/'))) {
    event.respondWith(page(request));
  }
});

// -- Background Sync: deliver queued scans -------------------------------------------------

function openQueue() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('presensi', 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains('device')) db.createObjectStore('device');
      if (!db.objectStoreNames.contains('queue')) db.createObjectStore('queue', { autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function pendingItems(db) {
  return new Promise((resolve, reject) => {
    const items = [];
    const tx = db.transaction('queue', 'readonly');
    tx.objectStore('queue').openCursor().onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor) return;
      if (!cursor.value.outcome) items.push({ key: cursor.key, value: cursor.value });
      cursor.continue();
    };
    tx.oncomplete = () => resolve(items);
    tx.onerror = () => reject(tx.error);
  });
}

// The same lock as static/js/store.js: exactly one sender delivers each queued scan.
const OWNER = 'service-worker';
const LOCK_MS = 150000;

function update(db, key, change) {
  return new Promise((resolve, reject) => {
    let result = false;
    const tx = db.transaction('queue', 'readwrite');
    const store = tx.objectStore('queue');
    // The page may have delivered and removed it meanwhile: never bring it back.
    store.get(key).onsuccess = (event) => {
      const item = event.target.result;
      const next = item && change(item, Date.now());
      if (next) {
        store.put(next, key);
        result = true;
      }
    };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
  });
}

const claim = (db, key) =>
  update(db, key, (item, now) =>
    item.outcome || (item.lock && item.lock.owner !== OWNER && item.lock.until > now)
      ? null
      : { ...item, lock: { owner: OWNER, until: now + LOCK_MS } },
  );
const release = (db, key) =>
  update(db, key, (item) => (item.lock?.owner === OWNER ? { ...item, lock: null } : null));
const recordOutcome = (db, key, outcome) => update(db, key, (item) => ({ ...item, outcome, lock: null }));

async function deliverQueued() {
  const db = await openQueue();
  let busy = false;
  for (const { key, value } of await pendingItems(db)) {
    if (!(await claim(db, key))) {
      busy = true; // another sender has it now
      continue;
    }
    let response;
    try {
      response = await fetch('/api/v1/checkins', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(value.body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (error) {
      await release(db, key);
      throw error; // the browser retries the sync later, with its own backoff
    }
    if (response.status >= 500) {
      await release(db, key);
      throw new Error(`server answered ${response.status}`);
    }
    const body = await response.json().catch(() => null);
    await recordOutcome(db, key, { status: response.status, body, at: Date.now() });
  }
  for (const client of await self.clients.matchAll({ type: 'window' })) client.postMessage({ type: 'queue' });
  // Left to a sender that may vanish: have the browser call again later.
  if (busy) throw new Error('a queued scan is being sent by another sender');
}

self.addEventListener('sync', (event) => {
  if (event.tag === SYNC_TAG) event.waitUntil(deliverQueued());
});
