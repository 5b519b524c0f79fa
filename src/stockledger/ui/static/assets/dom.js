// Building the DOM without markup strings: every value goes in as a text node or an attribute,
// so nothing the API returns is ever parsed as HTML.

const SVG = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** An HTML element: h('a', {href: '/ui/'}, 'Stock'). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, as h. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

/** A link to a console page; the router turns its clicks into in-page navigation. */
export function link(path, ...children) {
  return h('a', { href: path }, ...children);
}

/** The console path of a page, every id URL-encoded: path('stock', sku, wh). */
export function path(...parts) {
  return '/ui/' + parts.map(encodeURIComponent).join('/');
}

export function streamPath(sku, warehouseId, query) {
  const search = query ? `?${new URLSearchParams(query)}` : '';
  return path('stock', sku, warehouseId) + search;
}

/** `stock:SKU-1:WH-A` -> {sku, warehouseId}; null for other streams. */
export function stockStream(streamId) {
  const [kind, sku, warehouseId] = streamId.split(':');
  return kind === 'stock' && warehouseId ? { sku, warehouseId } : null;
}

const NUMBER = new Intl.NumberFormat('en');
export const num = (n) => (n === null || n === undefined ? '' : NUMBER.format(n));

/**
 * Money (a decimal string, as the API writes it: `2553761.111119`) with two places and
 * thousands separators (`2,553,761.11`), rounded half away from zero. Exact at any size: the
 * digits are rounded as text and grouped as a BigInt, never read into a float (which keeps
 * about 15 significant digits and would change the cents of large totals).
 */
export function money(value) {
  if (value === null || value === undefined || value === '') return '';
  const parts = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(String(value));
  if (!parts) return String(value);
  const [, minus, whole, fraction = ''] = parts;
  const digits = fraction.padEnd(3, '0');
  const cents = BigInt(whole + digits.slice(0, 2)) + (digits[2] >= '5' ? 1n : 0n);
  const sign = minus && cents !== 0n ? '-' : '';
  return `${sign}${NUMBER.format(cents / 100n)}.${String(cents % 100n).padStart(2, '0')}`;
}

/** An instant as the reader's local date and time, with seconds and milliseconds. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const date = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return `${date} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A <time> element for an instant. */
export function time(iso) {
  return iso ? h('time', { datetime: iso, title: iso }, when(iso)) : '';
}

/** The value a `datetime-local` field shows for an instant (local time, milliseconds). */
export function localInput(iso) {
  return iso ? when(iso).replace(' ', 'T') : '';
}

/** A `datetime-local` field's value as an RFC 3339 instant (UTC), or null. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A table: columns [{label, value(row) -> node|text, numeric?}], rows, and an optional foot. */
export function table(caption, columns, rows, { foot, rowAttrs } = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'n' : null }, c.label)));
  const body = rows.map((row) =>
    h('tr', rowAttrs ? rowAttrs(row) : {}, columns.map((c) => h('td', { class: c.numeric ? 'n' : null }, c.value(row)))),
  );
  return h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', {}, h('caption', {}, caption), h('thead', {}, head), h('tbody', {}, body), foot ? h('tfoot', {}, foot) : null));
}

/** The five levels of a stock level or balance: wire name -> column header. */
export const LEVEL_LABELS = {
  onHand: 'On hand', reserved: 'Reserved', available: 'Available', inTransit: 'In transit', damaged: 'Damaged',
  incoming: 'Incoming', qualityControl: 'Quality control',
};

/** The levels of a stock level or balance, as table columns. */
export function levelColumns(of = (row) => row) {
  return Object.entries(LEVEL_LABELS)
    .map(([key, label]) => ({ label, numeric: true, value: (row) => num(of(row)?.[key]) }));
}

/** A notice: kind is 'info', 'warn' or 'error'. */
export function notice(kind, ...children) {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** A labelled form control: field('SKU prefix', h('input', {...})). The input needs an id. */
export function field(label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint ? h('small', {}, hint) : null);
}
