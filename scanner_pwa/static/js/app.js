// The scanner app: enrol once, then open the camera, scan the office display, show the answer.
// `/s#<token>` (a phone's camera app opened the QR) checks in straight away; `/s#enrol=<NIP>`
// (the admin's enrolment QR) opens enrolment with the NIP filled in.

import { Unreachable, request, syncClock } from './api.js';
import { closeCamera, openCamera, setTorch } from './camera.js';
import { onQueue, signScan, startQueue, submit } from './checkin.js';
import { register as registerPasskey } from './passkey.js';
import { createKey, supported } from './crypto.js';
import { DecoderUnavailable, createDecoder, onDecoderProgress, prefetchDecoder } from './decoder.js';
import { flush as flushDiary, setUpDiary, showDiary } from './diary.js';
import { showHistory } from './history.js';
import { positionForScan, warmUpLocation } from './location.js';
import { showResult } from './result.js';
import { checkSupervises, flushOutbox, setupRequests, showApprovals, showRequests } from './selfservice.js';
import { forgetDevice, loadDevice, saveDevice } from './store.js';
import { applyStrings, errorText, language, setLanguage, t } from './strings.js';
import { fromFragment, tokenFrom } from './token.js';

const els = {
  lang: document.getElementById('lang'),
  loading: document.querySelector('#screen-loading p'),
  enrolForm: document.getElementById('enrol-form'),
  enrolNip: document.getElementById('enrol-nip'),
  enrolCode: document.getElementById('enrol-code'),
  enrolSubmit: document.getElementById('enrol-submit'),
  enrolNote: document.getElementById('enrol-note'),
  enrolError: document.getElementById('enrol-error'),
  owner: document.getElementById('owner'),
  video: document.getElementById('video'),
  scanStatus: document.getElementById('scan-status'),
  torch: document.getElementById('torch'),
  openHistory: document.getElementById('open-history'),
  openDiary: document.getElementById('open-diary'),
  diaryBack: document.getElementById('diary-back'),
  resultHistory: document.getElementById('result-history'),
  scanAgain: document.getElementById('scan-again'),
  historyBack: document.getElementById('history-back'),
  openRequests: document.getElementById('open-requests'),
  openApprovals: document.getElementById('open-approvals'),
  requestsBack: document.getElementById('requests-back'),
  approvalsBack: document.getElementById('approvals-back'),
  queueBanner: document.getElementById('queue-banner'),
};
const SCREENS = ['loading', 'enrol', 'scan', 'result', 'history', 'diary', 'requests', 'approvals'];
// The server no longer accepts this phone's key: only a new enrolment helps.
const DEVICE_GONE = new Set(['unknown_device', 'device_revoked', 'bad_signature']);

let device = null;
let camera = null;
let decoder = null;
let decoderLoading = null;
let scanRun = 0;
let torchOn = false;
let pendingToken = null;
let lastOutcome = null;
let clockSynced = Promise.resolve(false);

function show(name) {
  if (name !== 'scan') stopCamera();
  for (const screen of SCREENS) document.getElementById(`screen-${screen}`).hidden = screen !== name;
  document.body.dataset.screen = name;
}

function note(el, text) {
  el.textContent = text ?? '';
  el.hidden = !text;
}

function showOwner() {
  els.owner.textContent = device ? t('owner', { name: device.name, nip: device.nip }) : '';
}

async function forgetIfGone(error) {
  if (device && error && DEVICE_GONE.has(error.code)) {
    await forgetDevice();
    device = null;
  }
}

// -- enrolment ------------------------------------------------------------------------------

function showEnrol({ message = null, nip = '' } = {}) {
  if (nip) els.enrolNip.value = nip;
  note(els.enrolNote, message);
  note(els.enrolError, null);
  show('enrol');
  (els.enrolNip.value ? els.enrolCode : els.enrolNip).focus();
}

