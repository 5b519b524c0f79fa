// Purchasing: the purchase orders page (/ui/purchase-orders: open, late or received orders,
// in keyset pages) and the promise panel of the SKU page ("50 units: promised for ...").

import { explain, getJson, v1 } from '../api.js';
import { field, h, link, notice, num, path, table } from '../dom.js';
import { navigate } from '../main.js';

// Each view is a filter of GET /v1/purchase-orders.
const VIEWS = {
  open: { label: 'Open', params: { status: 'open' } },
  partial: { label: 'Partly received', params: { status: 'partially_received' } },
  late: { label: 'Late', params: { overdue: 'true' } },
  received: { label: 'Received', params: { status: 'received' } },
  cancelled: { label: 'Cancelled', params: { status: 'cancelled' } },
};

function orderColumns() {
  const open = (o) => o.lines.reduce((sum, x) => sum + x.open, 0);
  const late = (o) => o.lines.filter((x) => x.overdue).length;
  const due = (o) => o.lines.filter((x) => x.open > 0).map((x) => x.expectedOn).sort()[0] ?? '';
  return [
    { label: 'Purchase order', value: (o) => o.purchaseOrderId },
    { label: 'Supplier', value: (o) => o.supplier },
    { label: 'Status', value: (o) => h('span', { class: `tag ${o.status}` }, o.status.replace('_', ' ')) },
    { label: 'Lines', numeric: true, value: (o) => num(o.lines.length) },
    { label: 'Ordered', numeric: true, value: (o) => num(o.lines.reduce((s, x) => s + x.ordered, 0)) },
    { label: 'Received', numeric: true, value: (o) => num(o.lines.reduce((s, x) => s + x.received, 0)) },
    { label: 'Open', numeric: true, value: (o) => num(open(o)) },
    { label: 'Next expected', value: due },
    { label: 'Late lines', numeric: true, value: (o) => (late(o) ? h('span', { class: 'tag stock_out' }, String(late(o))) : '0') },
    { label: 'SKUs', value: (o) => h('span', {}, ...[...new Set(o.lines.map((x) => x.sku))].slice(0, 5)
      .flatMap((s, i) => [i ? ', ' : '', link(path('stock', s), s)])) },
  ];
}

export async function purchaseOrders(page, { query, current }) {
  const view = VIEWS[query.get('view')] ? query.get('view') : 'open';
  const supplier = query.get('supplier') ?? '';
  const sku = query.get('sku') ?? '';
  const viewInput = h('select', { id: 'po-view' },
    Object.entries(VIEWS).map(([key, v]) => h('option', { value: key, selected: key === view }, v.label)));
  const supplierInput = h('input', { id: 'po-supplier', value: supplier, autocomplete: 'off' });
  const skuInput = h('input', { id: 'po-sku', value: sku, autocomplete: 'off' });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter purchase orders' },
    field('Show', viewInput), field('Supplier', supplierInput), field('SKU', skuInput),
    h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ view: viewInput.value });
    if (supplierInput.value.trim()) q.set('supplier', supplierInput.value.trim());
    if (skuInput.value.trim()) q.set('sku', skuInput.value.trim());
    navigate(`/ui/purchase-orders?${q}`);
  });
  page.append(h('h1', {}, 'Purchase orders'), form);
  let body;
  try {
    const params = { ...VIEWS[view].params, supplier, sku, after: query.get('after'), limit: 100 };
    ({ body } = await getJson('/v1/purchase-orders', { params }));
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  const label = VIEWS[view].label.toLowerCase();
  page.append(body.purchaseOrders.length
    ? table(`${VIEWS[view].label} purchase orders`, orderColumns(), body.purchaseOrders)
    : notice('info', `No ${label} purchase order matches.`));
  if (body.next) {
    const q = new URLSearchParams(query);
    q.set('after', body.next);
    page.append(h('nav', { class: 'pager', 'aria-label': 'Pages of purchase orders' }, link(`/ui/purchase-orders?${q}`, 'Next page')));
  }
}

/** The SKU page's promise panel: when can `quantity` units be promised (all warehouses). */
export function promisePanel(sku) {
  const quantityInput = h('input', { id: 'atp-quantity', type: 'number', min: 1, value: 1, inputmode: 'numeric' });
  const answer = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', 'aria-label': 'Available to promise' },
    field('Units', quantityInput), h('button', { type: 'submit' }, 'When?'));
  const ask = async () => {
    const quantity = Math.max(1, Number(quantityInput.value) || 1);
    try {
      const { body } = await getJson(v1('atp', sku), { params: { quantity } });
      const when = body.promise.date;
      answer.replaceChildren(
        h('p', { class: 'promise' }, when
          ? `${num(quantity)} units: promised for ${when}`
          : `${num(quantity)} units: not within the next 90 days`),
        body.timeline.length
          ? table(`What ${sku} will have`, [
            { label: 'Date', value: (p) => p.date },
            { label: 'Incoming', numeric: true, value: (p) => num(p.incoming) },
            { label: 'Available by then', numeric: true, value: (p) => num(p.available) },
          ], body.timeline)
          : notice('info', `Nothing of ${sku} is on order; ${num(body.availableNow)} available now.`));
    } catch (error) {
      answer.replaceChildren(await explain(error, { what: 'the promise' }));
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ask();
  });
  ask();
  return h('section', { 'aria-labelledby': 'atp-title' },
    h('h2', { id: 'atp-title' }, 'Available to promise'), form, answer);
}
