/** Keep the office monitor from sleeping while the page shows, where the browser allows it. */

/**
 * Hold a screen wake lock, taken again whenever the page becomes visible.
 * @returns {boolean} whether the Screen Wake Lock API exists here
 */
export function keepScreenAwake() {
  if (!('wakeLock' in navigator)) return false;
  /** @type {WakeLockSentinel|null} */
  let lock = null;
  const request = async () => {
    if (document.visibilityState !== 'visible' || (lock && !lock.released)) return;
    try {
      lock = await navigator.wakeLock.request('screen');
    } catch {
      lock = null; // refused (e.g. battery saver): the screen may sleep, nothing else breaks
    }
  };
  document.addEventListener('visibilitychange', request);
  request();
  return true;
}
