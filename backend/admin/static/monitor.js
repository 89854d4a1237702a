// The live monitor: new scans appear as they arrive (server-sent events) and the per-unit counts
// follow shortly after, without reloading the page.
const root = document.getElementById('monitor');
const latest = root?.querySelector('[data-latest]');
const status = document.querySelector('[data-live-status]');
const MAX_ROWS = 50;
const REFRESH_MS = 2000;
let refreshTimer = 0;

/**
 * Put one scan at the top of the latest-scans table.
 * @param {{time: string, name: string, unit: string, office: string, kind: string}} scan
 */
export function showScan(scan) {
  const row = document.createElement('tr');
  for (const text of [scan.time, scan.name, scan.unit, scan.office, scan.kind]) {
    const cell = document.createElement('td');
    cell.textContent = text;
    row.append(cell);
  }
  row.firstElementChild.className = 'mono';
  row.className = 'fresh';
  latest.prepend(row);
  while (latest.rows.length > MAX_ROWS) latest.deleteRow(-1);
}

/**
 * Write the server's per-unit counts into the table rows marked with `data-unit`.
 * @param {{units: Array<{name: string, present: number, expected: number, late: number, rate: number|null}>}} data
 */
export function showCounts(data) {
  for (const unit of data.units) {
    const row = root.querySelector(`tr[data-unit="${CSS.escape(unit.name)}"]`);
    if (!row) continue;
    for (const field of ['present', 'expected', 'late', 'rate']) {
      const value = unit[field];
      row.querySelector(`[data-field="${field}"]`).textContent = value === null ? '—' : String(value);
    }
  }
}

async function refresh() {
  refreshTimer = 0;
  try {
    const response = await fetch(root.dataset.summaryUrl, {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
    if (response.ok) showCounts(await response.json());
  } catch {
    // The next scan schedules another refresh.
  }
}

function connect() {
  const source = new EventSource(root.dataset.streamUrl);
  source.addEventListener('open', () => { status.textContent = root.dataset.liveLabel; });
  source.addEventListener('error', () => { status.textContent = root.dataset.offlineLabel; });
  source.addEventListener('checkin', (event) => {
    showScan(JSON.parse(event.data));
    if (!refreshTimer) refreshTimer = setTimeout(refresh, REFRESH_MS);
  });
}

if (root && latest && 'EventSource' in window) connect();
