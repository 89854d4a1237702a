// "Pengajuan" (my requests to my supervisor), "Persetujuan" (what waits for my decision) and
// the inbox. Every call is signed by the phone's key at the moment it is sent: the signed text
// binds the body by its SHA-256 and is fresh for ±120 s, so a request made without signal is
// queued unsigned (with its photo) in IndexedDB and signed when the signal is back.

import { Unreachable, request, serverNow } from './api.js';
import { b64url, nonce, sign } from './crypto.js';
import { loadOutbox, saveOutbox } from './store.js';
import { errorText, language, t } from './strings.js';

const els = {
  profile: document.getElementById('req-profile'),
  balance: document.getElementById('req-balance'),
  form: document.getElementById('req-form'),
  kind: document.getElementById('req-kind'),
  correction: document.getElementById('req-correction'),
  absence: document.getElementById('req-absence'),
  date: document.getElementById('req-date'),
  scan: document.getElementById('req-scan'),
  time: document.getElementById('req-time'),
  start: document.getElementById('req-start'),
  end: document.getElementById('req-end'),
  reference: document.getElementById('req-reference'),
  photo: document.getElementById('req-photo'),
  reason: document.getElementById('req-reason'),
  submit: document.getElementById('req-submit'),
  message: document.getElementById('req-message'),
  outbox: document.getElementById('req-outbox'),
  list: document.getElementById('req-list'),
  inbox: document.getElementById('req-inbox'),
  approvals: document.getElementById('appr-list'),
  approvalsStatus: document.getElementById('appr-status'),
  openApprovals: document.getElementById('open-approvals'),
};

const encoder = new TextEncoder();

async function bodyHash(bytes) {
  return b64url(await crypto.subtle.digest('SHA-256', bytes));
}

/**
 * One signed /api/v1/me request, signed now.
 * @param {{deviceId: string, privateKey: CryptoKey}} device
 * @param {string} method
 * @param {string} path
 * @param {{json?: object, blob?: Blob}} [payload]
 * @returns {Promise<{status: number, body: any}>} rejects with Unreachable without signal
 */
export async function signedRequest(device, method, path, { json, blob } = {}) {
  let bytes = null;
  let type = null;
  if (json !== undefined) {
    bytes = encoder.encode(JSON.stringify(json));
    type = 'application/json';
  } else if (blob) {
    bytes = new Uint8Array(await blob.arrayBuffer());
    type = blob.type;
  }
  const ts = serverNow();
  const n = nonce();
  let text = `presensi/me/v1|${method} ${path}|${device.deviceId}|${ts}|${n}`;
  if (bytes && bytes.length) text += `|${await bodyHash(bytes)}`;
  const headers = { Authorization: `Presensi-Device ${device.deviceId}.${ts}.${n}.${await sign(device.privateKey, text)}` };
  if (type) headers['Content-Type'] = type;
  let response;
  try {
    response = await fetch(path, { method, headers, body: bytes ?? undefined, cache: 'no-store', credentials: 'omit' });
  } catch (error) {
    throw new Unreachable(String(error));
  }
  if (response.status >= 500) throw new Unreachable(`HTTP ${response.status}`);
  return { status: response.status, body: await response.json().catch(() => null) };
}

function refusal(answer) {
  return answer.body?.error ?? { code: `http_${answer.status}` };
}

function say(text, kind = '') {
  els.message.textContent = text ?? '';
  els.message.className = kind;
  els.message.hidden = !text;
}

function dayText(iso) {
  if (!iso) return '';
  const locale = language() === 'en' ? 'en-GB' : 'id-ID';
  return new Date(`${iso.slice(0, 10)}T12:00:00`).toLocaleDateString(locale, { day: 'numeric', month: 'short' });
}

function describe(item) {
  const what = item.kind === 'correction' ? t(`req_correction_${item.scan}`) : t(`absence_${item.absence}`);
  const when = item.kind === 'correction' ? dayText(item.date) : `${dayText(item.start_date)}–${dayText(item.end_date)}`;
  return `${what} · ${when}`;
}

