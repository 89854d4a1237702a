// The owner's fingerprint: a platform passkey (fingerprint, face or the phone's PIN) when the
// agency asks for user verification. Registered once right after enrolment; every scan then
// carries an assertion whose challenge is SHA-256 of the scan's signed text, so no extra round
// trip is needed (the server derives the same challenge: backend/passkeys.py).

import {
  browserSupportsWebAuthn,
  platformAuthenticatorIsAvailable,
  startAuthentication,
  startRegistration,
} from '@simplewebauthn/browser';

import { request } from './api.js';
import { b64url } from './crypto.js';

/**
 * @typedef {object} Passkey
 * @property {string} id    the credential id, base64url
 * @property {string} rpId  the server's host name
 */

/** @returns {Promise<boolean>} whether this phone has a fingerprint, face or PIN authenticator. */
export async function available() {
  if (!browserSupportsWebAuthn()) return false;
  try {
    return await platformAuthenticatorIsAvailable();
  } catch {
    return false;
  }
}

/**
 * Register this phone's passkey with the creation options from the enrolment answer.
 * @param {string} deviceId
 * @param {object} optionsJSON  PublicKeyCredentialCreationOptionsJSON
 * @returns {Promise<Passkey|null>} null when the phone has none or the owner cancelled
 */
export async function register(deviceId, optionsJSON) {
  if (!(await available())) return null;
  let credential;
  try {
    credential = await startRegistration({ optionsJSON });
  } catch {
    return null;
  }
  const answer = await request('POST', '/api/v1/devices/passkey', {
    body: { device_id: deviceId, credential },
  });
  if (answer.status !== 201) return null;
  return { id: answer.body.credential_id, rpId: optionsJSON.rp.id };
}

/**
 * The owner's assertion over a scan's signed text, or null when it could not be made (the
 * server then refuses the scan with a sentence that says what to do).
 * @param {Passkey} passkey
 * @param {string} text  the text the device key signs
 * @returns {Promise<object|null>} AuthenticationResponseJSON
 */
export async function assertText(passkey, text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  try {
    return await startAuthentication({
      optionsJSON: {
        challenge: b64url(digest),
        rpId: passkey.rpId,
        allowCredentials: [{ id: passkey.id, type: 'public-key', transports: ['internal'] }],
        userVerification: 'required',
        timeout: 60000,
      },
    });
  } catch {
    return null;
  }
}
