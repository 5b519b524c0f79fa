// Trail pages (/ui/orders/{orderId}, /ui/correlations/{id}): every event of the order or the
// correlation across streams in position order, grouped by stream, with the levels each stock
// event left (time travel by version: `/at?version=`).

import { explain, getJson, v1 } from '../api.js';
import { eventButton } from '../drawer.js';
import { field, h, levelColumns, link, notice, num, path, streamPath, stockStream, table, time } from '../dom.js';
import { navigate } from '../main.js';

const KINDS = {
  orders: { title: 'Order', api: 'orders', label: 'Order ID' },
  correlations: { title: 'Correlation', api: 'correlations', label: 'Correlation ID' },
};
const MAX_PAGES = 20; // 20,000 events: more than any order has

export async function trailForm(page) {
  page.append(h('h1', {}, 'Trails'),
    h('p', {}, 'Every event of an order, or of a correlation id, across SKUs and warehouses.'));
  for (const [kind, { label }] of Object.entries(KINDS)) {
    const input = h('input', { id: `${kind}-id`, required: true, autocomplete: 'off' });
    const form = h('form', { class: 'filters', 'aria-label': `Find the trail of a${kind === 'orders' ? 'n order' : ' correlation'}` },
      field(label, input), h('button', { type: 'submit' }, 'Show the trail'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (input.value.trim()) navigate(path(kind, input.value.trim()));
    });
    page.append(form);
  }
}

async function allEvents(kind, id) {
  const events = [];
  let after = 0;
  for (let n = 0; n < MAX_PAGES; n += 1) {
    const { body } = await getJson(v1(KINDS[kind].api, id, 'events'), { params: { after, limit: 1000 } });
    events.push(...body.events);
    if (!body.next) break;
    after = body.next;
  }
  return events;
}

/** The levels right after each stock event, a few requests at a time. */
async function levelsAfter(events) {
  const found = new Map();
  const stock = events.filter((e) => stockStream(e.streamId));
  const queue = [...stock];
  const worker = async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const { sku, warehouseId } = stockStream(e.streamId);
      try {
        found.set(e.eventId, (await getJson(v1('stock', sku, warehouseId, 'at'), { params: { version: e.version } })).body);
      } catch {
        found.set(e.eventId, null);
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return found;
}

/** The units an event moved on its stream: its own quantity, or its lines' (on this stream). */
function quantity(event, stock) {
  const data = event.data ?? {};
  const own = data.quantity ?? data.receivedQuantity ?? data.quantityChange;
  if (own !== undefined) return own;
  const lines = (data.lines ?? []).filter((l) => !stock || (l.sku === stock.sku && l.warehouseId === stock.warehouseId));
  return lines.length ? lines.reduce((sum, l) => sum + (l.quantity ?? 0), 0) : null;
}

export async function trail(page, { params: [kind, id], current }) {
  const { title } = KINDS[kind];
  page.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link(`/ui/${kind}/`, 'Trails'), ' › ', h('span', { 'aria-current': 'page' }, id)),
    h('h1', {}, `${title} ${id}`));
  let events;
  try {
    events = await allEvents(kind, id);
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  if (!events.length) return page.append(notice('info', `No events for ${title.toLowerCase()} ${id}.`));
  const levels = await levelsAfter(events);
  if (!current()) return;
  const streams = new Map();
  for (const e of events) {
    if (!streams.has(e.streamId)) streams.set(e.streamId, []);
    streams.get(e.streamId).push(e);
  }
  page.append(h('p', { class: 'summary' },
    `${num(events.length)} events in ${num(streams.size)} streams, positions ${num(events[0].position)} to ${num(events[events.length - 1].position)}, `,
    time(events[0].recordedAt), ' to ', time(events[events.length - 1].recordedAt), '.'));
  for (const [streamId, own] of streams) {
    const stock = stockStream(streamId);
    const columns = [
      { label: 'Position', numeric: true, value: (e) => num(e.position) },
      { label: 'Version', numeric: true, value: (e) => num(e.version) },
      { label: 'Recorded', value: (e) => time(e.recordedAt) },
      { label: 'Event', value: (e) => eventButton(e) },
      { label: 'Quantity', numeric: true, value: (e) => num(quantity(e, stock)) },
      ...(stock ? levelColumns((e) => levels.get(e.eventId)) : []),
      { label: 'Who', value: (e) => e.metadata?.causedBy ?? '' },
    ];
    const heading = stock
      ? [link(streamPath(stock.sku, stock.warehouseId), streamId), h('span', { class: 'muted' }, ' — levels after each event')]
      : [streamId];
    page.append(h('section', { class: 'group', 'data-stream': streamId },
      h('h2', {}, ...heading), table(`Events of ${streamId}`, columns, own)));
  }
}
