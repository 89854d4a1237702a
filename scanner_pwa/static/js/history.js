// "My attendance": the last 30 days from GET /api/v1/me/checkins, authenticated by a fresh
// signature of the phone's key rather than a cookie that could be copied off the phone.

import { Unreachable, request, serverNow } from './api.js';
import { nonce, sign } from './crypto.js';
import { waiting } from './checkin.js';
import { clock as phoneClock } from './result.js';
import { errorText, language, t } from './strings.js';

const PATH = '/api/v1/me/checkins';

const els = {
  status: document.getElementById('history-status'),
  table: document.getElementById('history-table'),
  rows: document.getElementById('history-rows'),
  queued: document.getElementById('history-queued'),
  queuedRows: document.getElementById('history-queued-rows'),
};

/** Scans signed on this phone and not delivered yet: the server cannot list them. */
async function showWaiting() {
  const items = await waiting().catch(() => []);
  els.queuedRows.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement('li');
      li.textContent = t('history_waiting', { time: phoneClock(item.body.client_ts ?? item.queuedAt) });
      return li;
    }),
  );
  els.queued.hidden = !items.length;
}

/**
 * The Authorization header value for one request by this phone.
 * @param {{deviceId: string, privateKey: CryptoKey}} device
 * @param {string} path
 */
export async function deviceAuthorization(device, path) {
  const ts = serverNow();
  const n = nonce();
  const signature = await sign(device.privateKey, `presensi/me/v1|GET ${path}|${device.deviceId}|${ts}|${n}`);
  return `Presensi-Device ${device.deviceId}.${ts}.${n}.${signature}`;
}

function clock(iso) {
  return iso.slice(11, 16);
}

function day(date) {
  const locale = language() === 'en' ? 'en-GB' : 'id-ID';
  return new Date(`${date}T12:00:00`).toLocaleDateString(locale, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
  });
}

function cell(items) {
  const td = document.createElement('td');
  for (const item of items) {
    const line = document.createElement('span');
    line.textContent = clock(item.at);
    td.append(line);
    const notes = [];
    if (item.category) notes.push(`${item.category} · ${item.late_minutes}′`);
    if (item.status !== 'accepted') notes.push(t(`status_${item.status}`));
    if (notes.length) {
      const small = document.createElement('small');
      small.className = item.category ? 'late' : '';
      small.textContent = notes.join(' · ');
      td.append(small);
    }
  }
  if (!items.length) td.textContent = '–';
  return td;
}

function render(checkins) {
  const byDate = new Map();
  for (const item of checkins) {
    if (!byDate.has(item.date)) byDate.set(item.date, { in: [], out: [] });
    byDate.get(item.date)[item.kind].push(item);
  }
  els.rows.replaceChildren(
    ...[...byDate].map(([date, kinds]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('td');
      th.textContent = day(date);
      tr.append(th, cell(kinds.in.reverse()), cell(kinds.out.reverse()));
      return tr;
    }),
  );
}

/**
 * Fetch and show the phone owner's last 30 days.
 * @param {{deviceId: string, privateKey: CryptoKey}} device
 * @returns {Promise<{code: string}|null>} the server's refusal, if any
 */
export async function showHistory(device) {
  els.table.hidden = true;
  els.status.textContent = t('history_loading');
  await showWaiting();
  let answer;
  try {
    answer = await request('GET', PATH, { headers: { Authorization: await deviceAuthorization(device, PATH) } });
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    els.status.textContent = t('history_offline');
    return null;
  }
  if (answer.status !== 200) {
    const refusal = answer.body?.error ?? { code: `http_${answer.status}` };
    els.status.textContent = errorText(refusal);
    return refusal;
  }
  const { checkins } = answer.body;
  els.status.textContent = checkins.length ? '' : t('history_empty');
  render(checkins);
  els.table.hidden = !checkins.length;
  return null;
}
