// The Commerce Ops console: reads the admin JSON API with the platform-admin
// token pasted into the sign-in form (kept in sessionStorage only) and
// renders the monthly review. Every failure is shown on the page: 401 and
// 403 in the banner (and back to sign-in), anything else in its section.
'use strict';

(function () {
  const API = '../v1/admin/numbering';
  const TOKEN = 'numbering.console.token';
  const KINDS = ['MSISDN', 'SHORT_CODE', 'ALPHA'];
  const C = window.NumberingChart;
  const $ = (sel) => document.querySelector(sel);

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const dash = (v) => (v === undefined || v === null || v === '' ? '—' : v);
  const day = (s) => (s ? String(s).slice(0, 10) : '—');
  const stamp = (s) => (s ? String(s).replace('T', ' ').slice(0, 16) + ' UTC' : '—');
  const num = (v) => (typeof v === 'number' ? v.toLocaleString('en') : dash(v));

  async function api(path, options) {
    const token = sessionStorage.getItem(TOKEN);
    let r;
    try {
      r = await fetch(API + path, {
        headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
        cache: 'no-store', credentials: 'omit', ...(options || {}),
      });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', 'The service could not be reached (' + e.message + ').');
    }
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (r.ok) return body;
    const code = (body && body.code) || 'HTTP_' + r.status;
    const detail = body && (body.detail || body.title);
    throw new ApiError(r.status, code, detail ? `${detail} (${r.status} ${code})` : `${r.status} ${code}`);
  }

  function showError(text) {
    const e = $('#error');
    e.textContent = text;
    e.hidden = !text;
  }

  function signedIn(yes) {
    $('#sign-in').hidden = yes;
    $('#dashboard').hidden = !yes;
    $('#sign-out').hidden = !yes;
    $('#refresh').hidden = !yes;
  }

  /** 401 and 403 end the session's use; true if `e` was one of them. */
  function authFailure(e) {
    if (!(e instanceof ApiError)) return false;
    if (e.status === 401) {
      sessionStorage.removeItem(TOKEN);
      showError('Your token is expired or invalid — sign in again. ' + e.message);
    } else if (e.status === 403) {
      sessionStorage.removeItem(TOKEN);
      showError('This token is not a platform admin (it lacks the platform_admin role) — sign in with an admin token. ' + e.message);
    } else {
      return false;
    }
    signedIn(false);
    return true;
  }

  function body(section) {
    return $(`#${section} .body`);
  }

  function fill(section, ...nodes) {
    body(section).replaceChildren(...nodes.filter((n) => n));
  }

  function table(head, rows, cls) {
    return el('div', { class: 'table-scroll' }, el('table', { class: cls },
      el('thead', {}, el('tr', {}, head.map((h) => el('th', { class: /^#/.test(h) ? 'num' : null }, h.replace(/^#/, ''))))),
      el('tbody', {}, rows)));
  }

  function badge(text, tone) {
    return el('span', { class: 'badge ' + tone }, text);
  }

  // --- sections ------------------------------------------------------------

  function renderUtilisation(data) {
    const rows = data.items.map((p) => el('tr', { 'data-tenant': p.tenant_id },
      el('td', {}, p.tenant_id), el('td', {}, p.display_name),
      el('td', {}, badge(p.status, p.status === 'ACTIVE' ? 'ok' : 'warn')),
      KINDS.map((k) => {
        const { quota, used } = p.kinds[k];
        const pct = quota > 0 ? Math.round((100 * used) / quota) : null;
        return el('td', { class: 'num usage', 'data-kind': k, 'data-used': used, 'data-quota': quota },
          el('span', { class: 'figures' }, `${num(used)} / ${num(quota)}`),
          pct === null ? null : el('meter', { min: 0, max: quota, value: used, low: quota * 0.7, high: quota * 0.9, optimum: 0 }),
          el('span', { class: 'pct muted' }, pct === null ? '' : ` ${pct}%`));
      })));
    fill('utilisation', rows.length
      ? table(['Tenant', 'Name', 'Status', '#MSISDN', '#Short code', '#Alpha'], rows, 'utilisation')
      : el('p', { class: 'muted' }, 'No tenant pools.'));
  }

  function blockName(b) {
    return `${b.operator_id || 'ATRA'} ${b.kind} ${b.contract_ref} ${b.range_start}–${b.range_end}`;
  }

  function legend(names) {
    return el('div', { class: 'legend' }, names.map((n, i) => el('span', {}, el('span', { class: 'swatch c' + (i % 8) }), n)));
  }

  function renderStock(f) {
    const blocks = f.blocks.filter((b) => b.history && b.history.length);
    if (!blocks.length) return fill('stock', el('p', { class: 'muted' }, 'No stock history yet.'));
    const series = blocks.map((b, i) => ({
      name: blockName(b), color: C.COLORS[i % 8], cls: 'stock',
      points: b.history.map((h) => [C.time(h.date), h.available]),
    }));
    fill('stock',
      C.timeSeries({ id: 'stock-chart', label: 'Available stock per block over time', series }),
      legend(series.map((s) => s.name)));
  }

  function forecastChart(f, b) {
    const horizon = C.time(f.generated_at.slice(0, 10)) + f.horizon_days * C.DAY;
    return C.timeSeries({
      id: 'forecast-chart',
      label: `Forecast of available stock: ${blockName(b)}`,
      series: [
        { name: 'available', color: C.COLORS[0], cls: 'history', points: b.history.map((h) => [C.time(h.date), h.available]) },
        { name: 'expected', color: C.COLORS[1], cls: 'expected', dashed: true, points: b.projection.map((p) => [C.time(p.date), p.expected]) },
      ],
      band: { color: C.COLORS[1], points: b.projection.map((p) => [C.time(p.date), p.low, p.high]) },
      markers: [{ at: horizon, label: `${f.horizon_days} days` }],
      width: 1280, height: 340,
    });
  }

  function renderForecast(f) {
    const blocks = f.blocks;
    if (!blocks.length) return fill('forecast', el('p', { class: 'muted' }, 'No contract blocks to forecast.'));
    const order = blocks.map((b, i) => i).sort((a, b) =>
      (blocks[b].flagged - blocks[a].flagged) || ((blocks[a].days_to_exhaustion ?? 1e9) - (blocks[b].days_to_exhaustion ?? 1e9)));
    const select = el('select', { id: 'forecast-block', 'aria-label': 'Block' },
      order.map((i) => el('option', { value: i }, (blocks[i].flagged ? '⚠ ' : '') + blockName(blocks[i]))));
    const chart = el('div', { class: 'chart-holder' });
    const draw = () => chart.replaceChildren(forecastChart(f, blocks[Number(select.value)]) || el('p', { class: 'muted' }, 'No data.'));
    select.addEventListener('change', draw);
    const rows = order.map((i) => {
      const b = blocks[i];
      return el('tr', { 'data-block': i },
        el('td', {}, dash(b.operator_id)), el('td', {}, b.kind), el('td', {}, b.contract_ref),
        el('td', {}, `${b.range_start}–${b.range_end}`), el('td', { class: 'num' }, num(b.total)),
        el('td', { class: 'num' }, num(b.available)), el('td', { class: 'num' }, num(Math.round(b.daily_rate * 100) / 100)),
        el('td', {}, day(b.exhaustion_date), b.exhaustion_low ? el('span', { class: 'muted' }, ` (${day(b.exhaustion_low)} – ${day(b.exhaustion_high)})`) : null),
        el('td', { class: 'num' }, num(b.days_to_exhaustion)),
        el('td', {}, b.flagged ? badge(`within ${f.horizon_days} days`, 'bad') : badge('ok', 'ok')));
    });
    fill('forecast',
      el('p', { class: 'muted', title: f.method }, `Generated ${stamp(f.generated_at)} · ${f.method.split(/[(,;]/)[0].trim()} · horizon ${f.horizon_days} days`),
      el('div', { class: 'controls' }, select), chart,
      legend(['available (history)', 'expected, with its interval']),
      table(['Operator', 'Kind', 'Contract', 'Range', '#Total', '#Available', '#Per day', 'Exhaustion (interval)', '#Days', 'Flag'], rows, 'forecast'));
    draw();
  }

  function forecastUnavailable(e) {
    const text = e.status === 404
      ? 'Forecast unavailable: this deployment does not serve the forecast yet.'
      : 'Forecast unavailable: ' + e.message;
    for (const s of ['stock', 'forecast']) fill(s, el('p', { class: 'unavailable' }, text));
  }

  function renderContracts(data) {
    const soon = Date.now() + 60 * C.DAY;
    const rows = data.items
      .slice()
      .sort((a, b) => String(a.ends_on || '9999').localeCompare(String(b.ends_on || '9999')))
      .map((c) => {
        const ending = c.ends_on && C.time(c.ends_on) <= soon && c.status !== 'ENDED';
        return el('tr', { 'data-contract': c.contract_ref },
          el('td', {}, c.contract_ref), el('td', {}, dash(c.operator_id)), el('td', {}, c.kind),
          el('td', {}, `${c.range_start}–${c.range_end}`), el('td', {}, day(c.starts_on)),
          el('td', {}, c.ends_on ? day(c.ends_on) : '—', ending ? badge('ends within 60 days', 'warn') : null),
          el('td', { class: 'status' }, c.status ? badge(c.status, c.status === 'ACTIVE' ? 'ok' : 'neutral') : '—'),
          el('td', {}, c.ended_at ? stamp(c.ended_at) : '—'));
      });
    fill('contracts', rows.length
      ? table(['Contract', 'Operator', 'Kind', 'Range', 'Starts', 'Ends', 'Status', 'Ended'], rows, 'contracts')
      : el('p', { class: 'muted' }, 'No contracts.'));
  }

  function renderQuarantine(data) {
    const byDay = new Map();
    for (const q of data.items) {
      const d = day(q.ends_at);
      if (!byDay.has(d)) byDay.set(d, []);
      byDay.get(d).push(q);
    }
    const days = [...byDay.keys()].sort();
    if (!days.length) return fill('quarantine', el('p', { class: 'muted' }, 'Nothing in quarantine.'));
    const rows = days.map((d) => {
      const qs = byDay.get(d);
      const shown = qs.slice(0, 5).map((q) => q.identifier).join(', ');
      return el('tr', { 'data-day': d }, el('td', {}, d), el('td', { class: 'num' }, qs.length),
        el('td', {}, shown + (qs.length > 5 ? ` and ${qs.length - 5} more` : '')));
    });
    fill('quarantine',
      C.bars({ id: 'quarantine-chart', label: 'Identifiers leaving quarantine per day', bars: days.map((d) => ({ at: C.time(d), value: byDay.get(d).length })) }),
      data.items.length >= 500 ? el('p', { class: 'muted' }, 'The 500 soonest are shown.') : null,
      table(['Leaves cool-off', '#Identifiers', 'Which'], rows, 'quarantine'));
  }

  function verificationSummary(v, at) {
    const intact = v.result ? v.result === 'intact' : v.intact;
    const broken = v.broken || v.first_break;
    return el('dl', {},
      el('dt', {}, 'Result'), el('dd', { class: 'result' }, badge(intact ? 'intact' : 'BROKEN', intact ? 'ok' : 'bad'),
        broken ? ` at position ${broken.position}: ${broken.detail || broken.kind}` : ''),
      el('dt', {}, 'When'), el('dd', {}, stamp(at)),
      el('dt', {}, 'Entries verified'), el('dd', {}, num(v.entries_verified ?? v.checked)),
      el('dt', {}, 'Head'), el('dd', {}, v.head ? `#${v.head.seq}` : '—'),
      el('dt', {}, 'Pending'), el('dd', {}, num(v.pending)));
  }

  function renderAudit(data) {
    const last = data.items[0];
    fill('audit', last
      ? el('div', {}, el('p', { class: 'muted' }, 'Last scheduled verification'), verificationSummary(last.verification, last.occurred_at))
      : el('p', { class: 'muted' }, 'No scheduled verification within the outbox retention; use Verify now.'));
  }

  async function verifyNow() {
    const out = $('#verify-result');
    out.replaceChildren(el('p', { class: 'muted' }, 'Verifying…'));
    try {
      const v = await api('/audit/verify');
      out.replaceChildren(el('p', { class: 'muted' }, 'Verification just now'), verificationSummary(v, new Date().toISOString()));
    } catch (e) {
      if (!authFailure(e)) out.replaceChildren(el('p', { class: 'section-error' }, e.message));
    }
  }

  function renderExports(data) {
    const tone = { ACKNOWLEDGED: 'ok', SUBMITTED: 'ok', FAILED: 'bad', REJECTED: 'bad' };
    const rows = data.items.map((x) => el('tr', { 'data-export': x.id },
      el('td', {}, x.period), el('td', { class: 'num' }, x.version), el('td', {}, badge(x.status, tone[x.status] || 'neutral')),
      el('td', {}, stamp(x.generated_at)), el('td', {}, stamp(x.submitted_at)), el('td', {}, stamp(x.acknowledged_at)),
      el('td', {}, dash(x.rejection_reason || x.failure_reason))));
    fill('exports', rows.length
      ? table(['Period', '#Version', 'Status', 'Generated', 'Submitted', 'Acknowledged', 'Reason'], rows, 'exports')
      : el('p', { class: 'muted' }, 'No regulator export yet.'));
  }

  const SECTIONS = [
    ['utilisation', '/utilisation', renderUtilisation],
    ['forecast', '/forecast', (f) => { renderStock(f); renderForecast(f); }, forecastUnavailable],
    ['contracts', '/contracts', renderContracts],
    ['quarantine', '/quarantine?limit=500', renderQuarantine],
    ['audit', '/audit/verifications?limit=1', renderAudit],
    ['exports', '/exports?limit=12', renderExports],
  ];

  async function load() {
    showError('');
    signedIn(true);
    for (const [s] of SECTIONS) fill(s, el('p', { class: 'muted loading' }, 'Loading…'));
    fill('stock', el('p', { class: 'muted loading' }, 'Loading…'));
    const results = await Promise.allSettled(SECTIONS.map(([, path]) => api(path)));
    // an auth failure anywhere ends the session: one message, the sign-in form
    for (const r of results) if (r.status === 'rejected' && authFailure(r.reason)) return;
    let network = false;
    results.forEach((r, i) => {
      const [section, , render, unavailable] = SECTIONS[i];
      try {
        if (r.status === 'fulfilled') render(r.value);
        else if (unavailable) unavailable(r.reason);
        else throw r.reason;
      } catch (e) {
        network = network || (e instanceof ApiError && e.status === 0);
        const failed = () => el('p', { class: 'section-error' }, 'Could not load: ' + e.message);
        fill(section, failed());
        if (section === 'forecast') fill('stock', failed());
      }
    });
    if (network) showError('The service could not be reached; the sections below show what failed. Try Refresh.');
    $('#loaded-at').textContent = 'loaded ' + stamp(new Date().toISOString());
    document.body.dataset.loaded = String(Date.now());
  }

  function start() {
    $('#sign-in-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const token = $('#token').value.trim().replace(/^Bearer\s+/i, '');
      if (!token) return;
      sessionStorage.setItem(TOKEN, token);
      $('#token').value = '';
      load();
    });
    $('#sign-out').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN);
      showError('');
      signedIn(false);
    });
    $('#refresh').addEventListener('click', load);
    $('#verify-now').addEventListener('click', verifyNow);
    if (sessionStorage.getItem(TOKEN)) load();
    else signedIn(false);
  }

  try {
    start();
  } catch (e) {
    showError('The console failed to start: ' + e.message);
  }
})();
