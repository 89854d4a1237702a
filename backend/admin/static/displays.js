// Keeps the displays' online state, last-seen time and IP current without reloading the page.
const table = document.getElementById('displays');
const POLL_MS = 3000;

/**
 * Update every row that has a `data-display-id` with the server's latest view of that display.
 * @param {Array<{id: number, state: string, state_label: string, last_seen: string, last_seen_ip: string}>} list
 */
export function applyStatus(list) {
  for (const display of list) {
    const row = table.querySelector(`[data-display-id="${display.id}"]`);
    if (!row) continue;
    const badge = row.querySelector('[data-field="state"]');
    badge.className = `badge ${display.state}`;
    badge.textContent = display.state_label;
    row.querySelector('[data-field="last_seen"]').textContent = display.last_seen;
    const ip = row.querySelector('[data-field="last_seen_ip"]');
    if (ip) ip.textContent = display.last_seen_ip || '—';
  }
}

async function poll() {
  try {
    const response = await fetch(table.dataset.statusUrl, {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
    if (response.ok) applyStatus((await response.json()).displays);
  } catch {
    // Offline for a moment: the next poll tries again.
  }
  setTimeout(poll, POLL_MS);
}

if (table && 'fetch' in window) {
  setTimeout(poll, POLL_MS);
}