function li(text, className = '') {
  const el = document.createElement('li');
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

// -- sending, now or later ----------------------------------------------------------------

/** Send one queued request (its photo first); true when the server answered. */
async function deliver(device, item) {
  let body = item.body;
  if (item.photo) {
    const up = await signedRequest(device, 'POST', '/api/v1/me/attachments', { blob: item.photo });
    if (up.status !== 201) return { done: true, error: refusal(up) };
    body = { ...body, attachment_id: up.body.attachment_id };
  }
  const answer = await signedRequest(device, 'POST', '/api/v1/me/requests', { json: body });
  return answer.status === 201 ? { done: true, result: answer.body } : { done: true, error: refusal(answer) };
}

/**
 * Send what waits in the outbox; keeps what still cannot be sent.
 * @returns {Promise<Array<{error?: object, result?: object}>>} the answers of those sent
 */
export async function flushOutbox(device) {
  const items = await loadOutbox();
  const left = [];
  const answers = [];
  for (const item of items) {
    try {
      answers.push(await deliver(device, item));
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      left.push(item);
    }
  }
  if (left.length !== items.length) await saveOutbox(left);
  return answers;
}

async function showOutbox() {
  const items = await loadOutbox().catch(() => []);
  els.outbox.replaceChildren(...items.map((item) => li(`${describe(item.body)} · ${t('req_waiting_signal')}`, 'muted')));
  els.outbox.hidden = !items.length;
}

function formBody() {
  const kind = els.kind.value;
  const reason = els.reason.value.trim();
  if (kind === 'correction') {
    const date = els.date.value;
    const time = els.time.value;
    if (!date || !time) return null;
    // The phone's offset at that date, written as +HH:MM, so the server knows the instant.
    const local = new Date(`${date}T${time}:00`);
    const minutes = -local.getTimezoneOffset();
    const sign = minutes >= 0 ? '+' : '-';
    const hh = String(Math.floor(Math.abs(minutes) / 60)).padStart(2, '0');
    const mm = String(Math.abs(minutes) % 60).padStart(2, '0');
    return { kind: 'correction', date, scan: els.scan.value, at: `${date}T${time}:00${sign}${hh}:${mm}`, reason };
  }
  const body = { kind: 'absence', absence: kind, start_date: els.start.value, end_date: els.end.value || els.start.value, reason };
  if (!body.start_date) return null;
  if (els.reference.value.trim()) body.reference = els.reference.value.trim();
  return body;
}

function syncForm() {
  const correction = els.kind.value === 'correction';
  els.correction.hidden = !correction;
  els.absence.hidden = correction;
}

async function submitRequest(device, event) {
  event.preventDefault();
  const body = formBody();
  if (!body || !body.reason) return say(t('req_missing'), 'error');
  const photo = els.photo.files?.[0] ?? null;
  const item = { body, photo, queuedAt: Date.now() };
  els.submit.disabled = true;
  try {
    let outcome;
    try {
      outcome = await deliver(device, item);
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      await saveOutbox([...(await loadOutbox()), item]);
      say(t('req_queued'), 'note');
      await showOutbox();
      return;
    }
    if (outcome.error) return say(errorText(outcome.error), 'error');
    say(t('req_sent', { name: outcome.result.approver.name }), 'ok');
    els.form.reset();
    syncForm();
    await showRequests(device, { keepMessage: true });
  } finally {
    els.submit.disabled = false;
  }
}

// -- showing ------------------------------------------------------------------------------

function requestRow(device, item) {
  const row = li('');
  row.dataset.requestId = String(item.request_id);
  row.dataset.status = item.status;
  const title = document.createElement('strong');
  title.textContent = describe(item);
  const status = document.createElement('span');
  status.className = `status ${item.status}`;
  const holder = item.status === 'pending' ? ` · ${t('req_held_by', { name: item.holder.name })}` : '';
  status.textContent = `${t(`req_status_${item.status}`)}${holder}`;
  row.append(title, document.createElement('br'), status);
  if (item.status === 'pending') {
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'link danger';
    cancel.textContent = t('req_cancel');
    cancel.addEventListener('click', async () => {
      cancel.disabled = true;
      try {
        const answer = await signedRequest(device, 'POST', `/api/v1/me/requests/${item.request_id}/cancel`);
        if (answer.status !== 200) say(errorText(refusal(answer)), 'error');
      } catch {
        say(t('req_offline'), 'error');
      }
      await showRequests(device);
    });
    row.append(' ', cancel);
  }
  return row;
}

function inboxRow(item) {
  return li(t(`inbox_${item.kind}`, { name: item.employee?.name ?? '', status: item.status ? t(`req_status_${item.status}`) : '' }));
}

/**
 * Fill the Pengajuan screen: balance, my requests, my inbox.
 * @returns {Promise<{code: string}|null>} the server's refusal, if any
 */
export async function showRequests(device, { keepMessage = false } = {}) {
  if (!keepMessage) say(null);
  syncForm();
  await flushOutbox(device).catch(() => null);
  await showOutbox();
  try {
    const profile = await signedRequest(device, 'GET', '/api/v1/me');
    if (profile.status !== 200) return refusal(profile);
    const { employee, leave, supervises } = profile.body;
    const annual = leave.cuti_tahunan;
    els.profile.textContent = employee.supervisor
      ? t('req_supervisor', { name: employee.supervisor.name })
      : t('req_no_supervisor');
    els.balance.textContent = t('req_balance', { remaining: annual.remaining, entitled: annual.entitled });
    els.openApprovals.hidden = !supervises;
    const mine = await signedRequest(device, 'GET', '/api/v1/me/requests');
    if (mine.status === 200) els.list.replaceChildren(...mine.body.requests.map((item) => requestRow(device, item)));
    const inbox = await signedRequest(device, 'GET', '/api/v1/me/inbox');
    if (inbox.status === 200) els.inbox.replaceChildren(...inbox.body.items.slice(0, 20).map(inboxRow));
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    els.profile.textContent = t('req_offline');
  }
  return null;
}

function approvalRow(device, item) {
  const row = li('');
  row.dataset.requestId = String(item.request_id);
  const title = document.createElement('strong');
  title.textContent = `${item.employee.name} · ${describe(item)}`;
  const reason = document.createElement('p');
  reason.textContent = item.reason + (item.reference ? ` · ${item.reference}` : '') + (item.attachment_id ? ` · ${t('req_photo_attached')}` : '');
  const actions = document.createElement('div');
  actions.className = 'row';
  for (const decision of ['approve', 'reject']) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = decision === 'approve' ? 'primary' : 'danger';
    button.dataset.decision = decision;
    button.textContent = t(`appr_${decision}`);
    button.addEventListener('click', async () => {
      for (const b of actions.querySelectorAll('button')) b.disabled = true;
      try {
        const answer = await signedRequest(device, 'POST', `/api/v1/me/approvals/${item.request_id}`, { json: { decision, note: '' } });
        els.approvalsStatus.textContent = answer.status === 200 ? t(`appr_done_${decision}`) : errorText(refusal(answer));
      } catch {
        els.approvalsStatus.textContent = t('req_offline');
      }
      await showApprovals(device, false);
    });
    actions.append(button);
  }
  row.append(title, reason, actions);
  return row;
}

