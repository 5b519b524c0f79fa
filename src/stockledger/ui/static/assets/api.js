// Talking to the API: the signed-in key (sessionStorage only: this tab, this session), every
// data call with `Authorization: Bearer <key>`, and refusals turned into plain sentences.
// The key is never put in a URL and never written to the console.

import { h, notice, when } from './dom.js';

const KEY = 'stockledger.apiKey';

export const session = {
  key: () => sessionStorage.getItem(KEY),
  keep: (key) => sessionStorage.setItem(KEY, key),
  forget: () => sessionStorage.removeItem(KEY),
};

/** A refused or failed call: its status, the problem+json body when there is one, the path. */
export class ApiError extends Error {
  constructor(status, problem, pathname) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.pathname = pathname;
  }
}

/** Called when the server no longer takes the key (401): the shell signs out. */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** GET `pathname` with the query `params` (empty values left out), signed with `key`. */
export async function request(pathname, { params = {}, accept = 'application/json', key = session.key() } = {}) {
  const url = new URL(pathname, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') url.searchParams.set(name, String(value));
  }
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${key}`, Accept: accept },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, null, url.pathname);
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    if (response.status === 401 && key === session.key()) onUnauthorized();
    throw new ApiError(response.status, problem, url.pathname);
  }
  return response;
}

/** GET JSON: {body, headers}. */
export async function getJson(pathname, options) {
  const response = await request(pathname, options);
  return { body: await response.json(), headers: response.headers };
}

let documented = null;

/** Whether the server has a route for this OpenAPI path template (its public /openapi.json). */
export async function hasRoute(template) {
  documented ??= fetch('/openapi.json', { credentials: 'omit', cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : { paths: {} }))
    .then((doc) => new Set(Object.keys(doc.paths ?? {})))
    .catch(() => new Set());
  return (await documented).has(template);
}

export const FORBIDDEN = "Your key's role may not read this page";
export const NOT_YET = 'This report is not available on this server yet';

/** A failed call as a notice a person can act on. `template` names the route for a 404. */
export async function explain(error, { template, what = 'this page' } = {}) {
  if (!(error instanceof ApiError)) throw error;
  const detail = error.problem?.detail;
  if (error.status === 403) {
    return notice('warn', what === 'this page' ? FORBIDDEN : `Your key's role may not read ${what}`,
      detail ? h('small', {}, ` (${detail})`) : null);
  }
  if (error.status === 404 && template && !(await hasRoute(template))) {
    return notice('info', NOT_YET, h('small', {}, ` (no ${template} route)`));
  }
  if (error.status === 404) return notice('info', 'Not found: ', detail ?? error.pathname);
  if (error.status === 401) return notice('error', 'The server does not accept this key any more. Sign in again.');
  if (error.status === 0) return notice('error', 'The server could not be reached.');
  return notice('error', `The server answered ${error.status}: `, error.problem?.title ?? '', detail ? ` — ${detail}` : '');
}

/** Where a stock number came from: the X-Stock-Source header (and the projection version). */
export function sourceNote(headers) {
  const source = headers.get('X-Stock-Source');
  if (!source) return null;
  const version = headers.get('X-Projection-Version');
  const at = headers.get('X-Projected-At');
  const live = source === 'event-store'
    ? 'folded from the event store: live'
    : `a read model kept by the projectors (${source}); it trails a write by their delay`;
  return h('p', { class: 'source', 'data-source': source },
    'Source: ', h('strong', {}, source), ` — ${live}`,
    version ? `; version ${version}` : '', at ? `; projected at ${when(at)}` : '');
}

/** Download a CSV answer of `pathname` (the key in the header, never in the link) as a file. */
export async function downloadCsv(pathname, params, filename) {
  const response = await request(pathname, { params, accept: 'text/csv' });
  const blob = await response.blob();
  const position = response.headers.get('X-As-Of-Position');
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: position ? filename.replace('.csv', `-at-${position}.csv`) : filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** An API path, every id URL-encoded: v1('stock', sku, wh, 'history'). */
export function v1(...parts) {
  return '/v1/' + parts.map(encodeURIComponent).join('/');
}
