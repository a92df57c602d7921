// The live status page: polls GET /v1/status every 2 s (the session cookie rides along; the page
// never sees the admin token) and redraws the region cards. No framework: DOM built with textContent
// only, so nothing from a heartbeat is ever parsed as HTML.

const POLL_MS = 2_000;
/** After this long without a good answer the "updated" line turns red. */
const STALE_AFTER_MS = 6_000;
let lastOkMs = 0;

/** Creates an element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

const ms = (v) =>
  v === undefined
    ? '–'
    : v < 10
      ? `${v.toFixed(2)} ms`
      : v < 10_000
        ? `${Math.round(v)} ms`
        : `${(v / 1000).toFixed(1)} s`;
const age = (v) => (v < 1_000 ? 'now' : `${Math.round(v / 1000)} s ago`);
const short = (id) => (id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);

function kpi(label, value, bad) {
  return el('div', { class: bad ? 'kpi bad' : 'kpi' }, el('b', {}, value), el('span', {}, label));
}

function table(caption, columns, rows, empty) {
  const section = [el('h3', {}, caption)];
  if (rows.length === 0) {
    section.push(el('p', { class: 'none' }, empty));
    return section;
  }
  const head = el('tr', {}, ...columns.map(([name, num]) => el('th', num ? { class: 'num' } : {}, name)));
  section.push(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
  return section;
}

function frontEndRows(list, kind) {
  return list.map((f) =>
    el(
      'tr',
      { 'data-instance': f.instanceId, 'data-kind': kind },
      el('td', { class: 'id', title: f.instanceId }, f.instanceId),
      el('td', { class: 'num' }, f.sessions),
      el('td', { class: 'num' }, f.calls?.count ?? '–'),
      el('td', { class: f.calls?.errors ? 'num stale' : 'num' }, f.calls?.errors ?? '–'),
      el('td', { class: 'num' }, ms(f.calls?.p50Ms)),
      el('td', { class: 'num' }, ms(f.calls?.p95Ms)),
      el('td', { class: 'num' }, age(f.ageMs)),
    ),
  );
}

const FRONT_COLUMNS = (sessions) => [
  ['instance'],
  [sessions, true],
  ['calls/min', true],
  ['errors', true],
  ['p50', true],
  ['p95', true],
  ['last beat', true],
];

function regionCard(r) {
  const errorRatio = r.calls.count > 0 ? r.calls.errors / r.calls.count : 0;
  const workers = r.workers.map((w) =>
    el(
      'tr',
      { 'data-worker': w.instanceId },
      el('td', { class: 'id', title: w.instanceId }, w.instanceId),
      el('td', { class: 'id', title: w.versionId }, short(w.versionId)),
      el('td', { class: 'num' }, w.sessions),
      el('td', { class: w.freeCapacity === 0 ? 'num full' : 'num' }, `${w.freeCapacity} / ${w.capacity ?? '?'}`),
      el('td', { class: 'num' }, age(w.ageMs)),
    ),
  );
  const versions = r.versions.map((v) =>
    el(
      'tr',
      { 'data-version': v.versionId },
      el('td', { class: 'id', title: v.versionId }, v.versionId),
      el('td', { class: 'num' }, v.workers),
      el('td', { class: 'num' }, v.capacity - v.freeCapacity),
      el('td', { class: v.freeCapacity === 0 ? 'num full' : 'num' }, v.freeCapacity),
      el('td', { class: 'num' }, v.capacity),
    ),
  );
  return el(
    'section',
    { class: 'region', 'data-region': r.region, 'data-healthy': r.healthy, 'aria-label': `region ${r.region}` },
    el(
      'h2',
      {},
      r.region,
      el('span', { class: r.healthy ? 'badge healthy' : 'badge unhealthy' }, r.healthy ? 'healthy' : 'no front end'),
      el('span', { class: 'muted' }, `last beat ${age(r.lastBeatAgeMs)}`),
    ),
    el(
      'div',
      { class: 'kpis' },
      kpi('sessions held', r.sessions),
      kpi('workers', r.workers.length),
      kpi('calls / min', r.calls.count),
      kpi(
        'errors',
        `${r.calls.errors}${r.calls.count ? ` (${(errorRatio * 100).toFixed(1)}%)` : ''}`,
        errorRatio > 0.01,
      ),
      kpi('p50 (worst)', ms(r.calls.worstP50Ms)),
      kpi('p95 (worst)', ms(r.calls.worstP95Ms), (r.calls.worstP95Ms ?? 0) > 500),
    ),
    ...table('gRPC proxies', FRONT_COLUMNS('sessions'), frontEndRows(r.proxies, 'grpc-proxy'), 'no gRPC proxy beating'),
    ...table(
      'Invocation (HTTP)',
      FRONT_COLUMNS('in flight'),
      frontEndRows(r.invocations, 'invocation'),
      'no invocation instance beating',
    ),
    ...table(
      'Capacity per function version',
      [['version'], ['workers', true], ['used', true], ['free', true], ['total', true]],
      versions,
      'no worker',
    ),
    ...table(
      'Workers',
      [['worker'], ['version'], ['sessions', true], ['free / total', true], ['last beat', true]],
      workers,
      'no worker beating',
    ),
  );
}

function render(doc) {
  const main = document.getElementById('regions');
  const cards = doc.regions.map(regionCard);
  if (cards.length === 0)
    cards.push(
      el(
        'p',
        { class: 'none' },
        'No region is beating: no proxy, invocation instance or worker heartbeat reaches this API.',
      ),
    );
  main.replaceChildren(...cards);
  main.setAttribute('aria-busy', 'false');
  const healthy = doc.regions.filter((r) => r.healthy).length;
  document.getElementById('summary').textContent =
    `${doc.regions.length} region(s), ${healthy} healthy · served by ${doc.servedBy}`;
}

function showUpdated() {
  const updated = document.getElementById('updated');
  const since = Date.now() - lastOkMs;
  updated.textContent =
    lastOkMs === 0 ? '' : since < STALE_AFTER_MS ? 'live' : `no update for ${Math.round(since / 1000)} s`;
  updated.classList.toggle('stale', lastOkMs !== 0 && since >= STALE_AFTER_MS);
}

async function poll() {
  try {
    const res = await fetch('/v1/status', { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) {
      window.location.assign('/ui'); // the session ended: the login form
      return;
    }
    if (res.ok) {
      render(await res.json());
      lastOkMs = Date.now();
    }
  } catch {
    // The API is unreachable: keep the last picture; the "updated" line says how old it is.
  }
  showUpdated();
  setTimeout(poll, POLL_MS);
}

poll();
