/**
 * The hub's own page: the national view across sites (usage by site and project, PUE/ERF/ERE
 * side by side, waits by site and partition, a project's review across sites, grants with
 * national ones) for a person signed in at the hub (`heatledger user add … --database-url`),
 * who sees what their role allows: a researcher or PI their projects at every site, the
 * committee and facility everything.
 * Plain HTML and one script served from the hub itself (the CSP allows scripts from 'self'
 * only); every value is set as text.
 */
export function hubPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HeatLedger hub: the national view</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b2733; }
  table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
  th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #d8dee4; text-align: right; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
  .err { color: #a40e26; }
  form { margin-bottom: 1rem; }
</style>
</head>
<body>
<h1>HeatLedger hub</h1>
<p>Every site's pushed ledger, side by side. Figures are over whole hours.</p>
<form id="login-form"><label>User <input id="username" autocomplete="username" data-testid="hub-username"></label>
  <label>Password <input id="password" type="password" autocomplete="current-password" data-testid="hub-password"></label>
  <button type="submit" data-testid="hub-login">Sign in</button></form>
<form id="window-form" hidden><span id="who" data-testid="hub-who"></span>
  <label>From <input id="from" type="date"></label> <label>to <input id="to" type="date"></label>
  <button type="submit" data-testid="hub-show">Show</button> <button type="button" id="logout">Sign out</button></form>
<p id="status" data-testid="hub-status"></p>
<h2>Usage and energy by site and project</h2>
<table data-testid="hub-usage"><thead><tr><th>Site</th><th>Project</th><th>GPU-hours</th><th>GPU energy kWh</th><th>Overhead kWh</th><th>Reused heat kWh</th><th>CO₂ kg</th></tr></thead><tbody></tbody></table>
<h2>Facilities</h2>
<p id="facility-note" data-testid="hub-facility-note" hidden>Facility figures are for facility managers, the committee and administrators.</p>
<table data-testid="hub-facility"><thead><tr><th>Site</th><th>Hours</th><th>IT kWh</th><th>Facility kWh</th><th>PUE</th><th>ERF</th><th>ERE</th></tr></thead><tbody></tbody></table>
<h2>Queue waits by site and partition</h2>
<table data-testid="hub-waits"><thead><tr><th>Site</th><th>Partition</th><th>Jobs</th><th>p50 h</th><th>p90 h</th><th>p99 h</th></tr></thead><tbody></tbody></table>
<h2>Review of a project across sites</h2>
<form id="review-form" hidden><label>Project <select id="review-project" data-testid="hub-review-project"></select></label>
  <button type="submit" data-testid="hub-review">Review</button></form>
<table data-testid="hub-review-sites"><thead><tr><th>Site</th><th>Partition</th><th>GPU-hours</th><th>GPU energy kWh</th><th>Reused heat kWh</th><th>CO₂ kg</th></tr></thead><tbody></tbody></table>
<table data-testid="hub-review-waits"><thead><tr><th>Site</th><th>Jobs</th><th>p50 h</th><th>p90 h</th><th>p99 h</th><th>Longest h</th></tr></thead><tbody></tbody></table>
<h2>Grants</h2>
<table data-testid="hub-grants"><thead><tr><th>Site</th><th>Project</th><th>Granted GPU-hours</th><th>Used</th><th>Used %</th></tr></thead><tbody></tbody></table>
<script type="module" src="/hub.js"></script>
</body>
</html>
`;
}

export function hubScript(): string {
  return `const $ = (id) => document.getElementById(id);
const fmt = (v, d) => (v === null || v === undefined ? '–' : Number(v).toLocaleString('en-GB', { minimumFractionDigits: d, maximumFractionDigits: d }));
const today = new Date(Math.floor(Date.now() / 3600000) * 3600000);
if (!$('to').value) $('to').value = today.toISOString().slice(0, 10);
if (!$('from').value) $('from').value = new Date(today.getTime() - 30 * 86400000).toISOString().slice(0, 10);
function fill(testid, rows) {
  const body = document.querySelector('[data-testid=' + testid + '] tbody');
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
    return tr;
  }));
}
async function get(path) {
  const res = await fetch(path);
  const body = await res.json();
  if (res.status === 403) return null;
  if (!res.ok) throw new Error(body.error?.message ?? res.statusText);
  return body;
}
/** The chosen window as a query string (whole UTC days). */
function windowQuery() {
  return 'from=' + $('from').value + 'T00:00:00Z&to=' + $('to').value + 'T00:00:00Z';
}
async function show() {
  const w = windowQuery();
  $('status').textContent = 'Loading…';
  try {
    const [usage, facility, waits, grants] = await Promise.all([get('/api/v1/hub/usage?groupBy=site,project&' + w), get('/api/v1/hub/facility?' + w), get('/api/v1/hub/waits?groupBy=site,partition&' + w), get('/api/v1/hub/grants')]);
    fill('hub-usage', usage.rows.map((r) => [r.site, r.project, fmt(r.gpuHours, 1), fmt(r.energyKWh, 1), fmt(r.overheadKWh, 1), fmt(r.reusedKWh, 1), fmt(r.co2Kg, 1)]));
    $('facility-note').hidden = facility !== null;
    fill('hub-facility', (facility?.sites ?? []).map((s) => [s.site, String(s.hours), fmt(s.itKWh, 0), fmt(s.facilityKWh, 0), fmt(s.pue, 2), fmt(s.erf, 2), fmt(s.ere, 2)]));
    fill('hub-waits', waits.rows.map((r) => [r.site, r.partition, String(r.jobs), fmt(r.p50S / 3600, 2), fmt(r.p90S / 3600, 2), fmt(r.p99S / 3600, 2)]));
    fill('hub-grants', grants.grants.map((g) => [g.site === '*' ? 'all sites' : g.site, g.project, fmt(g.gpuHours, 0), fmt(g.usedGpuHours, 1), fmt(g.usedRatio === null ? null : 100 * g.usedRatio, 0)]));
    const projects = [...new Set(usage.rows.map((r) => r.project).filter((p) => p !== '(unattributed)'))].sort();
    const chosen = $('review-project').value;
    $('review-project').replaceChildren(...projects.map((p) => { const o = document.createElement('option'); o.value = p; o.textContent = p; return o; }));
    if (projects.includes(chosen)) $('review-project').value = chosen;
    $('review-form').hidden = projects.length === 0;
    $('status').textContent = 'From ' + usage.from + ' to ' + usage.to + '.';
    $('status').className = '';
  } catch (e) {
    $('status').textContent = e.message;
    $('status').className = 'err';
  }
}
async function review() {
  try {
    const r = await get('/api/v1/hub/projects/' + encodeURIComponent($('review-project').value) + '/review?' + windowQuery());
    fill('hub-review-sites', r.byPartition.map((x) => [x.site, x.partition, fmt(x.gpuHours, 1), fmt(x.energyKWh, 1), fmt(x.reusedKWh, 1), fmt(x.co2Kg, 1)]));
    fill('hub-review-waits', r.waits.map((x) => [x.site, String(x.jobs), fmt(x.p50S / 3600, 2), fmt(x.p90S / 3600, 2), fmt(x.p99S / 3600, 2), fmt(x.maxS / 3600, 2)]));
  } catch (e) {
    $('status').textContent = e.message;
    $('status').className = 'err';
  }
}
function signedIn(me) {
  $('login-form').hidden = true;
  $('window-form').hidden = false;
  $('who').textContent = me.username + ' (' + me.role + ')' + (me.projects ? ': ' + me.projects.join(', ') : '') + '. ';
  show();
}
$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const res = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: $('username').value, password: $('password').value }) });
  const body = await res.json();
  if (!res.ok) { $('status').textContent = body.error?.message ?? res.statusText; $('status').className = 'err'; return; }
  signedIn(body);
});
$('window-form').addEventListener('submit', (e) => { e.preventDefault(); show(); });
$('review-form').addEventListener('submit', (e) => { e.preventDefault(); review(); });
$('logout').addEventListener('click', async () => { await fetch('/api/v1/auth/logout', { method: 'POST' }); location.reload(); });
fetch('/api/v1/auth/me').then(async (res) => { if (res.ok) { const me = await res.json(); if (me.kind === 'user') signedIn(me); } });
`;
}
