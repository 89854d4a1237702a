/**
 * The server's clock as seen from the page. Only the server's time counts: the office
 * computer's own clock may be minutes off, so every message carries `server_time`.
 */

const SAMPLES = 8;

export class ServerClock {
  /**
   * @param {string} timeZone the office's IANA time zone, e.g. "Asia/Jakarta"
   * @param {string} lang "id" or "en"
   */
  constructor(timeZone, lang) {
    /** @type {number[]} */
    this.offsets = [];
    const locale = lang === 'en' ? 'en-GB' : 'id-ID';
    const zone = ServerClock.validZone(timeZone);
    this.timeFormat = new Intl.DateTimeFormat(locale, {
      timeZone: zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
    });
    this.shortTimeFormat = new Intl.DateTimeFormat(locale, {
      timeZone: zone, hour: '2-digit', minute: '2-digit', hour12: false,
    });
    this.dateFormat = new Intl.DateTimeFormat(locale, {
      timeZone: zone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
    });
  }

  /** @param {string} zone @returns {string|undefined} */
  static validZone(zone) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return zone;
    } catch {
      return undefined;
    }
  }

  /**
   * Record a server timestamp just received. Network delay only makes a sample late, so the
   * largest recent offset is the best estimate.
   * @param {number} serverTime seconds since the epoch
   */
  sync(serverTime) {
    this.offsets.push(serverTime * 1000 - Date.now());
    if (this.offsets.length > SAMPLES) this.offsets.shift();
  }

  /** @returns {boolean} */
  get synced() {
    return this.offsets.length > 0;
  }

  /** @returns {number} the server's time now, in milliseconds since the epoch */
  now() {
    return Date.now() + (this.offsets.length ? Math.max(...this.offsets) : 0);
  }

  /** @param {number} ms @returns {string} */
  time(ms) {
    return this.timeFormat.format(ms);
  }

  /** @param {number} ms @returns {string} */
  shortTime(ms) {
    return this.shortTimeFormat.format(ms);
  }

  /** @param {number} ms @returns {string} */
  date(ms) {
    return this.dateFormat.format(ms);
  }
}
