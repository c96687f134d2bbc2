// The dashboard: plain browser JavaScript, no build step. It calls the service's own /v1 API with a
// read-scoped key the operator types in (kept in sessionStorage, never in the page or a cookie).
'use strict';

const $ = (selector) => document.querySelector(selector);
const state = { key: sessionStorage.getItem('token-usage-key') ?? '', chart: null };
const number = new Intl.NumberFormat('en-US');

function setStatus(text, kind = 'idle') {
  const status = $('#status');
  status.textContent = text;
  status.dataset.state = kind;
}

async function api(path) {
  const reply = await fetch(path, { headers: { authorization: `Bearer ${state.key}` } });
  const body = await reply.json();
  if (!reply.ok) throw new Error(`${path}: ${body.title ?? reply.status}${body.detail ? ` (${body.detail})` : ''}`);
  return body;
}

function cycleQuery(prefix = '?') {
  const cycle = $('#cycle').value;
  return cycle === '' ? '' : `${prefix}cycleStartDate=${cycle}`;
}

function cell(value, text = value === null ? '–' : number.format(value)) {
  const td = document.createElement('td');
  td.textContent = text;
  if (value !== null && value !== undefined) td.dataset.value = String(value);
  return td;
}

function fillTable(selector, rows, columns) {
  const body = $(`${selector} tbody`);
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.user = row.userId;
      const name = document.createElement('td');
      name.textContent = row.userId;
      tr.append(name, ...columns.map((column) => column(row)));
      tr.addEventListener('click', () => showUser(row.userId));
      return tr;
    }),
  );
}

function shareCell(row) {
  const td = cell(row.usedFraction, `${(row.usedFraction * 100).toFixed(1)} %`);
  const bar = document.createElement('span');
  bar.className = row.usedFraction >= 0.9 ? 'bar hot' : 'bar';
  bar.style.width = `${Math.min(100, Math.round(row.usedFraction * 100))}px`;
  td.prepend(bar);
  return td;
}

async function loadOverview() {
  const [nearest, top] = await Promise.all([api(`/v1/top?by=limit&n=10${cycleQuery('&')}`), api(`/v1/top?n=10${cycleQuery('&')}`)]);
  $('#cycle-label').textContent = `cycle from ${top.cycleStartDate}`;
  fillTable('#nearest', nearest.users, [(r) => cell(r.totalTokens), (r) => cell(r.limit), (r) => cell(r.remaining), shareCell]);
  fillTable('#top', top.users, [(r) => cell(r.promptTokens), (r) => cell(r.completionTokens), (r) => cell(r.totalTokens)]);
  return top.users[0]?.userId ?? nearest.users[0]?.userId;
}

function summary(field, value, text) {
  const dd = $(`#user-summary [data-field="${field}"]`);
  dd.textContent = text ?? (value === null ? '–' : number.format(value));
  dd.dataset.value = value === null ? '' : String(value);
}

const DAY_S = 86_400;

async function showUser(userId) {
  if (!userId) return;
  $('#user').value = userId;
  const id = encodeURIComponent(userId);
  const [usage, projection] = await Promise.all([api(`/v1/users/${id}/usage${cycleQuery()}`), api(`/v1/users/${id}/projection${cycleQuery()}`)]);
  const lastDay = new Date(Date.parse(`${projection.cycleEndDate}T00:00:00Z`) - DAY_S * 1000).toISOString().slice(0, 10);
  const history = await api(`/v1/users/${id}/history?from=${projection.cycleStartDate}&to=${lastDay}`);
  summary('totalTokens', usage.totalTokens);
  summary('limit', usage.limit, usage.unlimited ? 'none' : undefined);
  summary('remaining', usage.remaining, usage.unlimited ? 'unlimited' : undefined);
  summary('ratePerDay', Math.round(projection.ratePerDay));
  summary('projectedTotal', Math.round(projection.projectedTotal));
  summary('limitReachedOn', projection.limitReachedOn, projection.limitReachedOn ?? 'not this cycle');
  drawChart(history, usage, projection);
  setStatus(`Showing ${userId}.`, 'ready');
}

function drawChart(history, usage, projection) {
  const now = Date.now() / 1000;
  const xs = history.map((row) => Date.parse(row.windowStart) / 1000);
  let running = 0;
  let lastPast = -1;
  const cumulative = history.map((row, i) => {
    if (xs[i] > now) return null; // days still to come have no usage yet
    lastPast = i;
    running += row.totalTokens;
    return running;
  });
  const daily = history.map((row, i) => (xs[i] > now ? null : row.totalTokens));
  const limit = history.map(() => (usage.unlimited ? null : usage.limit));
  // The projection runs from the last recorded day to the cycle's end at the current rate.
  const end = Date.parse(`${projection.cycleEndDate}T00:00:00Z`) / 1000;
  const projected = history.map((_, i) => {
    if (lastPast < 0 || i < lastPast) return null;
    const from = cumulative[lastPast];
    return from + ((projection.projectedTotal - from) * (xs[i] - xs[lastPast])) / Math.max(1, end - DAY_S - xs[lastPast]);
  });
  const options = {
    width: Math.max(320, $('#chart').clientWidth - 16),
    height: 320,
    scales: { x: { time: true }, tokens: { auto: true }, daily: { auto: true } },
    axes: [{}, { scale: 'tokens', label: 'cumulative tokens' }, { scale: 'daily', side: 1, grid: { show: false }, label: 'tokens per day' }],
    series: [
      {},
      { label: 'per day', scale: 'daily', stroke: '#9aa7bd', fill: 'rgba(154,167,189,0.35)', paths: uPlot.paths.bars({ size: [0.6, 40] }) },
      { label: 'cumulative', scale: 'tokens', stroke: '#3b6fe0', width: 2 },
      { label: 'limit', scale: 'tokens', stroke: '#d9482b', dash: [6, 4], width: 2, points: { show: false } },
      { label: 'projection', scale: 'tokens', stroke: '#3b6fe0', dash: [2, 4], width: 2, points: { show: false } },
    ],
  };
  state.chart?.destroy();
  state.chart = new uPlot(options, [xs, daily, cumulative, limit, projected], $('#chart'));
}

async function load() {
  if (state.key === '') {
    setStatus('Enter an API key with the read scope.');
    return;
  }
  setStatus('Loading…', 'loading');
  try {
    const first = await loadOverview();
    await showUser($('#user').value || first);
    if (!first && !$('#user').value) setStatus('No usage recorded in this cycle yet.', 'ready');
  } catch (error) {
    setStatus(error.message, 'error');
  }
}

// A key may come in the URL fragment (#key=...), which browsers never send to the server.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.has('key')) {
  state.key = fragment.get('key');
  sessionStorage.setItem('token-usage-key', state.key);
  if (fragment.has('user')) $('#user').value = fragment.get('user');
  history.replaceState(null, '', location.pathname);
}
$('#api-key').value = state.key;
$('#settings').addEventListener('submit', (event) => {
  event.preventDefault();
  state.key = $('#api-key').value.trim();
  sessionStorage.setItem('token-usage-key', state.key);
  void load();
});
$('#user').addEventListener('change', () => void showUser($('#user').value.trim()).catch((error) => setStatus(error.message, 'error')));
void load();
