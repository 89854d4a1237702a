/** The short list of the latest check-ins at this display (first names only). */

const KEEP = 6;

export class Ticker {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} empty shown while the list is empty
   * @param {(ms: number) => string} formatTime
   */
  constructor(list, empty, formatTime) {
    this.list = list;
    this.empty = empty;
    this.formatTime = formatTime;
  }

  /**
   * Put a check-in at the top of the list.
   * @param {{name: string, at: string}} checkin
   */
  add({ name, at }) {
    const item = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'ticker-name';
    who.textContent = name;
    const when = document.createElement('time');
    when.className = 'ticker-time';
    const ms = Date.parse(at);
    if (!Number.isNaN(ms)) {
      when.dateTime = at;
      when.textContent = this.formatTime(ms);
    }
    item.append(who, when);
    this.list.prepend(item);
    while (this.list.children.length > KEEP) this.list.lastElementChild.remove();
    this.empty.hidden = true;
  }
}
