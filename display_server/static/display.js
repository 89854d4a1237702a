/**
 * The office display: shows the QR the server pushes, a server-synced clock, the countdown to
 * the next code, the connection state and the latest check-ins. It never shows a code that has
 * expired or one it cannot be sure is current (no connection).
 */
import { clearQr, drawQr } from './qr.js';
import { ServerClock } from './clock.js';
import { DisplaySocket } from './socket.js';
import { Ticker } from './ticker.js';
import { keepScreenAwake } from './wakelock.js';

const body = document.body;
const qrArea = document.getElementById('qr-area');
const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('qr'));
const placeholder = document.getElementById('qr-placeholder');
const clockText = document.getElementById('clock');
const dateText = document.getElementById('date');
const countdownText = document.getElementById('countdown');
const countdownBar = /** @type {HTMLProgressElement} */ (document.getElementById('countdown-bar'));
const statusText = document.getElementById('status');
const strings = document.getElementById('strings').dataset;
const apelBanner = document.getElementById('apel-banner');
const apelName = document.getElementById('apel-name');
const instruction = document.getElementById('instruction');

const period = Number(body.dataset.period) || 15;
const clock = new ServerClock(body.dataset.timezone, body.dataset.lang);
const ticker = new Ticker(
  /** @type {HTMLOListElement} */ (document.getElementById('ticker')),
  document.getElementById('ticker-empty'),
  (ms) => clock.shortTime(ms),
);

/** @type {{url: string, window: number, expires_at: number, kind?: string}|null} */
let shown = null;

/** During an apel session the server sends the apel code ("kind": "apel"): say so, big. */
function showKind(message) {
  const isApel = message !== null && message.kind === 'apel';
  body.dataset.kind = isApel ? 'apel' : 'daily';
  apelBanner.hidden = !isApel;
  apelName.textContent = isApel && message.apel ? message.apel.name : '';
  instruction.textContent = isApel ? strings.apelInstruction : strings.instruction;
}

function showCode(message) {
  shown = message;
  showKind(message);
  drawQr(canvas, message.url, qrArea);
  canvas.dataset.window = String(message.window);
  canvas.hidden = false;
  placeholder.hidden = true;
}

function hideCode(reason) {
  shown = null;
  showKind(null);
  canvas.hidden = true;
  delete canvas.dataset.window;
  clearQr(canvas);
  placeholder.textContent = reason;
  placeholder.hidden = false;
}

function onMessage(message) {
  if (typeof message.server_time === 'number') clock.sync(message.server_time);
  if (message.type === 'token') {
    if (message.expires_at * 1000 > clock.now()) showCode(message);
    else hideCode(strings.expired);
  } else if (message.type === 'checkin') {
    ticker.add(message);
  }
}

function onState(state, retryMs) {
  statusText.dataset.state = state;
  if (state === 'connected') {
    statusText.textContent = strings.connected;
    return;
  }
  // Without a live connection the code on screen may be revoked or stale: take it down.
  hideCode(strings.lost);
  if (state === 'connecting') statusText.textContent = strings.connecting;
  else if (state === 'offline') {
    statusText.textContent = strings.offline.replace('{seconds}', String(Math.ceil(retryMs / 1000)));
  } else if (state === 'forbidden') statusText.textContent = strings.forbidden;
  else if (state === 'unpaired') {
    statusText.textContent = strings.unpaired;
    window.setTimeout(() => window.location.reload(), 3000); // the server shows the pairing form
  }
}

function tick() {
  const now = clock.now();
  if (shown && now >= shown.expires_at * 1000) hideCode(strings.expired);
  clockText.textContent = clock.time(now);
  dateText.textContent = clock.date(now);
  const left = period - ((now / 1000) % period);
  countdownText.textContent = String(Math.ceil(left));
  countdownBar.value = left;
}

function loop() {
  tick();
  // Wake just after each tenth of a second so the expiry check is never more than 100 ms late.
  window.setTimeout(loop, 100 - (clock.now() % 100));
}

const url = new URL('/display/ws', window.location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
new DisplaySocket(url.href, { onMessage, onState }, (period + 5) * 1000).start();
window.addEventListener('resize', () => {
  if (shown) drawQr(canvas, shown.url, qrArea);
});
keepScreenAwake();
loop();
