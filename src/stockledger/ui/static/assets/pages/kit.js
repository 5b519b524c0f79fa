// Kit pages: /ui/kits (find a kit) and /ui/kits/{sku}: what the kit is made of and, in every
// warehouse that holds any of its components, how many whole kits they make now (the API's
// GET /v1/stock/{kit}/{warehouseId}) with each component's availability and which one limits.

import { explain, getJson, v1 } from '../api.js';
import { field, h, link, notice, num, path, streamPath, table } from '../dom.js';
import { navigate } from '../main.js';

export async function kitForm(page) {
  const input = h('input', { id: 'kit-sku', required: true, autocomplete: 'off' });
  const form = h('form', { class: 'filters', 'aria-label': 'Find a kit' },
    field('Kit SKU', input), h('button', { type: 'submit' }, 'Show the kit'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim()) navigate(path('kits', input.value.trim()));
  });
  page.append(h('h1', {}, 'Kits'),
    h('p', {}, 'A kit (a bundle) holds no stock of its own: it is made of its components.'), form);
}

export async function kit(page, { params: [sku], current }) {
  page.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/ui/kits', 'Kits'), ' › ', h('span', { 'aria-current': 'page' }, sku)),
    h('h1', {}, `Kit ${sku}`));
  let definition;
  try {
    definition = (await getJson(v1('kits', sku))).body;
  } catch (error) {
    return page.append(await explain(error, { what: 'this kit' }));
  }
  if (!current()) return;
  page.append(h('section', { 'aria-labelledby': 'parts-title' },
    h('h2', { id: 'parts-title' }, 'Components'),
    table(`What one ${sku} is made of`, [
      { label: 'Component', value: (c) => link(path('stock', c.sku), c.sku) },
      { label: 'Per kit', numeric: true, value: (c) => num(c.quantity) },
    ], definition.components),
    h('p', {}, `Version ${definition.version}. Reservations keep the components they were made with.`)));

  // Every warehouse that holds any component (a component never stocked anywhere: none).
  const held = await Promise.all(definition.components.map((c) =>
    getJson(v1('stock', c.sku)).then((a) => a.body.warehouses.map((l) => l.warehouseId), () => [])));
  const warehouses = [...new Set(held.flat())].sort();
  if (!current()) return;
  const section = h('section', { 'aria-labelledby': 'made-title' }, h('h2', { id: 'made-title' }, 'Kits available by warehouse'));
  page.append(section);
  if (!warehouses.length) return section.append(notice('info', `No component of ${sku} is stocked anywhere: it makes none.`));
  let levels;
  try {
    levels = await Promise.all(warehouses.map(async (w) => (await getJson(v1('stock', sku, w))).body));
  } catch (error) {
    return section.append(await explain(error, { what: 'the kit levels' }));
  }
  if (!current()) return;
  section.append(table(`Whole ${sku} kits each warehouse can make`, [
    { label: 'Warehouse', value: (l) => l.warehouseId },
    { label: 'Kits available', numeric: true, value: (l) => num(l.available) },
    { label: 'Limited by', value: (l) => limiting(l).join(', ') },
  ], levels));
  for (const level of levels) {
    const id = `parts-${level.warehouseId}`;
    section.append(h('h3', { id }, `${level.warehouseId}: ${num(level.available)} kits`),
      table(`${sku} components in ${level.warehouseId}`, [
        { label: 'Component', value: (c) => link(streamPath(c.sku, level.warehouseId), c.sku) },
        { label: 'Per kit', numeric: true, value: (c) => num(c.perKit) },
        { label: 'On hand', numeric: true, value: (c) => num(c.onHand) },
        { label: 'Reserved', numeric: true, value: (c) => num(c.reserved) },
        { label: 'Available', numeric: true, value: (c) => num(c.available) },
        { label: 'Makes', numeric: true, value: (c) => num(Math.floor(c.available / c.perKit)) },
      ], level.components));
  }
}

/** The components that make the fewest kits in a warehouse (what to restock first). */
function limiting(level) {
  const makes = level.components.map((c) => Math.floor(c.available / c.perKit));
  const least = Math.min(...makes);
  return level.components.filter((_, n) => makes[n] === least).map((c) => c.sku);
}
