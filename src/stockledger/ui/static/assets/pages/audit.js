// The audit page (/ui/audit): recompute every hash chain and signed checkpoint on demand (or
// one stream's chain), name the first broken stream and version, and list the checkpoints.

import { explain, getJson } from '../api.js';
import { field, h, link, notice, num, path, streamPath, stockStream, table, time } from '../dom.js';

function breakWhere(b) {
  if (b.streamId) {
    const stock = stockStream(b.streamId);
    const label = `${b.streamId} version ${b.version ?? '?'}`;
    const after = Math.max(0, (b.version ?? 1) - 50);
    return stock ? link(streamPath(stock.sku, stock.warehouseId, { after }), label) : label;
  }
  return b.checkpointId ? `checkpoint ${b.checkpointId}` : '';
}

function report(result) {
  if (result.ok) {
    return notice('info', h('strong', {}, 'The ledger verifies. '),
      `${num(result.eventsChecked)} events in ${num(result.streamsChecked)} streams and ${num(result.checkpointsChecked)} signed checkpoints recomputed; nothing was edited, removed or reordered.`);
  }
  const [first] = result.breaks;
  return h('div', { class: 'broken' },
    notice('error', h('strong', {}, 'The ledger does not verify. '),
      `${num(result.breakCount)} broken ${result.breakCount === 1 ? 'stream or checkpoint' : 'streams or checkpoints'}. First: `,
      breakWhere(first), ` (${first.kind}): ${first.detail}`),
    table('Breaks, each the first of its stream', [
      { label: 'Kind', value: (b) => b.kind },
      { label: 'Where', value: breakWhere },
      { label: 'Detail', value: (b) => b.detail },
    ], result.breaks));
}

export async function audit(page, { query, current }) {
  const streamInput = h('input', { id: 'verify-stream', autocomplete: 'off', placeholder: 'stock:SKU-1:WH-A', value: query.get('stream') ?? '' });
  const result = h('div', { 'aria-live': 'polite', id: 'verify-result' });
  const run = h('button', { type: 'submit' }, 'Verify the ledger');
  const form = h('form', { class: 'filters', 'aria-label': 'Verify the ledger' },
    field('Only this stream (optional)', streamInput, 'Empty: every chain and every checkpoint (reads the whole store).'), run);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    run.disabled = true;
    result.replaceChildren(notice('info', 'Recomputing the hash chains…'));
    try {
      const { body } = await getJson('/v1/audit/verify', { params: { stream: streamInput.value.trim() } });
      result.replaceChildren(report(body));
    } catch (error) {
      result.replaceChildren(await explain(error));
    } finally {
      run.disabled = false;
    }
  });
  page.append(h('h1', {}, 'Audit'),
    h('p', {}, 'Every event carries one link of a SHA-256 chain per stream, and the service signs checkpoints over the head of every stream. Verify recomputes both.'));
  const checkpoints = h('section', { 'aria-labelledby': 'checkpoints-title' }, h('h2', { id: 'checkpoints-title' }, 'Signed checkpoints'));
  let body;
  try {
    ({ body } = await getJson('/v1/audit/checkpoints', { params: { after: query.get('after'), limit: 100 } }));
  } catch (error) {
    return page.append(await explain(error));
  }
  if (!current()) return;
  page.append(form, result, checkpoints);
  checkpoints.append(body.checkpoints.length
    ? table('Signed checkpoints, oldest first', [
      { label: 'Id', numeric: true, value: (c) => num(c.id) },
      { label: 'Position', numeric: true, value: (c) => num(c.position) },
      { label: 'Events', numeric: true, value: (c) => num(c.eventCount) },
      { label: 'Streams', numeric: true, value: (c) => num(c.streamCount) },
      { label: 'Signed', value: (c) => time(c.createdAt) },
      { label: 'Digest', value: (c) => h('code', { title: c.digest }, `${c.digest.slice(0, 16)}…`) },
      { label: 'Signature', value: (c) => h('code', { title: c.signature }, `${c.signature.slice(0, 16)}…`) },
    ], body.checkpoints)
    : notice('info', 'No checkpoint signed yet (the server signs one when events land, if it has an audit key).'));
  if (body.next) checkpoints.append(h('nav', { class: 'pager', 'aria-label': 'Pages of checkpoints' }, link(`${path('audit')}?after=${encodeURIComponent(body.next)}`, 'Next page')));
  if (query.get('verify') === 'true') form.requestSubmit();
}
