// What a scanned QR code holds: `<PUBLIC_URL>/s#<token>`, or a bare token.

// The daily code `v1.<kid>.<display>.<window>.<mac>`, or during an apel session the apel code
// `a1.<kid>.<display>.<window>.<session>.<mac>` (backend/tokens.py).
const TOKEN = /^(v1\.[A-Za-z0-9]+\.\d+\.\d+|a1\.[A-Za-z0-9]+\.\d+\.\d+\.\d+)\.[A-Za-z0-9_-]{22}$/;

/**
 * The check-in token in a scanned text, or null when it is not a Presensi code.
 * @param {string} text
 * @returns {string|null}
 */
export function tokenFrom(text) {
  const trimmed = String(text).trim();
  if (TOKEN.test(trimmed)) return trimmed;
  try {
    const url = new URL(trimmed);
    const fragment = decodeURIComponent(url.hash.slice(1));
    if (url.pathname.replace(/\/$/, '') === '/s' && TOKEN.test(fragment)) return fragment;
  } catch {
    // Not a URL: not ours.
  }
  return null;
}

/**
 * Read what the address bar's fragment asks for: a token (the phone's camera app opened the
 * QR's URL) or `enrol=<NIP>` (the admin's enrolment QR).
 * @param {string} hash  location.hash
 * @returns {{token?: string, enrolNip?: string}}
 */
export function fromFragment(hash) {
  const fragment = decodeURIComponent(hash.replace(/^#/, ''));
  if (fragment.startsWith('enrol=')) return { enrolNip: fragment.slice(6).replace(/\D/g, '') };
  // Anything token-like goes to the server, whose answer names what is wrong with it.
  if (fragment.startsWith('v1.') || fragment.startsWith('a1.')) return { token: fragment };
  return {};
}
