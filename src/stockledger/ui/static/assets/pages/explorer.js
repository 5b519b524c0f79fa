// The stock explorer (/ui/): every stock level by SKU prefix, warehouse and low stock, in
// keyset pages (`next` of one page is `after` of the following one).

import { explain, getJson, sourceNote } from '../api.js';
import { field, h, levelColumns, link, notice, num, path, streamPath, table, time } from '../dom.js';
import { navigate } from '../main.js';

const PAGE = 50;

export async function explorer(page, { query, current }) {
  const prefix = query.get('skuPrefix') ?? '';
  const warehouse = query.get('warehouseId') ?? '';
  const low = query.get('lowStock') === 'true';
  const after = query.get('after');

  const prefixInput = h('input', { id: 'sku-prefix', value: prefix, pattern: '[A-Za-z0-9._\\-]{1,64}', placeholder: 'SKU-', autocomplete: 'off' });
  const warehouseInput = h('input', { id: 'warehouse', value: warehouse, list: 'warehouses', autocomplete: 'off' });
  const lowInput = h('input', { id: 'low-stock', type: 'checkbox', checked: low });
  const warehouses = h('datalist', { id: 'warehouses' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find stock' },
    field('SKU prefix', prefixInput),
    field('Warehouse', warehouseInput),
    h('div', { class: 'field check' }, lowInput, h('label', { for: 'low-stock' }, 'Low stock only')),
    h('button', { type: 'submit' }, 'Search'), warehouses);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (prefixInput.value.trim()) q.set('skuPrefix', prefixInput.value.trim());
    if (warehouseInput.value.trim()) q.set('warehouseId', warehouseInput.value.trim());
    if (lowInput.checked) q.set('lowStock', 'true');
    navigate(`/ui/${q.size ? `?${q}` : ''}`);
  });
  const results = h('section', { 'aria-labelledby': 'results-title' });
  page.append(h('h1', {}, 'Stock'), form, results);

  getJson('/v1/warehouses', { params: { limit: 1000 } })
    .then(({ body }) => warehouses.append(...body.warehouses.map((w) => h('option', { value: w.warehouseId }, w.name))))
    .catch(() => {}); // suggestions only

  let answer;
  try {
    answer = await getJson('/v1/stock', {
      params: { skuPrefix: prefix, warehouseId: warehouse, lowStock: low ? 'true' : '', after, limit: PAGE },
    });
  } catch (error) {
    return results.append(await explain(error));
  }
  if (!current()) return;
  const { levels, next } = answer.body;
  const described = [prefix && `SKUs starting ${prefix}`, warehouse && `in ${warehouse}`, low && 'low on stock'].filter(Boolean).join(', ');
  results.append(h('h2', { id: 'results-title' }, described ? `Stock levels: ${described}` : 'Every stock level'));
  if (!levels.length) {
    results.append(notice('info', after ? 'No more levels.' : 'No stock level matches.'));
  } else {
    const columns = [
      { label: 'SKU', value: (l) => link(path('stock', l.sku), l.sku) },
      { label: 'Warehouse', value: (l) => link(streamPath(l.sku, l.warehouseId), l.warehouseId) },
      ...levelColumns(),
      { label: 'Version', numeric: true, value: (l) => num(l.version) },
      { label: 'Updated', value: (l) => time(l.updatedAt) },
    ];
    results.append(table(`Stock levels${after ? ' (continued)' : ''}`, columns, levels));
  }
  results.append(sourceNote(answer.headers) ?? '');
  const here = new URLSearchParams(query);
  here.delete('after');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of stock levels' });
  if (after) pager.append(link(`/ui/${here.size ? `?${here}` : ''}`, 'First page'));
  if (next) {
    here.set('after', next);
    pager.append(link(`/ui/?${here}`, 'Next page'));
  }
  results.append(pager);
}
