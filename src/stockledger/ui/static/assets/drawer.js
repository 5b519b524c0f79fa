// The event drawer: one event's envelope, who caused it, its correlation and order, its hash.

import { h, link, path, streamPath, stockStream, time } from './dom.js';

let open = null;

function close() {
  if (!open) return;
  const { drawer, opener } = open;
  open = null;
  drawer.remove();
  opener?.focus();
}

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && open) close();
});
window.addEventListener('popstate', close);

/** Open the drawer on `event` (an envelope, a history entry or a trail entry). */
export function showEvent(event, opener) {
  close();
  const meta = event.metadata ?? {};
  const stream = stockStream(event.streamId);
  const orderId = event.data?.orderId;
  const row = (label, ...value) => [h('dt', {}, label), h('dd', {}, ...value)];
  const { balance, levels, ...envelope } = event;
  const heading = h('h2', { id: 'drawer-title', tabindex: -1 }, `${event.type}, version ${event.version}`);
  const drawer = h('aside', { class: 'drawer', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'drawer-title' },
    h('div', { class: 'drawer-head' }, heading,
      h('button', { type: 'button', class: 'close', onclick: close, 'aria-label': 'Close the event' }, 'Close')),
    h('dl', { class: 'facts' },
      row('Stream', stream ? link(streamPath(stream.sku, stream.warehouseId), event.streamId) : event.streamId),
      row('Position', String(event.position)),
      row('Recorded', time(event.recordedAt)),
      row('Who', h('strong', {}, meta.causedBy ?? '')),
      row('Correlation', meta.correlationId ? link(path('correlations', meta.correlationId), meta.correlationId) : '—'),
      orderId ? row('Order', link(path('orders', orderId), orderId)) : [],
      meta.causationId ? row('Caused by event', meta.causationId) : [],
      meta.requestId ? row('Request', meta.requestId) : [],
      row('Event id', h('code', {}, event.eventId)),
      row('Hash', h('code', { class: 'hash' }, event.hash ?? '—')),
      row('Schema version', String(event.schemaVersion))),
    h('h3', {}, 'Data'),
    h('pre', { class: 'json' }, JSON.stringify(event.data, null, 2)),
    h('details', {}, h('summary', {}, 'The whole envelope'), h('pre', { class: 'json' }, JSON.stringify(envelope, null, 2))));
  document.body.append(drawer);
  open = { drawer, opener };
  heading.focus();
}

/** A button that opens the drawer on `event`, labelled with its type. */
export function eventButton(event) {
  const button = h('button', { type: 'button', class: 'link event', 'aria-haspopup': 'dialog' }, event.type);
  button.addEventListener('click', () => showEvent(event, button));
  return button;
}
