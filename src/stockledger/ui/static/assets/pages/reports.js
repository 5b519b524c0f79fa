// Report pages: valuation (/ui/valuation) and movements (/ui/reports/movements), each with a
// CSV download of the same query. Until a server has the report's route, the page says so.

import { explain, downloadCsv, getJson } from '../api.js';
import { LEVEL_LABELS, field, fromLocalInput, h, link, localInput, money, notice, num, path, streamPath, table } from '../dom.js';
import { navigate } from '../main.js';

// Column headers for the rows' wire names (the CSV keeps the wire names), as the stock pages
// label the same figures; money as money, period bounds as their UTC dates.
const LABELS = {
  sku: 'SKU', warehouseId: 'Warehouse', periodStart: 'Period start', periodEnd: 'Period end', streams: 'Streams',
  ...LEVEL_LABELS,
  value: 'Value', unitCost: 'Unit cost', inTransitValue: 'In-transit value', damagedValue: 'Damaged value',
  received: 'Received', shipped: 'Shipped', returnedResellable: 'Returned to stock',
  returnedDamaged: 'Returned damaged', returnedDisposed: 'Returned and disposed', transferredOut: 'Transferred out',
  transferredIn: 'Transferred in', lostInTransit: 'Lost in transit', adjustedUp: 'Adjusted up', adjustedDown: 'Adjusted down',
  expected: 'Expected', inspectedAccepted: 'Inspected: accepted', inspectedRejected: 'Inspected: rejected',
};
for (const [key, label] of Object.entries(LEVEL_LABELS)) {
  LABELS[`opening.${key}`] = `Opening ${label.toLowerCase()}`;
  LABELS[`closing.${key}`] = `Closing ${label.toLowerCase()}`;
}
const MONEY = new Set(['value', 'unitCost', 'inTransitValue', 'damagedValue']);
const DAYS = new Set(['periodStart', 'periodEnd']);

/** A column's header: its label, or for a column this console does not know yet, its wire
 * name in words (`newFigure` -> `New figure`). */
function label(key) {
  if (LABELS[key]) return LABELS[key];
  const words = key.replace(/\./g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A figure as the reader sees it: money with two places (the exact value on hover). */
function shown(key, value) {
  if (MONEY.has(key) && value !== null && value !== undefined) return h('span', { title: value }, money(value));
  if (DAYS.has(key) && value) return h('time', { datetime: value, title: value }, new Date(value).toISOString().slice(0, 10));
  return typeof value === 'number' ? num(value) : value ?? '';
}

/** Rows' nested objects flattened with a dot, as the CSV columns are (`opening.onHand`). */
function flat(row, prefix = '', out = {}) {
  for (const [key, value] of Object.entries(row)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) flat(value, `${prefix}${key}.`, out);
    else if (!Array.isArray(value)) out[`${prefix}${key}`] = value;
  }
  return out;
}

function cell(key, value, row) {
  if (key === 'sku') return link(path('stock', value), value);
  if (key === 'warehouseId' && row.sku) return link(streamPath(row.sku, value), value);
  return shown(key, value);
}

function columnsOf(rows) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return keys.map((key) => ({
    label: label(key),
    numeric: rows.some((r) => typeof r[key] === 'number' || /^-?[0-9]+(\.[0-9]+)?$/.test(r[key] ?? '')),
    value: (row) => cell(key, row[key], row),
  }));
}

/** A report page: its filters (fields), the query they make, its route and its rows. */
async function report(page, { query, current }, spec) {
  const inputs = spec.fields.map(([name, label, control]) => {
    control.id = `report-${name}`;
    const value = query.get(name);
    if (value !== null) control.value = control.type === 'datetime-local' ? localInput(value) : value;
    return [name, label, control];
  });
  const status = h('div', { 'aria-live': 'polite' });
  const csv = h('button', { type: 'button', disabled: true }, 'Download CSV');
  const form = h('form', { class: 'filters', 'aria-label': `${spec.title} filters` },
    inputs.map(([, label, control]) => field(label, control)), h('button', { type: 'submit' }, 'Show'), csv);
  const params = () => Object.fromEntries(inputs.map(([name, , c]) => [name, c.type === 'datetime-local' ? fromLocalInput(c.value) ?? '' : c.value.trim()]).filter(([, v]) => v));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`${location.pathname}?${new URLSearchParams(params())}`);
  });
  page.append(h('h1', {}, spec.title), h('p', {}, spec.about), form, status);
  const wanted = Object.fromEntries([...query].filter(([name]) => inputs.some(([n]) => n === name)));
  let body;
  try {
    ({ body } = await getJson(spec.route, { params: { ...wanted, limit: 1000 } }));
  } catch (error) {
    return page.append(await explain(error, { template: spec.route }));
  }
  if (!current()) return;
  csv.disabled = false;
  csv.addEventListener('click', async () => {
    status.replaceChildren(notice('info', 'Preparing the CSV…'));
    try {
      await downloadCsv(spec.route, { ...wanted }, spec.filename);
      status.replaceChildren(notice('info', 'CSV downloaded.'));
    } catch (error) {
      status.replaceChildren(await explain(error, { template: spec.route }));
    }
  });
  const rows = (body.rows ?? []).map((r) => flat(r));
  page.append(h('p', { class: 'source' }, 'As of global position ', h('strong', {}, num(body.asOfPosition)),
    body.at ? ` (instant ${body.at})` : '', ': the figures include every event up to it, so the report can be reproduced.'));
  if (body.totals) {
    const totals = flat(body.totals);
    page.append(h('dl', { class: 'levels totals' }, Object.entries(totals).map(([k, v]) => h('div', {}, h('dt', {}, label(k)), h('dd', {}, shown(k, v))))));
  }
  page.append(rows.length ? table(spec.title, columnsOf(rows), rows) : notice('info', 'No rows for this query.'));
  if (body.next) page.append(notice('info', 'More rows than shown: narrow the query, or download the CSV.'));
}

export function valuation(page, context) {
  return report(page, context, {
    title: 'Valuation',
    about: 'The value of the inventory as of an instant (FIFO layers or moving average, per item), per SKU and warehouse.',
    route: '/v1/valuation',
    filename: 'valuation.csv',
    fields: [
      ['at', 'As of (your time zone)', h('input', { type: 'datetime-local', step: '1' })],
      ['warehouseId', 'Warehouse', h('input', { autocomplete: 'off' })],
    ],
  });
}

export function movements(page, context) {
  const granularity = h('select', {}, ['day', 'week', 'month'].map((g) => h('option', { value: g }, g)));
  return report(page, context, {
    title: 'Movements',
    about: 'Opening, every kind of movement and closing, per period, SKU and warehouse (periods in UTC; to is exclusive).',
    route: '/v1/reports/movements',
    filename: 'movements.csv',
    fields: [
      ['from', 'From (date)', h('input', { type: 'date' })],
      ['to', 'To (date, exclusive)', h('input', { type: 'date' })],
      ['granularity', 'Period', granularity],
      ['sku', 'SKU', h('input', { autocomplete: 'off' })],
      ['warehouseId', 'Warehouse', h('input', { autocomplete: 'off' })],
    ],
  });
}