/** Fill the Persetujuan screen. */
export async function showApprovals(device, clear = true) {
  if (clear) els.approvalsStatus.textContent = t('history_loading');
  try {
    const answer = await signedRequest(device, 'GET', '/api/v1/me/approvals');
    if (answer.status !== 200) return refusal(answer);
    const items = answer.body.approvals;
    els.approvals.replaceChildren(...items.map((item) => approvalRow(device, item)));
    // After a decision its sentence stays; the empty list speaks for itself.
    if (clear) els.approvalsStatus.textContent = items.length ? '' : t('appr_empty');
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    els.approvalsStatus.textContent = t('req_offline');
  }
  return null;
}

/**
 * Show "Persetujuan" only to staff who decide for someone (subordinates or a delegation).
 * @returns {Promise<void>}
 */
export async function checkSupervises(device) {
  try {
    const profile = await signedRequest(device, 'GET', '/api/v1/me');
    if (profile.status === 200) els.openApprovals.hidden = !profile.body.supervises;
  } catch {
    // Offline: keep the button as it was.
  }
}

/** Wire the form once. */
export function setupRequests(getDevice) {
  els.kind.addEventListener('change', syncForm);
  els.form.addEventListener('submit', (event) => submitRequest(getDevice(), event));
  window.addEventListener('online', () => {
    const device = getDevice();
    if (device) flushOutbox(device).then(showOutbox).catch(() => null);
  });
  syncForm();
}
