// Tracked stock in the console: the lots of a stream (on the stream page), the expiring lots
// (/ui/lots), a lot's recall (/ui/lots/{sku}/{lotId}) with its CSV, and a serial
// (/ui/serials/{sku}/{serial}). A lot past its date, or within a week of it, is highlighted.

import { downloadCsv, explain, getJson, v1 } from '../api.js';
import { field, h, link, notice, num, path, table, time } from '../dom.js';
import { navigate } from '../main.js';

const WEEK_MS = 7 * 24 * 3600 * 1000;

/** 'expired', 'soon' (within a week) or null, from a lot's expiresOn (UTC dates). */
export function urgency(expiresOn) {
  if (!expiresOn) return null;
  const date = Date.parse(`${expiresOn}T00:00:00Z`);
  const now = Date.now();
  if (date <= now) return 'expired';
  return date - now <= WEEK_MS ? 'soon' : null;
}

function expiry(row) {
  const flag = urgency(row.expiresOn);
  const label = { expired: ' (expired)', soon: ' (expires this week)' }[flag] ?? '';
  return h('span', { class: flag ? `expiry ${flag}` : 'expiry' }, (row.expiresOn ?? 'no date') + label);
}

function lotColumns(sku) {
  return [
    { label: 'Lot', value: (r) => link(path('lots', sku ?? r.sku, r.lotId), r.lotId) },
    { label: 'Expires on', value: expiry },
    { label: 'On hand', numeric: true, value: (r) => num(r.onHand) },
    { label: 'Reserved', numeric: true, value: (r) => num(r.reserved) },
    { label: 'Available', numeric: true, value: (r) => num(r.available) },
    { label: 'Expired', numeric: true, value: (r) => num(r.expired) },
    { label: 'First received', value: (r) => time(r.firstReceivedAt) },
  ];
}

const rowFlag = (r) => ({ 'data-urgency': urgency(r.expiresOn) ?? 'none' });

/** The stream page's lots section (nothing for an item with no lots). */
export async function lotsSection(sku, warehouseId, at) {
  let body;
  try {
    ({ body } = await getJson(`${v1('stock', sku, warehouseId)}/lots`, { params: at ? { at } : {} }));
  } catch {
    return null;
  }
  if (!body.lots.length) return null;
  return h('section', { 'aria-labelledby': 'lots-title' }, h('h2', { id: 'lots-title' }, 'Lots'),
    table('Lots, first expired first', lotColumns(sku), body.lots, { rowAttrs: rowFlag }));
}

export async function expiring(page, { query, current }) {
  const before = query.get('expiresBefore') ?? '';
  const warehouse = query.get('warehouseId') ?? '';
  const beforeInput = h('input', { id: 'lots-before', type: 'date', value: before });
  const warehouseInput = h('input', { id: 'lots-warehouse', value: warehouse, autocomplete: 'off' });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter lots' },
    field('Expiring before', beforeInput), field('Warehouse', warehouseInput), h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (beforeInput.value) q.set('expiresBefore', beforeInput.value);
    if (warehouseInput.value.trim()) q.set('warehouseId', warehouseInput.value.trim());
    navigate(`/ui/lots?${q}`);
  });
  page.append(h('h1', {}, 'Expiring lots'), form);
  const params = { expiresBefore: before, warehouseId: warehouse, after: query.get('after'), limit: 100 };
  let body;
  try {
    ({ body } = await getJson('/v1/lots', { params }));
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  const columns = [{ label: 'SKU', value: (r) => r.sku }, { label: 'Warehouse', value: (r) => r.warehouseId }, ...lotColumns()];
  page.append(body.lots.length
    ? table('Lots holding units, by expiry date', columns, body.lots, { rowAttrs: rowFlag })
    : notice('info', 'No lot matches.'));
  if (body.next) {
    const q = new URLSearchParams(query);
    q.set('after', body.next);
    page.append(h('nav', { class: 'pager', 'aria-label': 'Pages of lots' }, link(`/ui/lots?${q}`, 'Next page')));
  }
}

export async function recall(page, { params: [sku, lotId], current }) {
  page.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/ui/lots', 'Lots'), ' › ',
    h('span', { 'aria-current': 'page' }, `${sku} ${lotId}`)), h('h1', {}, `Recall of lot ${lotId} of ${sku}`));
  const route = `${v1('lots', sku, lotId)}/trail`;
  let body;
  try {
    ({ body } = await getJson(route));
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  const csv = h('button', { type: 'button' }, 'Download CSV');
  const status = h('div', { 'aria-live': 'polite' });
  csv.addEventListener('click', async () => {
    try {
      await downloadCsv(route, {}, `recall-${sku}-${lotId}.csv`);
    } catch (error) {
      status.replaceChildren(await explain(error));
    }
  });
  page.append(
    h('p', { id: 'recall-summary' }, `Expires on ${body.expiresOn ?? 'no date'}. `,
      body.balanced
        ? h('strong', { 'data-balanced': 'true' }, 'Balanced: every unit received is accounted for.')
        : h('strong', { 'data-balanced': 'false' }, 'Not balanced.'),
      ` As of position ${body.asOfPosition}.`),
    h('p', {}, csv), status,
    table('Received', [
      { label: 'Warehouse', value: (r) => r.warehouseId }, { label: 'Quantity', numeric: true, value: (r) => num(r.quantity) },
      { label: 'Purchase order', value: (r) => r.purchaseOrderId }, { label: 'Supplier', value: (r) => r.supplier },
      { label: 'At', value: (r) => time(r.at) }], body.received),
    table('Shipped to orders', [
      { label: 'Order', value: (r) => link(path('orders', r.orderId), r.orderId) }, { label: 'Shipment', value: (r) => r.shipmentId },
      { label: 'Warehouse', value: (r) => r.warehouseId }, { label: 'Quantity', numeric: true, value: (r) => num(r.quantity) },
      { label: 'At', value: (r) => time(r.at) }], body.shipped),
    table('Where it is now', [
      { label: 'Warehouse', value: (r) => r.warehouseId }, { label: 'On hand', numeric: true, value: (r) => num(r.onHand) },
      { label: 'Reserved', numeric: true, value: (r) => num(r.reserved) }, { label: 'In transit', numeric: true, value: (r) => num(r.inTransit) },
      { label: 'Expired', numeric: true, value: (r) => num(r.expired) }], body.now),
  );
}

export async function serial(page, { params: [sku, number], current }) {
  page.append(h('h1', {}, `Serial ${number} of ${sku}`));
  let body;
  try {
    ({ body } = await getJson(v1('serials', sku, number)));
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  const where = body.warehouseId ? ` in ${body.warehouseId}` : body.orderId ? ` on order ${body.orderId}` : '';
  page.append(h('p', { id: 'serial-status', 'data-status': body.status }, `Status: ${body.status.replace('_', ' ')}${where}.`),
    table('Its events', [
      { label: 'Type', value: (r) => r.type }, { label: 'Stream', value: (r) => r.streamId },
      { label: 'At', value: (r) => time(r.recordedAt) }], body.events));
}
