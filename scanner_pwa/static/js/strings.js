// Every sentence the phone app shows, in Bahasa Indonesia (default) and English.
// Error sentences are keyed by the server's stable error codes and say what to do next.

const LANGUAGES = ['id', 'en'];
const STORAGE_KEY = 'presensi.lang';

const STRINGS = {
  id: {
    loading: 'Memuat…',
    enrol_title: 'Daftarkan HP ini',
    enrol_intro: 'Masukkan NIP dan kode pendaftaran dari admin kepegawaian. Cukup sekali.',
    nip: 'NIP',
    code: 'Kode pendaftaran',
    enrol_button: 'Daftarkan',
    enrol_busy: 'Mendaftarkan…',
    enrol_offline: 'Tidak ada sinyal. Pendaftaran butuh koneksi internet; coba lagi saat ada sinyal.',
    enrol_missing: 'Isi NIP dan kode pendaftaran.',
    enrol_done: 'HP ini sekarang terdaftar untuk {name}.',
    enrol_help:
      'Tidak punya kode, ganti HP, atau data browser terhapus? Minta kode pendaftaran baru ke admin kepegawaian atau TU. HP lama otomatis tidak berlaku lagi.',
    enrol_needed_for_scan: 'HP ini belum terdaftar. Daftarkan dulu, lalu presensi langsung dikirim.',
    enrol_unsupported:
      'Browser ini tidak bisa menyimpan kunci dengan aman. Buka halaman ini di Chrome atau Safari terbaru.',
    owner: 'HP milik {name} · NIP {nip}',
    scan_hint: 'Arahkan kamera ke kode QR di layar kantor.',
    scan_starting: 'Membuka kamera…',
    scan_sending: 'Mengirim…',
    scan_not_presensi: 'Ini bukan kode QR Presensi. Arahkan ke kode di layar kantor.',
    camera_denied:
      'Kamera tidak diizinkan. Izinkan kamera untuk situs ini di pengaturan browser, lalu muat ulang.',
    camera_missing: 'Kamera tidak ditemukan. Anda juga bisa memindai dengan aplikasi kamera HP.',
    decoder_failed: 'Pemindai tidak bisa dimuat. Pindai kode dengan aplikasi kamera HP.',
    decoder_offline:
      'Pemindai belum tersimpan di HP ini dan tidak ada sinyal. Pindai kode QR dengan aplikasi kamera HP; presensi tetap tercatat.',
    decoder_loading: 'Memuat pemindai…',
    decoder_progress: 'Memuat pemindai… {percent}%',
    decoder_progress_kb: 'Memuat pemindai… {kb} KB',
    torch_on: 'Nyalakan senter',
    torch_off: 'Matikan senter',
    history_button: 'Kehadiran saya',
    scan_again: 'Pindai lagi',
    title_ok: 'Berhasil',
    title_bad: 'Gagal',
    title_wait: 'Menunggu sinyal',
    title_sending: 'Masih mengirim…',
    sending:
      'Sinyal lemah, pindaian masih dikirim. Salinannya sudah ditandatangani dan disimpan di HP ini, jadi tetap terkirim walau sinyal putus.',
    sent: 'Pindaian yang tersimpan terkirim pukul {time}.',
    history_waiting: '{time} · menunggu dikirim',
    history_waiting_title: 'Menunggu sinyal',
    title_pending: 'Tercatat, menunggu pemeriksaan',
    kind_in: 'Masuk',
    kind_out: 'Pulang',
    on_time: 'Tepat waktu',
    late: 'Terlambat {minutes} menit',
    early: '{minutes} menit lebih awal',
    repeat: 'Sudah tercatat sebelumnya.',
    queued:
      'Belum ada sinyal. Pindaian sudah ditandatangani dan disimpan di HP ini; akan dikirim otomatis begitu ada sinyal. Jangan hapus data browser.',
    pending:
      'Pindaian sampai di server setelah kodenya kedaluwarsa, jadi dicatat sebagai menunggu pemeriksaan admin, bukan langsung diterima.',
    queue_banner: '{count} pindaian menunggu dikirim…',
    history_title: 'Kehadiran saya (30 hari)',
    history_date: 'Tanggal',
    history_loading: 'Memuat…',
    history_empty: 'Belum ada presensi dalam 30 hari terakhir.',
    history_offline: 'Tidak ada sinyal. Kehadiran bisa dilihat saat HP tersambung.',
    status_pending_review: 'diperiksa',
    status_rejected: 'ditolak',
    back_to_scan: 'Kembali ke pemindai',
    err_invalid_request: 'Permintaan tidak valid. Muat ulang halaman lalu coba lagi.',
    err_payload_too_large: 'Permintaan terlalu besar. Muat ulang halaman lalu coba lagi.',
    err_unsupported_media_type: 'Permintaan tidak valid. Muat ulang halaman lalu coba lagi.',
    err_malformed_token: 'Ini bukan kode QR Presensi. Pindai kode di layar kantor.',
    err_unknown_key: 'Kode QR ini memakai kunci lama. Pindai lagi kode di layar.',
    err_bad_mac: 'Kode QR ini tidak asli. Pindai kode di layar kantor, bukan foto atau kiriman.',
    err_expired_token: 'Kode QR sudah kedaluwarsa. Pindai lagi kode yang sedang tampil di layar.',
    err_future_token: 'Kode QR belum berlaku. Pastikan kode dari layar kantor, lalu pindai lagi.',
    err_unknown_display: 'Layar ini tidak terdaftar. Beri tahu petugas TU.',
    err_display_revoked: 'Layar ini sudah dinonaktifkan admin. Pindai layar lain atau beri tahu TU.',
    err_unknown_device:
      'HP ini tidak terdaftar. Minta kode pendaftaran baru ke admin, lalu daftarkan lagi.',
    err_device_revoked:
      'HP ini sudah tidak terdaftar untuk Anda (mungkin HP lain didaftarkan). Minta kode pendaftaran baru ke admin.',
    err_bad_signature:
      'Kunci di HP ini tidak cocok dengan pendaftarannya. Minta kode pendaftaran baru ke admin, lalu daftarkan lagi.',
    err_stale_signature: 'Jam HP tidak cocok dengan server. Periksa tanggal dan jam HP, lalu coba lagi.',
    err_employee_inactive: 'Akun Anda tidak aktif. Hubungi bagian kepegawaian.',
    passkey_missing:
      'HP ini terdaftar, tetapi sidik jari, wajah, atau PIN belum terpasang, padahal instansi Anda mewajibkannya. Pasang kunci layar di HP, lalu minta kode pendaftaran baru ke admin.',
    passkey_flagged:
      'HP ini terdaftar tanpa sidik jari, wajah, atau PIN. Presensi tetap dicatat, tetapi ditandai untuk diperiksa admin.',
    err_user_verification_failed:
      'Sidik jari, wajah, atau PIN tidak terkonfirmasi, jadi presensi tidak dicatat. Pindai lagi dengan HP Anda sendiri dan konfirmasi dengan sidik jari, wajah, atau PIN Anda.',
    err_user_verification_unavailable:
      'Instansi Anda mewajibkan sidik jari, wajah, atau PIN, dan HP ini belum mendaftarkannya. Pasang kunci layar di HP, lalu minta kode pendaftaran baru ke admin.',
    err_invalid_assertion: 'Konfirmasi sidik jari tidak dapat dibaca. Pindai lagi dan konfirmasi sekali lagi.',
    err_assertion_mismatch: 'Konfirmasi sidik jari dibuat untuk pindaian lain. Pindai lagi kode di layar.',
    err_unknown_credential:
      'Sidik jari atau passkey ini bukan yang terdaftar untuk HP ini. Minta kode pendaftaran baru ke admin.',
    err_bad_assertion:
      'Konfirmasi sidik jari tidak cocok dengan passkey HP ini. Minta kode pendaftaran baru ke admin.',
    err_invalid_code:
      'NIP atau kode pendaftaran salah, sudah dipakai, atau kedaluwarsa. Periksa lagi, atau minta kode baru ke admin.',
    err_rate_limited: 'Terlalu banyak percobaan. Tunggu beberapa menit lalu coba lagi.',
    err_server: 'Server sedang bermasalah. Coba lagi sebentar lagi.',
    err_unknown: 'Terjadi kesalahan ({code}). Coba lagi, atau beri tahu admin.',
  },
  en: {
    loading: 'Loading…',
    enrol_title: 'Register this phone',
    enrol_intro: 'Enter your NIP and the enrolment code from your HR admin. You only do this once.',
    nip: 'NIP',
    code: 'Enrolment code',
    enrol_button: 'Register',
    enrol_busy: 'Registering…',
    enrol_offline: 'No signal. Registering needs the internet; try again when you have signal.',
    enrol_missing: 'Fill in your NIP and enrolment code.',
    enrol_done: 'This phone is now registered for {name}.',
    enrol_help:
      'No code, a new phone, or browser data cleared? Ask your HR admin or TU for a new enrolment code. Your old phone stops working automatically.',
    enrol_needed_for_scan: 'This phone is not registered yet. Register it and the check-in is sent right after.',
    enrol_unsupported:
      'This browser cannot keep a key safely. Open this page in an up-to-date Chrome or Safari.',
    owner: 'Phone of {name} · NIP {nip}',
    scan_hint: "Point the camera at the QR code on the office display.",
    scan_starting: 'Opening the camera…',
    scan_sending: 'Sending…',
    scan_not_presensi: "This is not a Presensi QR code. Point at the office display's code.",
    camera_denied:
      "The camera is not allowed. Allow the camera for this site in the browser's settings, then reload.",
    camera_missing: "No camera found. You can also scan with the phone's camera app.",
    decoder_failed: "The scanner could not load. Scan the code with the phone's camera app.",
    decoder_offline:
      "The scanner is not saved on this phone yet and there is no signal. Scan the QR code with the phone's camera app; the check-in is still recorded.",
    decoder_loading: 'Loading the scanner…',
    decoder_progress: 'Loading the scanner… {percent}%',
    decoder_progress_kb: 'Loading the scanner… {kb} KB',
    torch_on: 'Torch on',
    torch_off: 'Torch off',
    history_button: 'My attendance',
    scan_again: 'Scan again',
    title_ok: 'Done',
    title_bad: 'Failed',
    title_wait: 'Waiting for signal',
    title_sending: 'Still sending…',
    sending:
      'Weak signal, the scan is still being sent. A signed copy is kept on this phone, so it is delivered even if the signal drops.',
    sent: 'The saved scan was sent at {time}.',
    history_waiting: '{time} · waiting to be sent',
    history_waiting_title: 'Waiting for signal',
    title_pending: 'Recorded, pending review',
    kind_in: 'In',
    kind_out: 'Out',
    on_time: 'On time',
    late: '{minutes} minutes late',
    early: '{minutes} minutes early',
    repeat: 'Already recorded before.',
    queued:
      'No signal yet. The scan is signed and kept on this phone; it is sent automatically when the signal is back. Do not clear browser data.',
    pending:
      'The scan reached the server after its code expired, so it is recorded as pending review by an admin, not accepted straight away.',
    queue_banner: '{count} scan(s) waiting to be sent…',
    history_title: 'My attendance (30 days)',
    history_date: 'Date',
    history_loading: 'Loading…',
    history_empty: 'No check-ins in the last 30 days.',
    history_offline: 'No signal. Your attendance can be seen when the phone is online.',
    status_pending_review: 'under review',
    status_rejected: 'rejected',
    back_to_scan: 'Back to the scanner',
    err_invalid_request: 'The request is not valid. Reload the page and try again.',
    err_payload_too_large: 'The request is too large. Reload the page and try again.',
    err_unsupported_media_type: 'The request is not valid. Reload the page and try again.',
    err_malformed_token: 'This is not a Presensi QR code. Scan the code on the office display.',
    err_unknown_key: 'This QR code uses an old key. Scan the code on the display again.',
    err_bad_mac: 'This QR code is not genuine. Scan the office display, not a photo or a forwarded code.',
    err_expired_token: 'The QR code has expired. Scan the code that is on the display now.',
    err_future_token: 'The QR code is not valid yet. Check it comes from the office display and scan again.',
    err_unknown_display: 'This display is not registered. Tell the TU staff.',
    err_display_revoked: 'This display was switched off by an admin. Scan another display or tell the TU.',
    err_unknown_device: 'This phone is not registered. Ask your admin for a new enrolment code and register again.',
    err_device_revoked:
      'This phone is no longer registered for you (another phone may have been). Ask your admin for a new enrolment code.',
    err_bad_signature:
      "This phone's key does not match its registration. Ask your admin for a new enrolment code and register again.",
    err_stale_signature: "The phone's clock does not match the server. Check the date and time, then try again.",
    err_employee_inactive: 'Your account is not active. Contact your HR staff.',
    passkey_missing:
      'This phone is registered, but no fingerprint, face or PIN is set up, and your agency requires one. Set a screen lock on the phone, then ask your admin for a new enrolment code.',
    passkey_flagged:
      'This phone is registered without a fingerprint, face or PIN. Check-ins are recorded but flagged for your admin to review.',
    err_user_verification_failed:
      'Your fingerprint, face or PIN was not confirmed, so the scan was not recorded. Scan again on your own phone and confirm with your fingerprint, face or PIN.',
    err_user_verification_unavailable:
      'Your agency requires a fingerprint, face or PIN, and this phone has none registered. Set a screen lock, then ask your admin for a new enrolment code.',
    err_invalid_assertion: 'The fingerprint confirmation could not be read. Scan again and confirm once more.',
    err_assertion_mismatch: 'The fingerprint confirmation was made for another scan. Scan the display again.',
    err_unknown_credential:
      'This fingerprint or passkey is not the one registered for this phone. Ask your admin for a new enrolment code.',
    err_bad_assertion: "The fingerprint confirmation does not match this phone's passkey. Ask your admin for a new enrolment code.",
    err_invalid_code:
      'The NIP or enrolment code is wrong, used or expired. Check it, or ask your admin for a new code.',
    err_rate_limited: 'Too many attempts. Wait a few minutes and try again.',
    err_server: 'The server has a problem. Try again in a moment.',
    err_unknown: 'Something went wrong ({code}). Try again, or tell your admin.',
  },
};

let current = pickLanguage();

function pickLanguage() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(saved)) return saved;
  } catch {
    // Storage can be blocked; Bahasa Indonesia is the default anyway.
  }
  return 'id';
}

/** @returns {'id'|'en'} the language the app speaks now. */
export function language() {
  return current;
}

/**
 * Switch the language, remember it on this phone and relabel the page.
 * @param {'id'|'en'} lang
 */
export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Not remembered, still switched for this visit.
  }
  applyStrings();
}

/**
 * The sentence for `key` with `{name}` placeholders filled from `vars`.
 * @param {string} key
 * @param {Record<string, string|number>} [vars]
 * @returns {string}
 */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.id[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/**
 * The app's own sentence for a server error code; the server's message for codes it does not know.
 * @param {{code?: string, message?: string, message_en?: string}} error
 * @returns {string}
 */
export function errorText(error) {
  const key = `err_${error.code}`;
  if (key in STRINGS.id) return t(key);
  const fromServer = current === 'en' ? error.message_en : error.message;
  return fromServer || t('err_unknown', { code: error.code || '?' });
}

/** Fill every `data-t` element of the page in the current language. */
export function applyStrings(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
}
