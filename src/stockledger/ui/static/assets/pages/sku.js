// The SKU page (/ui/stock/{sku}): every warehouse's levels with totals, and the open alerts.

import { explain, getJson, sourceNote, v1 } from '../api.js';
import { h, levelColumns, link, notice, num, path, streamPath, table, time } from '../dom.js';
import { may } from '../main.js';
import { promisePanel } from './purchasing.js';

export async function sku(page, { params: [sku], current }) {
  page.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/ui/', 'Stock'), ' › ', h('span', { 'aria-current': 'page' }, sku)),
    h('h1', {}, sku));
  const alerts = may('alerts') ? getJson('/v1/alerts', { params: { sku, status: 'open', limit: 100 } }) : null;
  alerts?.catch(() => {}); // awaited below
  let answer;
  try {
    answer = await getJson(v1('stock', sku));
  } catch (error) {
    // A kit holds no stock of its own: its page shows what its components make.
    const isKit = error.status === 404 && await getJson(v1('kits', sku)).then(() => true, () => false);
    if (isKit) return page.append(notice('info', `${sku} is a kit: it holds no stock of its own. `, link(path('kits', sku), `See what its components make`)));
    return page.append(await explain(error));
  }
  if (!current()) return;
  const { warehouses, totals } = answer.body;
  const columns = [
    { label: 'Warehouse', value: (l) => link(streamPath(sku, l.warehouseId), l.warehouseId) },
    ...levelColumns(),
    { label: 'Version', numeric: true, value: (l) => num(l.version) },
    { label: 'Updated', value: (l) => time(l.updatedAt) },
  ];
  const foot = h('tr', { class: 'totals' }, h('th', { scope: 'row' }, 'Total'),
    levelColumns().map((c) => h('td', { class: 'n' }, c.value(totals))), h('td'), h('td'));
  page.append(
    h('section', { 'aria-labelledby': 'levels-title' },
      h('h2', { id: 'levels-title' }, 'Every warehouse'),
      table(`${sku} in every warehouse`, columns, warehouses, { foot }),
      sourceNote(answer.headers) ?? '',
      h('p', {}, 'Open a warehouse for its history, the chart and time travel.')),
    promisePanel(sku),
  );
  if (!alerts) return;
  const section = h('section', { 'aria-labelledby': 'alerts-title' }, h('h2', { id: 'alerts-title' }, 'Open alerts'));
  page.append(section);
  try {
    const open = (await alerts).body.alerts;
    if (!current()) return;
    section.append(open.length
      ? table(`Open alerts of ${sku}`, alertColumns(), open)
      : notice('info', `No open alert for ${sku}.`));
  } catch (error) {
    section.append(await explain(error, { what: 'alerts' }));
  }
}

export function alertColumns() {
  return [
    { label: 'Alert', value: (a) => a.alertId },
    { label: 'SKU', value: (a) => link(path('stock', a.sku), a.sku) },
    { label: 'Warehouse', value: (a) => link(streamPath(a.sku, a.warehouseId), a.warehouseId) },
    { label: 'Kind', value: (a) => h('span', { class: `tag ${a.kind}` }, a.kind === 'stock_out' ? 'stock out' : 'low stock') },
    { label: 'Status', value: (a) => a.status },
    { label: 'Opened', value: (a) => time(a.openedAt) },
    { label: 'Closed', value: (a) => time(a.closedAt) },
    { label: 'Available', numeric: true, value: (a) => num(a.available) },
    { label: 'Reorder point', numeric: true, value: (a) => num(a.reorderPoint) },
    { label: 'Suggested order', numeric: true, value: (a) => num(a.suggestedOrderQuantity) },
  ];
}