async function enrol(event) {
  event.preventDefault();
  const nip = els.enrolNip.value.replace(/\s+/g, '');
  const code = els.enrolCode.value.trim();
  if (!nip || !code) return note(els.enrolError, t('enrol_missing'));
  if (!supported()) return note(els.enrolError, t('enrol_unsupported'));
  note(els.enrolError, null);
  els.enrolSubmit.disabled = true;
  els.enrolSubmit.textContent = t('enrol_busy');
  try {
    const { privateKey, publicJwk } = await createKey();
    let answer;
    try {
      answer = await request('POST', '/api/v1/devices', { body: { nip, code, public_key: publicJwk } });
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      return note(els.enrolError, t('enrol_offline'));
    }
    if (answer.status !== 201) {
      return note(els.enrolError, errorText(answer.body?.error ?? { code: `http_${answer.status}` }));
    }
    const { device_id: deviceId, employee, passkey: options } = answer.body;
    device = { deviceId, nip: employee.nip, name: employee.name, privateKey };
    // The agency asks for the owner's fingerprint, face or PIN: register the passkey now.
    const passkey = options ? await registerPasskey(deviceId, options) : null;
    if (passkey) device.passkey = passkey;
    await saveDevice(device);
    // Ask the browser not to evict the key under storage pressure (Chrome grants it to
    // installed apps; Safari decides on its own). Without the key the phone must re-enrol.
    navigator.storage?.persist?.().catch(() => false);
    els.enrolCode.value = '';
    showOwner();
    checkSupervises(device);
    const token = pendingToken;
    pendingToken = null;
    if (token) return checkIn(token);
    if (options && !passkey) {
      const key = answer.body.user_verification === 'required' ? 'passkey_missing' : 'passkey_flagged';
      return startScan(t(key));
    }
    return startScan(t('enrol_done', { name: device.name }));
  } finally {
    els.enrolSubmit.disabled = false;
    els.enrolSubmit.textContent = t('enrol_button');
  }
}

// -- scanning -------------------------------------------------------------------------------

function stopCamera() {
  scanRun += 1;
  closeCamera(camera?.stream ?? null);
  camera = null;
  torchOn = false;
  els.torch.hidden = true;
}

function decoderProblem(error) {
  return t(error instanceof DecoderUnavailable && navigator.onLine === false ? 'decoder_offline' : 'decoder_failed');
}

async function startScan(message = null) {
  if (!device) return showEnrol();
  show('scan');
  showOwner();
  els.scanStatus.textContent = message ?? t('scan_starting');
  const run = scanRun;
  // Fetch the decoder while the camera starts; it goes into the app's cache for offline use.
  decoderLoading ??= createDecoder().catch((error) => {
    decoderLoading = null;
    throw error;
  });
  const loading = decoderLoading;
  let failed = false;
  // Say at once when no decoder can run: the camera app still can (it opens /s#<token>).
  loading.catch((error) => {
    failed = true;
    if (run === scanRun) els.scanStatus.textContent = decoderProblem(error);
  });
  warmUpLocation();
  try {
    camera = await openCamera(els.video);
  } catch (error) {
    els.scanStatus.textContent = t(error.name === 'NotAllowedError' ? 'camera_denied' : 'camera_missing');
    return;
  }
  if (run !== scanRun) return closeCamera(camera.stream);
  els.torch.hidden = !camera.torch;
  els.torch.textContent = t('torch_on');
  if (failed) return;
  if (!decoder && !message) els.scanStatus.textContent = t('decoder_loading');
  try {
    decoder = await loading;
  } catch (error) {
    if (run === scanRun) els.scanStatus.textContent = decoderProblem(error);
    return;
  }
  if (run !== scanRun) return;
  document.body.dataset.decoder = decoder.kind;
  document.body.dataset.decoderThread = decoder.thread;
  // "Aim at the QR" only now that a frame can be read.
  els.scanStatus.textContent = message ?? t('scan_hint');
  scanLoop(run);
}

function showProgress(loaded, total) {
  if (document.body.dataset.screen !== 'scan' || decoder) return;
  els.scanStatus.textContent = total
    ? t('decoder_progress', { percent: Math.min(99, Math.floor((loaded / total) * 100)) })
    : t('decoder_progress_kb', { kb: Math.round(loaded / 1024) });
}

async function scanLoop(run) {
  while (run === scanRun) {
    let text = null;
    if (els.video.readyState >= 2 && document.visibilityState === 'visible') {
      try {
        const read = await decoder.detect(els.video);
        text = read.text;
        debugTime(read.ms);
      } catch {
        text = null; // a frame the decoder could not take; the next one will do
      }
    }
    if (run !== scanRun) return;
    const token = text && tokenFrom(text);
    if (token) return checkIn(token);
    if (text) els.scanStatus.textContent = t('scan_not_presensi');
    await new Promise((resolve) => setTimeout(resolve, 120));
  }
}

// ?debug=1: how long each frame takes to decode, on the viewfinder.
const debugBox = new URLSearchParams(location.search).get('debug') === '1' ? document.createElement('p') : null;
let debugAverage = 0;

function debugTime(ms) {
  if (!debugBox) return;
  if (!debugBox.isConnected) {
    debugBox.id = 'debug';
    debugBox.className = 'debug';
    document.querySelector('.viewfinder').append(debugBox);
  }
  debugAverage = debugAverage ? debugAverage * 0.8 + ms * 0.2 : ms;
  debugBox.textContent = `${decoder?.kind ?? '?'}/${decoder?.thread ?? '?'} ${ms.toFixed(0)} ms (≈${debugAverage.toFixed(0)} ms)`;
}

