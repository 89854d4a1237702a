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
    apel: 'Apel tercatat',
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
    req_button: 'Pengajuan',
    appr_button: 'Persetujuan',
    req_title: 'Pengajuan',
    req_kind: 'Jenis pengajuan',
    req_kind_correction: 'Koreksi presensi',
    absence_izin: 'Izin',
    absence_sakit: 'Sakit',
    absence_dl: 'Dinas luar (DL)',
    absence_dd: 'Dinas dalam (DD)',
    absence_cuti_tahunan: 'Cuti tahunan',
    absence_cuti_sakit: 'Cuti sakit',
    absence_cuti_alasan_penting: 'Cuti alasan penting',
    absence_cuti_besar: 'Cuti besar',
    req_correction_in: 'Koreksi masuk',
    req_correction_out: 'Koreksi pulang',
    req_date: 'Tanggal',
    req_scan: 'Presensi',
    req_time: 'Jam sebenarnya',
    req_start: 'Dari tanggal',
    req_end: 'Sampai tanggal',
    req_reference: 'Nomor surat tugas (DL/DD)',
    req_photo: 'Foto surat dokter (sakit)',
    req_reason: 'Alasan',
    req_submit: 'Kirim pengajuan',
    req_missing: 'Isi tanggal dan alasan.',
    req_queued: 'Belum ada sinyal. Pengajuan disimpan di HP ini dan dikirim otomatis begitu ada sinyal.',
    req_waiting_signal: 'menunggu sinyal',
    req_sent: 'Pengajuan terkirim ke {name}.',
    req_mine: 'Pengajuan saya',
    req_held_by: 'di {name}',
    req_status_pending: 'Menunggu',
    req_status_approved: 'Disetujui',
    req_status_rejected: 'Ditolak',
    req_status_cancelled: 'Dibatalkan',
    req_cancel: 'Batalkan',
    req_offline: 'Tidak ada sinyal. Coba lagi saat HP tersambung.',
    req_supervisor: 'Atasan langsung: {name}',
    req_no_supervisor: 'Belum ada atasan langsung; pengajuan diputuskan operator unit.',
    req_balance: 'Sisa cuti tahunan: {remaining} dari {entitled} hari kerja',
    req_photo_attached: 'ada foto',
    inbox_title: 'Kotak masuk',
    inbox_request_to_decide: '{name} menunggu keputusan Anda',
    inbox_request_decided: 'Pengajuan Anda: {status}',
    inbox_request_escalated: 'Pengajuan dialihkan ke atasan berikutnya',
    inbox_discipline_level: '{name} mencapai tingkat disiplin baru (PP 94/2021): tindak lanjuti sebagai atasan',
    appr_title: 'Persetujuan',
    appr_approve: 'Setujui',
    appr_reject: 'Tolak',
    appr_done_approve: 'Disetujui.',
    appr_done_reject: 'Ditolak.',
    appr_empty: 'Tidak ada pengajuan yang menunggu keputusan Anda.',
    history_title: 'Kehadiran saya (30 hari)',
    history_date: 'Tanggal',
    history_loading: 'Memuat…',
    history_empty: 'Belum ada presensi dalam 30 hari terakhir.',
    history_offline: 'Tidak ada sinyal. Kehadiran bisa dilihat saat HP tersambung.',
    status_pending_review: 'diperiksa',
    status_rejected: 'ditolak',
    back_to_scan: 'Kembali ke pemindai',
    diary_button: 'Kegiatan',
    diary_title: 'Kegiatan harian',
    diary_date: 'Tanggal',
    diary_start: 'Mulai',
    diary_end: 'Selesai',
    diary_description: 'Uraian kegiatan',
    diary_quantity: 'Jumlah hasil',
    diary_unit: 'Satuan',
    diary_target: 'Target SKP (opsional)',
    diary_add: 'Tambah kegiatan',
    diary_remove: 'Hapus',
    diary_submit: 'Kirim hari ini',
    diary_back: 'Kembali',
    diary_empty: 'Belum ada kegiatan untuk hari ini.',
    diary_saved_local: 'Tersimpan di HP ini (draf).',
    diary_waiting: 'Menunggu sinyal: hari ini dikirim otomatis saat HP tersambung.',
    diary_sending: 'Mengirim…',
    diary_minutes: '{minutes} menit',
    diary_note: 'Catatan atasan: {note}',
    diary_incomplete: 'Isi jam mulai, jam selesai, uraian (minimal 10 huruf), jumlah dan satuan.',
    diary_status_local: 'draf di HP',
    diary_status_draft: 'draf',
    diary_status_submitted: 'menunggu validasi',
    diary_status_approved: 'disetujui',
    diary_status_returned: 'dikembalikan',
    diary_status_rejected: 'ditolak',
    diary_status_accepted_auto: 'diterima otomatis',
    diary_month: 'Bulan ini',
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
    apel: 'Apel recorded',
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
    req_button: 'Requests',
    appr_button: 'Approvals',
    req_title: 'Requests',
    req_kind: 'Kind of request',
    req_kind_correction: 'Attendance correction',
    absence_izin: 'Permission (izin)',
    absence_sakit: 'Sick (sakit)',
    absence_dl: 'Official travel (DL)',
    absence_dd: 'Official duty in town (DD)',
    absence_cuti_tahunan: 'Annual leave',
    absence_cuti_sakit: 'Sick leave',
    absence_cuti_alasan_penting: 'Leave for important reasons',
    absence_cuti_besar: 'Long service leave',
    req_correction_in: 'Check-in correction',
    req_correction_out: 'Check-out correction',
    req_date: 'Date',
    req_scan: 'Scan',
    req_time: 'Actual time',
    req_start: 'From',
    req_end: 'Until',
    req_reference: 'Assignment letter number (DL/DD)',
    req_photo: "Photo of the doctor's letter (sick)",
    req_reason: 'Reason',
    req_submit: 'Send request',
    req_missing: 'Fill in the date and the reason.',
    req_queued: 'No signal. The request is kept on this phone and sent as soon as there is signal.',
    req_waiting_signal: 'waiting for signal',
    req_sent: 'Request sent to {name}.',
    req_mine: 'My requests',
    req_held_by: 'with {name}',
    req_status_pending: 'Pending',
    req_status_approved: 'Approved',
    req_status_rejected: 'Rejected',
    req_status_cancelled: 'Cancelled',
    req_cancel: 'Cancel',
    req_offline: 'No signal. Try again when the phone is online.',
    req_supervisor: 'Supervisor: {name}',
    req_no_supervisor: 'No supervisor yet; your unit operator decides your requests.',
    req_balance: 'Annual leave left: {remaining} of {entitled} working days',
    req_photo_attached: 'photo attached',
    inbox_title: 'Inbox',
    inbox_request_to_decide: '{name} is waiting for your decision',
    inbox_request_decided: 'Your request: {status}',
    inbox_request_escalated: 'A request moved up to the next supervisor',
    inbox_discipline_level: '{name} reached a new discipline level (PP 94/2021): act on it as their supervisor',
    appr_title: 'Approvals',
    appr_approve: 'Approve',
    appr_reject: 'Reject',
    appr_done_approve: 'Approved.',
    appr_done_reject: 'Rejected.',
    appr_empty: 'No requests are waiting for your decision.',
    history_title: 'My attendance (30 days)',
    history_date: 'Date',
    history_loading: 'Loading…',
    history_empty: 'No check-ins in the last 30 days.',
    history_offline: 'No signal. Your attendance can be seen when the phone is online.',
    status_pending_review: 'under review',
    status_rejected: 'rejected',
    back_to_scan: 'Back to the scanner',
    diary_button: 'Activities',
    diary_title: 'Daily activities',
    diary_date: 'Date',
    diary_start: 'Start',
    diary_end: 'End',
    diary_description: 'What you did',
    diary_quantity: 'Output quantity',
    diary_unit: 'Unit',
    diary_target: 'SKP target (optional)',
    diary_add: 'Add activity',
    diary_remove: 'Remove',
    diary_submit: 'Submit this day',
    diary_back: 'Back',
    diary_empty: 'No activities for this day yet.',
    diary_saved_local: 'Saved on this phone (draft).',
    diary_waiting: 'Waiting for signal: the day is sent automatically when the phone is online.',
    diary_sending: 'Sending…',
    diary_minutes: '{minutes} minutes',
    diary_note: "Supervisor's note: {note}",
    diary_incomplete: 'Fill in start, end, a description (at least 10 characters), quantity and unit.',
    diary_status_local: 'draft on phone',
    diary_status_draft: 'draft',
    diary_status_submitted: 'waiting for validation',
    diary_status_approved: 'approved',
    diary_status_returned: 'returned',
    diary_status_rejected: 'rejected',
    diary_status_accepted_auto: 'accepted automatically',
    diary_month: 'This month',
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
