// The result screen: one glance says green or red, who, what time, in or out, how late.

import { errorText, language, t } from './strings.js';

const els = {
  box: document.getElementById('result'),
  title: document.getElementById('result-title'),
  name: document.getElementById('result-name'),
  time: document.getElementById('result-time'),
  detail: document.getElementById('result-detail'),
  message: document.getElementById('result-message'),
};

function lateness(record) {
  if (!record.late_minutes) return t('on_time');
  const minutes = record.late_minutes;
  const text = record.kind === 'out' ? t('early', { minutes }) : t('late', { minutes });
  return record.category ? `${text} (${record.category})` : text;
}

/**
 * Show a check-in outcome.
 * @param {import('./checkin.js').Outcome} outcome
 * @param {{name: string}} [owner]  whose phone it is, for outcomes without a record
 */
export function showResult(outcome, owner) {
  const { state, record } = outcome;
  els.box.className = `result ${state}`;
  els.box.dataset.state = state;
  els.title.textContent = t(`title_${state === 'queued' ? 'wait' : state}`);
  els.name.textContent = record?.employee?.name ?? owner?.name ?? '';
  els.time.textContent = record ? record.at.slice(11, 16) : '';
  // One scan of the apel code records the apel too ("apel": true): say so on the same line.
  const apel = record?.apel ? ` · ${t('apel')}` : '';
  els.detail.textContent = record ? `${t(record.kind === 'out' ? 'kind_out' : 'kind_in')} · ${lateness(record)}${apel}` : '';
  els.box.dataset.apel = record?.apel ? 'true' : 'false';
  const sent = outcome.sentAt ? t('sent', { time: clock(outcome.sentAt) }) : '';
  if (state === 'bad') els.message.textContent = [sent, errorText(outcome.error)].filter(Boolean).join(' ');
  else if (state === 'queued') els.message.textContent = t('queued');
  else if (state === 'sending') els.message.textContent = t('sending');
  else if (state === 'pending') els.message.textContent = [sent, t('pending')].filter(Boolean).join(' ');
  else els.message.textContent = sent || (outcome.repeat ? t('repeat') : '');
  // Browsers refuse vibration before the person has touched the page (and log an error).
  if (state === 'ok' && 'vibrate' in navigator && navigator.userActivation?.hasBeenActive !== false) {
    navigator.vibrate(200);
  }
}

/** @param {number} ms  a phone time */
export function clock(ms) {
  const locale = language() === 'en' ? 'en-GB' : 'id-ID';
  return new Date(ms).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', hour12: false });
}

/** @returns {string|undefined} the state the result screen shows now. */
export function shownState() {
  return els.box.dataset.state;
}