async function toggleTorch() {
  if (!camera) return;
  try {
    await setTorch(camera.stream, !torchOn);
    torchOn = !torchOn;
    els.torch.textContent = t(torchOn ? 'torch_off' : 'torch_on');
  } catch {
    els.torch.hidden = true;
  }
}

// -- check-in -------------------------------------------------------------------------------

async function checkIn(token) {
  show('loading');
  els.loading.textContent = t('scan_sending');
  // Sent at once with the last known clock offset; a fresh one is learnt in the background.
  // The position (at most 3 s, never required) is found while the scan is signed.
  const [body, location] = await Promise.all([signScan(device, token), positionForScan()]);
  body.location = location;
  report(await submit(body));
  clockSynced = syncClock();
}

async function report(outcome) {
  lastOutcome = outcome;
  showResult(outcome, device);
  show('result');
  await forgetIfGone(outcome.error);
}

function onQueueChange(outcome, count) {
  note(els.queueBanner, count ? t('queue_banner', { count }) : null);
  if (outcome) report(outcome);
}

// -- my attendance --------------------------------------------------------------------------

async function openHistory() {
  if (!device) return showEnrol();
  show('history');
  await forgetIfGone(await showHistory(device));
}

// -- activity diary (Kegiatan) -------------------------------------------------------------

/** Days submitted offline earlier go out as soon as the app starts with signal. */
function showDiaryPending() {
  flushDiary(device).catch(() => null);
}

async function openDiary() {
  if (!device) return showEnrol();
  show('diary');
  await forgetIfGone(await showDiary(device));
}

// -- requests and approvals ----------------------------------------------------------------

async function openRequests() {
  if (!device) return showEnrol();
  show('requests');
  await forgetIfGone(await showRequests(device));
}

async function openApprovals() {
  if (!device) return showEnrol();
  show('approvals');
  await forgetIfGone(await showApprovals(device));
}

// -- start ----------------------------------------------------------------------------------

function relabel() {
  applyStrings();
  els.lang.textContent = language() === 'id' ? 'EN' : 'ID';
  showOwner();
  if (document.body.dataset.screen === 'result' && lastOutcome) showResult(lastOutcome, device);
}

function readFragment() {
  const wanted = fromFragment(location.hash);
  // The token is a credential for this window: keep it out of the address bar and history.
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return wanted;
}

async function follow(wanted) {
  if (wanted.token) {
    if (device) return checkIn(wanted.token);
    pendingToken = wanted.token;
    return showEnrol({ message: t('enrol_needed_for_scan') });
  }
  if (wanted.enrolNip || !device) return showEnrol({ nip: wanted.enrolNip });
  return startScan();
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  const register = () => navigator.serviceWorker.register('/s/sw.js', { scope: '/s' }).catch(() => null);
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}

async function boot() {
  relabel();
  registerServiceWorker();
  els.lang.addEventListener('click', () => {
    setLanguage(language() === 'id' ? 'en' : 'id');
    relabel();
  });
  els.enrolForm.addEventListener('submit', enrol);
  els.torch.addEventListener('click', toggleTorch);
  els.scanAgain.addEventListener('click', () => startScan());
  els.historyBack.addEventListener('click', () => startScan());
  els.openHistory.addEventListener('click', openHistory);
  els.resultHistory.addEventListener('click', openHistory);
  els.openDiary.addEventListener('click', openDiary);
  els.diaryBack.addEventListener('click', () => startScan());
  setUpDiary();
  els.openRequests.addEventListener('click', openRequests);
  els.openApprovals.addEventListener('click', openApprovals);
  els.requestsBack.addEventListener('click', () => startScan());
  els.approvalsBack.addEventListener('click', () => startScan());
  setupRequests(() => device);
  window.addEventListener('hashchange', () => follow(readFragment()));
  window.addEventListener('online', () => {
    clockSynced = syncClock();
  });

  const wanted = readFragment();
  clockSynced = syncClock();
  device = supported() ? ((await loadDevice()) ?? null) : null;
  onQueue(onQueueChange);
  startQueue();
  if (device) showDiaryPending();
  onDecoderProgress(showProgress);
  if (device) {
    // After the clock sync: both calls are signed with the server's time.
    clockSynced.then(() => flushOutbox(device).catch(() => null)).then(() => checkSupervises(device));
  }
  await follow(wanted);
  // The first screen is up: now bring the fallback decoder into the app's cache (a phone
  // without a native detector needs it for its first scan, and offline later).
  prefetchDecoder().catch(() => null);
}

boot();
