// The phone's position at scan time: a signal for the office's reviewers, never proof (apps
// that fake it are common) and never a reason to hold a check-in back. A scan waits for it at
// most LOCATION_WAIT_MS; no permission, no fix or no geolocation at all sends the scan without.

export const LOCATION_WAIT_MS = 3000;
// A fix this recent is as good as a new one (the phone has not gone far since the camera opened).
const MAX_AGE_MS = 30000;

/**
 * @param {number} waitMs
 * @returns {Promise<{latitude: number, longitude: number, accuracy: number}|null>}
 */
function ask(waitMs) {
  return new Promise((resolve) => {
    const geo = navigator.geolocation;
    if (!geo) return resolve(null);
    const timer = setTimeout(() => resolve(null), waitMs);
    const done = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    try {
      geo.getCurrentPosition(
        (position) =>
          done({
            latitude: position.coords.latitude,
            longitude: position.coords.longitude,
            accuracy: position.coords.accuracy,
          }),
        () => done(null),
        { enableHighAccuracy: true, timeout: waitMs, maximumAge: MAX_AGE_MS },
      );
    } catch {
      done(null);
    }
  });
}

/** Start finding the position when the scanner opens, so the scan itself rarely waits. */
export function warmUpLocation() {
  ask(LOCATION_WAIT_MS);
}

/** The position for a scan, within LOCATION_WAIT_MS; null when there is none in time. */
export function positionForScan() {
  return ask(LOCATION_WAIT_MS);
}
