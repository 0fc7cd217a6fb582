// Small SVG charts for the console, with no dependency: time series with an
// optional interval band and vertical markers, and daily bars. Everything
// is built with DOM calls (no inline style, no innerHTML), which the page's
// Content-Security-Policy allows.
'use strict';

(function () {
  const NS = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1f6feb', '#d97706', '#2e7d32', '#9333ea', '#c62828', '#0891b2', '#4b5563', '#be185d'];
  const M = { top: 14, right: 34, bottom: 28, left: 58 };
  let W = 760, H = 280;
  const DAY = 86400000;

  function node(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Milliseconds of a `YYYY-MM-DD` date (UTC midnight) or a timestamp. */
  function time(s) {
    return Date.parse(s.length === 10 ? s + 'T00:00:00Z' : s);
  }

  function isoDay(t) {
    return new Date(t).toISOString().slice(0, 10);
  }

  /** About `n` round steps covering [0, hi]. */
  function valueTicks(hi, n) {
    const raw = hi / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = 0; v <= hi + step / 2; v += step) out.push(v);
    return out;
  }

  /** The scales and axes of a chart over `xs` (ms) and `ys`, from 0 up. */
  function frame(label, xs, ys, id) {
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    if (!(x1 > x0)) { x0 -= DAY; x1 += DAY; }
    const ticks = valueTicks(Math.max(1, ...ys) * 1.05, 4);
    const y1 = ticks[ticks.length - 1];
    const sx = (t) => M.left + ((t - x0) / (x1 - x0)) * (W - M.left - M.right);
    const sy = (v) => H - M.bottom - (v / y1) * (H - M.top - M.bottom);
    const svg = node('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label });
    if (id) svg.id = id;
    svg.appendChild(node('title', {}, label));
    const axes = node('g', { class: 'axes' });
    for (const v of ticks) {
      axes.appendChild(node('line', { x1: M.left, x2: W - M.right, y1: sy(v), y2: sy(v), stroke: '#e3e8ee' }));
      axes.appendChild(node('text', { x: M.left - 6, y: sy(v) + 4, 'text-anchor': 'end' }, v.toLocaleString('en')));
    }
    const days = Math.max(1, Math.ceil((x1 - x0) / DAY / 6));
    for (let t = Math.ceil(x0 / DAY) * DAY; t <= x1; t += days * DAY) {
      axes.appendChild(node('line', { x1: sx(t), x2: sx(t), y1: H - M.bottom, y2: H - M.bottom + 4, stroke: '#8894a3' }));
      axes.appendChild(node('text', { x: sx(t), y: H - 8, 'text-anchor': 'middle' }, isoDay(t)));
    }
    axes.appendChild(node('line', { x1: M.left, x2: W - M.right, y1: sy(0), y2: sy(0), stroke: '#8894a3' }));
    svg.appendChild(axes);
    return { svg, sx, sy };
  }

  function polyline(points, sx, sy) {
    return points.map(([t, v], i) => `${i ? 'L' : 'M'}${sx(t).toFixed(1)},${sy(v).toFixed(1)}`).join(' ');
  }

  /**
   * A time-series chart. `series`: [{name, color, points: [[ms, value]],
   * dashed, cls}]; `band`: {points: [[ms, low, high]], color} or null;
   * `markers`: [{at: ms, label}]; `width` × `height`: the drawing's units. Each drawn line or band carries its
   * point count in `data-points`.
   */
  function timeSeries({ id, label, series, band, markers, width, height }) {
    [W, H] = [width || 760, height || 280];
    const xs = [], ys = [];
    for (const s of series) for (const [t, v] of s.points) { xs.push(t); ys.push(v); }
    if (band) for (const [t, lo, hi] of band.points) { xs.push(t); ys.push(lo, hi); }
    for (const m of markers || []) xs.push(m.at);
    if (!xs.length) return null;
    const { svg, sx, sy } = frame(label, xs, ys, id);
    if (band && band.points.length) {
      const upper = band.points.map(([t, , hi]) => [t, hi]);
      const lower = band.points.map(([t, lo]) => [t, lo]).reverse();
      const d = polyline(upper, sx, sy) + ' ' + polyline(lower, sx, sy).replace(/^M/, 'L') + ' Z';
      svg.appendChild(node('path', {
        d, class: 'band', fill: band.color, 'fill-opacity': 0.18, stroke: 'none',
        'data-points': band.points.length,
      }));
    }
    for (const s of series) {
      if (!s.points.length) continue;
      svg.appendChild(node('path', {
        d: polyline(s.points, sx, sy), class: 'series ' + (s.cls || ''), fill: 'none', stroke: s.color,
        'stroke-width': 2, 'stroke-dasharray': s.dashed ? '6 4' : 'none', 'data-points': s.points.length,
        'data-name': s.name,
      }));
      if (s.points.length === 1) {
        const [t, v] = s.points[0];
        svg.appendChild(node('circle', { cx: sx(t), cy: sy(v), r: 3, fill: s.color }));
      }
    }
    for (const m of markers || []) {
      const g = node('g', { class: 'marker', 'data-at': isoDay(m.at) });
      g.appendChild(node('line', {
        x1: sx(m.at), x2: sx(m.at), y1: M.top, y2: H - M.bottom, stroke: '#c62828', 'stroke-dasharray': '4 3',
      }));
      g.appendChild(node('text', { x: sx(m.at) - 4, y: M.top + 10, 'text-anchor': 'end' }, m.label));
      svg.appendChild(g);
    }
    return svg;
  }

  /** Daily bars: `bars` is [{at: ms, value}]. */
  function bars({ id, label, bars }) {
    if (!bars.length) return null;
    [W, H] = [760, 240];
    const xs = bars.map((b) => b.at);
    const { svg, sx, sy } = frame(label, [Math.min(...xs) - DAY / 2, Math.max(...xs) + DAY / 2], bars.map((b) => b.value), id);
    const width = Math.max(2, Math.min(28, (sx(xs[0] + DAY) - sx(xs[0])) * 0.7));
    for (const b of bars) {
      svg.appendChild(node('rect', {
        x: sx(b.at) - width / 2, y: sy(b.value), width, height: sy(0) - sy(b.value),
        fill: COLORS[0], class: 'bar', 'data-day': isoDay(b.at), 'data-value': b.value,
      }));
    }
    return svg;
  }

  window.NumberingChart = { timeSeries, bars, time, isoDay, COLORS, DAY };
})();
