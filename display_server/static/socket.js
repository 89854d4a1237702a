/**
 * The display's websocket to /display/ws: reconnects with backoff and notices silent deaths.
 * Close codes from the server: 4401 not paired (or revoked), 4403 network or origin refused.
 */

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 15000;
const FORBIDDEN_DELAY_MS = 60000;

/**
 * @typedef {'connecting'|'connected'|'offline'|'forbidden'|'unpaired'} SocketState
 */

export class DisplaySocket {
  /**
   * @param {string} url ws: or wss: URL of /display/ws
   * @param {object} handlers
   * @param {(message: any) => void} handlers.onMessage each JSON message
   * @param {(state: SocketState, retryMs?: number) => void} handlers.onState
   * @param {number} silenceMs how long without any message before the link counts as dead
   */
  constructor(url, { onMessage, onState }, silenceMs) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.silenceMs = silenceMs;
    this.delay = FIRST_DELAY_MS;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.lastMessageAt = 0;
    this.watchdog = 0;
  }

  /** Open the connection; it is reopened after every drop. */
  start() {
    this.onState('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener('open', () => {
      this.lastMessageAt = Date.now();
      this.watchdog = window.setInterval(() => this.checkSilence(), 1000);
    });
    ws.addEventListener('message', (event) => {
      this.lastMessageAt = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === 'token') {
        this.delay = FIRST_DELAY_MS;
        this.onState('connected');
      }
      this.onMessage(message);
    });
    ws.addEventListener('close', (event) => this.closed(ws, event.code));
  }

  /** @param {WebSocket} ws @param {number} code */
  closed(ws, code) {
    if (ws !== this.ws) return;
    window.clearInterval(this.watchdog);
    this.ws = null;
    if (code === 4401) {
      this.onState('unpaired');
      return;
    }
    let wait;
    if (code === 4403) {
      wait = FORBIDDEN_DELAY_MS;
      this.onState('forbidden', wait);
    } else {
      // Jitter spreads the reconnects of many displays after a server restart.
      wait = this.delay * (0.8 + Math.random() * 0.4);
      this.delay = Math.min(this.delay * 1.7, MAX_DELAY_MS);
      this.onState('offline', wait);
    }
    window.setTimeout(() => this.start(), wait);
  }

  checkSilence() {
    if (this.ws && Date.now() - this.lastMessageAt > this.silenceMs) {
      const ws = this.ws;
      ws.close();
      this.closed(ws, 1006); // a half-open TCP link may never deliver its close event
    }
  }
}
