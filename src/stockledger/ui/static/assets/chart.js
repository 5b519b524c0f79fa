// The stream chart: onHand, available and reserved after each event, as step lines over time,
// drawn as SVG by hand (no library), with the time-travel instant marked.

import { h, s, when } from './dom.js';

const W = 800;
const H = 240;
const PAD = { left: 48, right: 16, top: 12, bottom: 28 };
const SERIES = [
  { key: 'onHand', label: 'On hand', class: 'on-hand' },
  { key: 'available', label: 'Available', class: 'available' },
  { key: 'reserved', label: 'Reserved', class: 'reserved' },
];

/** `events`: history entries (recordedAt, balance) in version order; `at`: an instant or null. */
export function chart(events, at, { start } = {}) {
  const points = events.map((e) => ({ t: Date.parse(e.recordedAt), b: e.balance }));
  if (start) points.unshift({ t: Date.parse(start.recordedAt), b: start.balance });
  const figure = h('figure', { class: 'chart' });
  if (points.length === 0) return figure;
  const marker = at ? Date.parse(at) : null;
  let t0 = points[0].t;
  let t1 = points[points.length - 1].t;
  if (marker !== null && marker > t1) t1 = marker;
  if (marker !== null && marker < t0) t0 = marker;
  if (t1 === t0) t1 = t0 + 1;
  t1 += (t1 - t0) * 0.03; // room after the last event, so its level shows as a step
  const top = Math.max(1, ...points.map((p) => Math.max(p.b.onHand, p.b.available, p.b.reserved)));
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const end = x(Math.max(t1, points[points.length - 1].t));

  const lines = SERIES.map((series) => {
    let d = '';
    points.forEach((p, i) => {
      const px = x(p.t).toFixed(1);
      const py = y(p.b[series.key]).toFixed(1);
      d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
    });
    d += `H${end.toFixed(1)}`;
    return s('path', { d, class: `line ${series.class}` });
  });
  const axes = [
    s('line', { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), class: 'axis' }),
    s('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: y(0), class: 'axis' }),
    s('text', { x: PAD.left - 6, y: y(top) + 4, class: 'tick end' }, String(top)),
    s('text', { x: PAD.left - 6, y: y(0) + 4, class: 'tick end' }, '0'),
    s('text', { x: PAD.left, y: H - 8, class: 'tick' }, when(new Date(t0).toISOString())),
    s('text', { x: W - PAD.right, y: H - 8, class: 'tick end' }, when(new Date(t1).toISOString())),
  ];
  const mark = marker === null ? [] : [
    s('line', { x1: x(marker), y1: PAD.top, x2: x(marker), y2: y(0), class: 'marker', 'data-at': at }),
    s('text', { x: Math.min(x(marker) + 4, W - 120), y: PAD.top + 10, class: 'tick marker-label' }, `as of ${when(at)}`),
  ];
  const description = `On hand, available and reserved after each of ${events.length} events, ${when(new Date(t0).toISOString())} to ${when(new Date(t1).toISOString())}` + (at ? `; the line marks ${when(at)}` : '');
  figure.append(
    s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title' },
      s('title', { id: 'chart-title' }, description), ...axes, ...lines, ...mark),
    h('figcaption', {}, h('ul', { class: 'legend' }, SERIES.map((x) => h('li', { class: x.class }, x.label)))),
  );
  return figure;
}
