// The stream page (/ui/stock/{sku}/{warehouseId}): the levels now and where they came from,
// time travel (a slider and a date-time field; `?at=` reproduces the view), a chart and a page
// of the history with the balance after each event. Versions run 1..n without gaps, so a page
// is the window of versions (after, after + PAGE]; the latest page is the default.

import { ApiError, explain, getJson, sourceNote, v1 } from '../api.js';
import { chart } from '../chart.js';
import { eventButton } from '../drawer.js';
import { field, fromLocalInput, h, levelColumns, link, localInput, notice, num, path, streamPath, table, time, when } from '../dom.js';
import { may, navigate } from '../main.js';
import { lotsSection } from './lots.js';

const PAGE = 100;
const LEVELS = [['onHand', 'On hand'], ['reserved', 'Reserved'], ['available', 'Available'], ['inTransit', 'In transit'], ['damaged', 'Damaged']];

function levels(id, values) {
  return h('dl', { class: 'levels', id }, LEVELS.map(([key, label]) =>
    h('div', {}, h('dt', {}, label), h('dd', { 'data-key': key }, num(values[key])))));
}

function change(before, after) {
  if (!before) return '';
  return LEVELS.filter(([key]) => key !== 'available' && after[key] !== before[key])
    .map(([key, label]) => `${after[key] > before[key] ? '+' : '−'}${Math.abs(after[key] - before[key])} ${label.toLowerCase()}`)
    .join(', ');
}

export async function stream(page, { params: [sku, warehouseId], query, current }) {
  const at = query.get('at');
  const history = may('history');
  page.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/ui/', 'Stock'), ' › ',
      link(path('stock', sku), sku), ' › ', h('span', { 'aria-current': 'page' }, warehouseId)),
    h('h1', {}, `${sku} in ${warehouseId}`));
  const base = v1('stock', sku, warehouseId);
  const first = history ? getJson(`${base}/history`, { params: { limit: 1 } }) : null;
  const then = history && at ? getJson(`${base}/at`, { params: { timestamp: at } }) : null;
  for (const pending of [first, then]) pending?.catch(() => {}); // each is awaited below
  let now;
  try {
    now = await getJson(base);
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  const level = now.body;
  if (level.kit) { // a kit holds no stock of its own: its stream has no history
    return page.append(notice('info', `${sku} is a kit: ${num(level.available)} can be made in ${warehouseId} now. `,
      link(path('kits', sku), 'See its components')));
  }
  page.append(h('section', { 'aria-labelledby': 'now-title' },
    h('h2', { id: 'now-title' }, 'Now'), levels('now', level),
    h('p', {}, `Version ${num(level.version)}, last event `, time(level.updatedAt), '.'),
    sourceNote(now.headers) ?? ''));
  if (!history) {
    return page.append(notice('warn', "Your key's role may not read this stream's history or its past levels."));
  }
  const lots = await lotsSection(sku, warehouseId, at); // lot-tracked items only
  if (!current()) return;
  if (lots) page.append(lots);

  let asOf = null;
  let travelNote = null;
  if (then) {
    try {
      asOf = (await then).body;
    } catch (error) {
      if (!(error instanceof ApiError) || ![404, 422].includes(error.status)) throw error;
      travelNote = error.status === 404 ? `${sku} in ${warehouseId} had no events by ${when(at)}.` : `Not an instant: ${error.problem?.detail ?? at}`;
    }
  }
  let start;
  try {
    start = (await first).body.events[0];
  } catch (error) {
    return page.append(await explain(error, { what: "this stream's history" }));
  }
  const latest = level.version;
  const requested = Number.parseInt(query.get('after') ?? '', 10);
  const after = Number.isInteger(requested) ? Math.max(0, Math.min(requested, latest - 1))
    : asOf ? Math.max(0, Math.min(asOf.version - PAGE / 2, latest - PAGE))
    : Math.max(0, latest - PAGE);
  // One event before the window too, for the change the window's first event made.
  const params = after > 0 ? { after: after - 1, limit: PAGE + 1 } : { after: 0, limit: PAGE };
  let entries;
  let next;
  try {
    ({ events: entries, next } = (await getJson(`${base}/history`, { params })).body);
  } catch (error) {
    return page.append(await explain(error, { what: "this stream's history" }));
  }
  if (!current()) return;
  const before = after > 0 && entries[0]?.version === after ? entries.shift() : null;

  page.append(travel({ sku, warehouseId, at, asOf, travelNote, start, level, query }));
  page.append(h('section', { 'aria-labelledby': 'chart-title-h' },
    h('h2', { id: 'chart-title-h' }, entries.length ? `Levels, versions ${num(entries[0].version)} to ${num(entries[entries.length - 1].version)}` : 'Levels'),
    chart(entries, asOf || travelNote ? at : null, { start: before })));

  const shown = [...entries].reverse(); // newest first
  const previous = new Map(entries.map((e, i) => [e.version, i > 0 ? entries[i - 1].balance : before?.balance ?? (e.version === 1 ? { onHand: 0, reserved: 0, inTransit: 0, damaged: 0 } : null)]));
  const columns = [
    { label: 'Version', numeric: true, value: (e) => num(e.version) },
    { label: 'Recorded', value: (e) => time(e.recordedAt) },
    { label: 'Event', value: (e) => eventButton(e) },
    { label: 'Change', value: (e) => change(previous.get(e.version), e.balance) },
    ...levelColumns((e) => e.balance),
    { label: 'Who', value: (e) => e.metadata?.causedBy ?? '' },
    { label: 'Correlation', value: (e) => (e.metadata?.correlationId ? link(path('correlations', e.metadata.correlationId), e.metadata.correlationId) : '') },
  ];
  const rowAttrs = (e) => ({ 'data-version': e.version, class: asOf && e.version === asOf.version ? 'at' : null });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of the history' });
  const page_ = (n) => {
    const q = new URLSearchParams(query);
    if (n === null) q.delete('after');
    else q.set('after', String(n));
    return streamPath(sku, warehouseId, Object.fromEntries(q));
  };
  if (after > 0) pager.append(link(page_(0), 'First events'), link(page_(Math.max(0, after - PAGE)), 'Older events'));
  if (next || after + PAGE < latest) pager.append(link(page_(after + PAGE), 'Newer events'), link(page_(null), 'Latest events'));
  page.append(h('section', { 'aria-labelledby': 'history-title' },
    h('h2', { id: 'history-title' }, 'History'),
    h('p', {}, 'Each event with the balance right after it, newest first. Open an event for its envelope, who caused it and its hash.'),
    table(`History of ${sku} in ${warehouseId}`, columns, shown, { rowAttrs }), pager));
}

