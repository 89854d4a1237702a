// "Kegiatan": the daily activity diary. Days are edited as drafts kept in IndexedDB, so they
// work without signal; "submit" marks the day to be sent, and it goes as a whole
// (PUT /api/v1/me/activities/<date>) as soon as the phone is online, signed at that moment so
// the signature is fresh. Returned days come back editable with the supervisor's note.

import { Unreachable, serverNow } from './api.js';
import { b64url, nonce, sign } from './crypto.js';
import { errorText, language, t } from './strings.js';

const DB_NAME = 'presensi-kegiatan';
const STORE = 'days';
const EDITABLE = new Set(['local', 'draft', 'returned']);
const TIMEOUT_MS = 15000;

const els = {
  date: document.getElementById('diary-date'),
  state: document.getElementById('diary-state'),
  note: document.getElementById('diary-note'),
  entries: document.getElementById('diary-entries'),
  form: document.getElementById('diary-form'),
  start: document.getElementById('diary-start'),
  end: document.getElementById('diary-end'),
  description: document.getElementById('diary-description'),
  quantity: document.getElementById('diary-quantity'),
  unit: document.getElementById('diary-unit'),
  target: document.getElementById('diary-target'),
  targets: document.getElementById('diary-targets'),
  error: document.getElementById('diary-error'),
  submit: document.getElementById('diary-submit'),
  days: document.getElementById('diary-days'),
};

let device = null;
let current = null; // the shown day: {date, entries, status, note, minutes, pending}
let flushing = null;

// -- storage --------------------------------------------------------------------------------

let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'date' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => {
      opening = null;
      reject(req.error);
    };
  });
  return opening;
}

async function run(mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req?.result);
    tx.onerror = () => reject(tx.error);
  });
}

const load = (date) => run('readonly', (s) => s.get(date));
const save = (day) => run('readwrite', (s) => s.put(day));
const all = () => run('readonly', (s) => s.getAll());

// -- signed requests ------------------------------------------------------------------------

