// The alerts page (/ui/alerts): low-stock and stock-out alerts, open or closed, by warehouse
// and SKU, in keyset pages.

import { explain, getJson } from '../api.js';
import { field, h, link, notice, table } from '../dom.js';
import { navigate } from '../main.js';
import { alertColumns } from './sku.js';

export async function alerts(page, { query, current }) {
  const status = query.get('status') === 'closed' ? 'closed' : 'open';
  const warehouse = query.get('warehouseId') ?? '';
  const sku = query.get('sku') ?? '';
  const statusInput = h('select', { id: 'alert-status' },
    ['open', 'closed'].map((s) => h('option', { value: s, selected: s === status }, s === 'open' ? 'Open' : 'Closed')));
  const warehouseInput = h('input', { id: 'alert-warehouse', value: warehouse, autocomplete: 'off' });
  const skuInput = h('input', { id: 'alert-sku', value: sku, autocomplete: 'off' });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter alerts' },
    field('Status', statusInput), field('Warehouse', warehouseInput), field('SKU', skuInput),
    h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ status: statusInput.value });
    if (warehouseInput.value.trim()) q.set('warehouseId', warehouseInput.value.trim());
    if (skuInput.value.trim()) q.set('sku', skuInput.value.trim());
    navigate(`/ui/alerts?${q}`);
  });
  page.append(h('h1', {}, 'Alerts'), form);
  let body;
  try {
    ({ body } = await getJson('/v1/alerts', { params: { status, warehouseId: warehouse, sku, after: query.get('after'), limit: 100 } }));
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  page.append(body.alerts.length
    ? table(`${status === 'open' ? 'Open' : 'Closed'} alerts`, alertColumns(), body.alerts)
    : notice('info', `No ${status} alert matches.`));
  if (body.next) {
    const q = new URLSearchParams(query);
    q.set('after', body.next);
    page.append(h('nav', { class: 'pager', 'aria-label': 'Pages of alerts' }, link(`/ui/alerts?${q}`, 'Next page')));
  }
}