/** The time-travel control: a slider over the stream's life and a date-time field. */
function travel({ sku, warehouseId, at, asOf, travelNote, start, level, query }) {
  // Milliseconds, while events are recorded in microseconds: each end is the millisecond after
  // its event, so the slider's ends show the first event's and the last event's levels.
  const t0 = Date.parse(start?.recordedAt ?? level.updatedAt) + 1;
  const t1 = Math.max(Date.parse(level.updatedAt) + 1, t0 + 1);
  const chosen = at ? Date.parse(at) : t1;
  const steps = 1000;
  const position = Math.round(((Math.min(Math.max(chosen, t0), t1) - t0) / (t1 - t0)) * steps);
  const slider = h('input', { id: 'tt-range', type: 'range', min: 0, max: steps, step: 1, value: position, 'aria-valuetext': when(new Date(chosen).toISOString()) });
  const input = h('input', { id: 'tt-at', type: 'datetime-local', step: '0.001', value: localInput(new Date(chosen).toISOString()) });
  const go = (iso) => {
    const q = new URLSearchParams(query);
    q.delete('after');
    q.set('at', iso);
    navigate(streamPath(sku, warehouseId, Object.fromEntries(q)));
  };
  const instantOf = () => new Date(t0 + ((t1 - t0) * Number(slider.value)) / steps).toISOString();
  slider.addEventListener('input', () => {
    const iso = instantOf();
    input.value = localInput(iso);
    slider.setAttribute('aria-valuetext', when(iso));
  });
  slider.addEventListener('change', () => go(instantOf()));
  const form = h('form', { class: 'travel', 'aria-label': 'Time travel' },
    field('Instant on the stream’s timeline', slider, `${when(start?.recordedAt)} to ${when(level.updatedAt)}`),
    field('Date and time (your time zone)', input),
    h('button', { type: 'submit' }, 'Show levels then'),
    at ? link(streamPath(sku, warehouseId), 'Back to now') : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const iso = fromLocalInput(input.value);
    if (iso) go(iso);
  });
  const section = h('section', { 'aria-labelledby': 'travel-title' }, h('h2', { id: 'travel-title' }, 'Time travel'), form);
  if (asOf) {
    section.append(h('div', { class: 'as-of', role: 'status' },
      h('h3', {}, 'As of ', time(at)), levels('as-of', asOf),
      h('p', {}, `After version ${num(asOf.version)}, recorded `, time(asOf.updatedAt),
        ` (read from the event store; now: version ${num(level.version)}).`)));
  } else if (travelNote) {
    section.append(notice('info', travelNote));
  }
  return section;
}