async function sha256(text) {
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/**
 * One request signed now by the phone's key (backend/me.py), with the body bound by its hash.
 * @returns {Promise<{status: number, body: any}>}
 */
async function signed(method, path, bodyText = '') {
  const ts = serverNow();
  const n = nonce();
  let text = `presensi/me/v1|${method} ${path.split('?')[0]}|${device.deviceId}|${ts}|${n}`;
  if (bodyText) text += `|${await sha256(bodyText)}`;
  const headers = { Authorization: `Presensi-Device ${device.deviceId}.${ts}.${n}.${await sign(device.privateKey, text)}` };
  if (bodyText) headers['Content-Type'] = 'application/json';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(path, {
      method,
      headers,
      body: bodyText || undefined,
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

// -- the day on screen ----------------------------------------------------------------------

function today() {
  const now = new Date(serverNow());
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

function minutesOf(entries) {
  const mins = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  return entries.reduce((sum, e) => sum + mins(e.end) - mins(e.start), 0);
}

function note(el, text) {
  el.textContent = text ?? '';
  el.hidden = !text;
}

function render() {
  const day = current;
  const editable = EDITABLE.has(day.status) && !day.pending;
  document.body.dataset.diaryStatus = day.pending ? 'pending' : day.status;
  let state = `${t(`diary_status_${day.status}`)} · ${t('diary_minutes', { minutes: minutesOf(day.entries) })}`;
  if (day.pending) state = navigator.onLine === false ? t('diary_waiting') : t('diary_sending');
  els.state.textContent = state;
  note(els.note, day.note && day.status === 'returned' ? t('diary_note', { note: day.note }) : null);
  els.entries.replaceChildren(
    ...day.entries.map((entry, index) => {
      const li = document.createElement('li');
      const line = document.createElement('span');
      line.textContent = `${entry.start}–${entry.end} · ${entry.description} · ${entry.output_quantity} ${entry.output_unit}`;
      li.append(line);
      if (editable) {
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.textContent = t('diary_remove');
        remove.addEventListener('click', () => edit((entries) => entries.splice(index, 1)));
        li.append(remove);
      }
      return li;
    }),
  );
  if (!day.entries.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = t('diary_empty');
    els.entries.append(li);
  }
  els.form.hidden = !editable;
  els.submit.hidden = !editable;
  els.submit.disabled = !day.entries.length;
}

// One diary operation at a time: a day being (re)loaded after a date change must not interleave
// with an entry being added on a slow phone, or the reload would drop the new entry.
let queue = Promise.resolve();
function serial(fn) {
  const run = queue.then(fn, fn);
  queue = run.catch(() => null);
  return run;
}

async function showDay(date) {
  els.date.value = date;
  current = (await load(date)) ?? { date, entries: [], status: 'local', note: '', pending: false };
  note(els.error, null);
  render();
}

async function edit(change) {
  const entries = [...current.entries];
  change(entries);
  entries.sort((a, b) => a.start.localeCompare(b.start));
  const status = current.status === 'returned' ? 'returned' : 'local';
  current = { ...current, entries, status, edited: true };
  await save(current);
  render();
  await listMonth();
}

function addEntry(event) {
  event.preventDefault();
  return serial(addEntryNow);
}

async function addEntryNow() {
  const entry = {
    start: els.start.value,
    end: els.end.value,
    description: els.description.value.trim(),
    output_quantity: Number(els.quantity.value),
    output_unit: els.unit.value.trim(),
  };
  if (els.target.value.trim()) entry.target_id = els.target.value.trim();
  const complete = entry.start && entry.end && entry.description.length >= 10 && entry.output_unit;
  if (!complete || !(entry.output_quantity > 0)) return note(els.error, t('diary_incomplete'));
  note(els.error, null);
  await edit((entries) => entries.push(entry));
  els.form.reset();
  note(els.state, `${els.state.textContent} · ${t('diary_saved_local')}`);
}

function submitDay() {
  return serial(submitDayNow);
}

async function submitDayNow() {
  current = { ...current, pending: true };
  await save(current);
  render();
  await flush();
}

// -- delivery -------------------------------------------------------------------------------

/**
 * Send every day marked for submission; stops at the first sign of no signal.
 * @param {{deviceId: string, privateKey: CryptoKey}|null} [owner]
 */
export function flush(owner = null) {
  if (owner) device = owner;
  flushing ??= deliver().finally(() => {
    flushing = null;
  });
  return flushing;
}

async function deliver() {
  if (!device) return;
  const waiting = (await all()).filter((day) => day.pending);
  for (const day of waiting) {
    const path = `/api/v1/me/activities/${day.date}`;
    const body = JSON.stringify({ entries: day.entries, submit: true });
    let answer;
    try {
      answer = await signed('PUT', path, body);
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      break; // still no signal: the 'online' event tries again
    }
    const stored = { ...day, pending: false };
    if (answer.status === 200) {
      stored.status = answer.body.status;
      stored.note = '';
      stored.edited = false;
    }
    await save(stored);
    if (current?.date === day.date) {
      current = stored;
      render();
      if (answer.status !== 200) note(els.error, errorText(answer.body?.error ?? { code: `http_${answer.status}` }));
    }
  }
  if (current) render();
  await listMonth();
}

// -- the month ------------------------------------------------------------------------------

async function refreshMonth(month) {
  let answer;
  try {
    answer = await signed('GET', `/api/v1/me/activities?month=${month}`);
  } catch (error) {
    if (error instanceof Unreachable) return null;
    throw error;
  }
  if (answer.status !== 200) return answer.body?.error ?? { code: `http_${answer.status}` };
  els.targets.replaceChildren(
    ...answer.body.target_ids.map((id) => Object.assign(document.createElement('option'), { value: id })),
  );
  for (const day of answer.body.days) {
    const local = await load(day.date);
    // A day edited on the phone and not sent yet stays as the phone has it.
    if (local && (local.pending || local.edited)) continue;
    const entries = day.entries.map(({ target_id: target, ...rest }) => (target ? { ...rest, target_id: target } : rest));
    await save({ date: day.date, entries, status: day.status, note: day.note, pending: false });
  }
  return null;
}

async function listMonth() {
  const month = (els.date.value || today()).slice(0, 7);
  const days = (await all()).filter((day) => day.date.startsWith(month)).sort((a, b) => b.date.localeCompare(a.date));
  const locale = language() === 'en' ? 'en-GB' : 'id-ID';
  els.days.replaceChildren(
    ...days.map((day) => {
      const li = document.createElement('li');
      li.dataset.date = day.date;
      li.dataset.status = day.pending ? 'pending' : day.status;
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'link-dark';
      const label = new Date(`${day.date}T12:00:00`).toLocaleDateString(locale, { weekday: 'short', day: 'numeric', month: 'short' });
      open.textContent = `${label} · ${day.pending ? t('diary_waiting') : t(`diary_status_${day.status}`)}`;
      open.addEventListener('click', () => showDay(day.date));
      li.append(open);
      return li;
    }),
  );
}

/**
 * Open the diary on today's date (or the one already shown) for this phone's owner.
 * @param {{deviceId: string, privateKey: CryptoKey}} owner
 * @returns {Promise<{code: string}|null>} the server's refusal, if any
 */
export function showDiary(owner) {
  return serial(async () => {
    device = owner;
    const date = els.date.value || today();
    await showDay(date);
    await listMonth();
    await flush();
    const refusal = await refreshMonth(date.slice(0, 7));
    await showDay(els.date.value);
    await listMonth();
    document.body.dataset.diaryDay = els.date.value;
    return refusal;
  });
}

/** Wire the diary screen's controls once. */
export function setUpDiary() {
  els.form.addEventListener('submit', addEntry);
  els.submit.addEventListener('click', submitDay);
  els.date.addEventListener('change', () => serial(async () => {
    delete document.body.dataset.diaryDay;
    if (!els.date.value) return;
    await showDay(els.date.value);
    if (device) await refreshMonth(els.date.value.slice(0, 7));
    await showDay(els.date.value);
    await listMonth();
    document.body.dataset.diaryDay = els.date.value; // loaded: tests wait for this
  }));
  window.addEventListener('online', () => flush());
}
