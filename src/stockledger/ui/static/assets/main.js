// The shell: sign-in, the navigation the key's role may use, and the router that draws the
// page a /ui/ path names (history.pushState; every page has a stable URL).

import { ApiError, getJson, session, whenUnauthorized } from './api.js';
import { field, h, notice } from './dom.js';
import { explorer } from './pages/explorer.js';
import { sku } from './pages/sku.js';
import { kit, kitForm } from './pages/kit.js';
import { stream } from './pages/stream.js';
import { trail, trailForm } from './pages/trail.js';
import { alerts } from './pages/alerts.js';
import { movements, valuation } from './pages/reports.js';
import { audit } from './pages/audit.js';
import { purchaseOrders } from './pages/purchasing.js';
import { expiring, recall, serial } from './pages/lots.js';

const EVERYONE = ['orders', 'warehouse', 'auditor', 'admin'];
const READERS = ['warehouse', 'auditor', 'admin'];
const AUDITORS = ['auditor', 'admin'];

// Which role reads what (README "Roles"); the API decides, this only keeps the menu honest.
const CAN = {
  stock: EVERYONE, history: READERS, alerts: READERS, trails: AUDITORS, reports: READERS, audit: AUDITORS,
  purchasing: EVERYONE,
};

export const NAV = [
  { path: '/ui/', label: 'Stock', can: 'stock', match: /^\/ui\/(stock\/.*)?$/ },
  { path: '/ui/kits', label: 'Kits', can: 'stock', match: /^\/ui\/kits(\/.*)?$/ },
  { path: '/ui/alerts', label: 'Alerts', can: 'alerts', match: /^\/ui\/alerts$/ },
  { path: '/ui/purchase-orders', label: 'Purchase orders', can: 'purchasing', match: /^\/ui\/purchase-orders$/ },
  { path: '/ui/lots', label: 'Lots', can: 'history', match: /^\/ui\/(lots|serials)(\/.*)?$/ },
  { path: '/ui/orders/', label: 'Trails', can: 'trails', match: /^\/ui\/(orders|correlations)\// },
  { path: '/ui/valuation', label: 'Valuation', can: 'reports', match: /^\/ui\/valuation$/ },
  { path: '/ui/reports/movements', label: 'Movements', can: 'reports', match: /^\/ui\/reports\// },
  { path: '/ui/audit', label: 'Audit', can: 'audit', match: /^\/ui\/audit$/ },
];

const ROUTES = [
  [/^\/ui\/?$/, explorer],
  [/^\/ui\/stock\/([^/]+)\/?$/, sku],
  [/^\/ui\/stock\/([^/]+)\/([^/]+)\/?$/, stream],
  [/^\/ui\/(orders|correlations)\/?$/, trailForm],
  [/^\/ui\/(orders|correlations)\/([^/]+)\/?$/, trail],
  [/^\/ui\/kits\/?$/, kitForm],
  [/^\/ui\/kits\/([^/]+)\/?$/, kit],
  [/^\/ui\/alerts\/?$/, alerts],
  [/^\/ui\/purchase-orders\/?$/, purchaseOrders],
  [/^\/ui\/lots\/?$/, expiring],
  [/^\/ui\/lots\/([^/]+)\/([^/]+)\/?$/, recall],
  [/^\/ui\/serials\/([^/]+)\/([^/]+)\/?$/, serial],
  [/^\/ui\/valuation\/?$/, valuation],
  [/^\/ui\/reports\/movements\/?$/, movements],
  [/^\/ui\/audit\/?$/, audit],
];

const main = document.getElementById('main');
let me = null; // {principal, role} of the signed-in key
let drawn = 0; // the render in progress; older ones stop writing

/** Whether the signed-in role may read a part of the console (a key of CAN). */
export function may(part) {
  return Boolean(me && CAN[part]?.includes(me.role));
}

export function navigate(url, { replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  render({ focus: true });
}

function shell() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.replaceChildren();
  who.replaceChildren();
  if (!me) return;
  const here = location.pathname;
  nav.append(h('ul', {}, NAV.filter((n) => may(n.can)).map((n) =>
    h('li', {}, h('a', { href: n.path, 'aria-current': n.match.test(here) ? 'page' : null }, n.label)))));
  who.append(
    h('span', {}, me.principal, ' ', h('span', { class: 'role' }, me.role)),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
  );
}

function signOut() {
  session.forget();
  me = null;
  render({ focus: true });
}

/** A JWT (three dot-separated base64url parts) is an identity provider's token, not a key. */
function looksLikeToken(key) {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(key);
}

/** Why signing in failed, in a sentence: the server's own reason for a refused token. */
function refusal(error, token) {
  if (!(error instanceof ApiError) || error.status === 0) return 'The server could not be reached.';
  if (token && error.status === 401) return `The server refused this token: ${error.problem?.detail ?? 'invalid token'}.`;
  if (token && error.status === 403) return 'This token grants no stockledger role.';
  if (error.status === 401) return 'The server does not know this key.';
  return 'The server could not be reached.';
}

function signIn(message) {
  document.title = 'Sign in · stockledger';
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('div', { 'aria-live': 'polite' }, message ? notice('error', message) : null);
  // No `name` on the field and no action: the key can never be sent as part of a URL.
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title', novalidate: true },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', {}, 'The console reads the API with your API key or an access token from your identity provider. It is kept in this browser tab only, until you sign out or close it.'),
    field('API key or token', input),
    h('button', { type: 'submit' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return status.replaceChildren(notice('error', 'Enter an API key or a token.'));
    try {
      me = (await getJson('/v1/me', { key })).body;
    } catch (error) {
      return status.replaceChildren(notice('error', refusal(error, looksLikeToken(key))));
    }
    session.keep(key);
    render({ focus: true });
  });
  main.replaceChildren(form);
  input.focus();
}

async function render({ focus = false } = {}) {
  const mine = ++drawn;
  if (!session.key()) {
    me = null;
    shell();
    return signIn();
  }
  if (!me) {
    try {
      me = (await getJson('/v1/me')).body;
    } catch {
      session.forget();
      shell();
      return signIn('Sign in again: the server did not accept the key or token of this session.');
    }
  }
  shell();
  const route = ROUTES.find(([pattern]) => pattern.test(location.pathname));
  main.setAttribute('aria-busy', 'true');
  main.removeAttribute('data-ready');
  const page = h('div', { class: 'page' });
  main.replaceChildren(page);
  const context = {
    params: route ? location.pathname.match(route[0]).slice(1).map(decodeURIComponent) : [],
    query: new URLSearchParams(location.search),
    role: me.role,
    current: () => mine === drawn,
  };
  try {
    if (route) await route[1](page, context);
    else page.append(h('h1', {}, 'No such page'), notice('info', 'The console has no page at this address. ', h('a', { href: '/ui/' }, 'Go to the stock explorer')));
  } catch (error) {
    if (mine === drawn) page.append(notice('error', `Something went wrong drawing this page: ${error.message}`));
  }
  if (mine !== drawn) return;
  main.removeAttribute('aria-busy');
  main.setAttribute('data-ready', 'true');
  performance.clearMarks('console:drawn');
  performance.mark('console:drawn'); // the page is drawn with its data (bench U1 reads it)
  const title = page.querySelector('h1')?.textContent;
  document.title = `${title ? `${title} · ` : ''}stockledger`;
  if (focus) {
    const heading = page.querySelector('h1');
    heading?.setAttribute('tabindex', '-1');
    (heading ?? main).focus({ preventScroll: false });
  }
}

// In-page navigation for every link to a console page (not for new tabs or downloads).
document.addEventListener('click', (event) => {
  const a = event.target.closest?.('a[href]');
  if (!a || a.target || a.hasAttribute('download') || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/')) return;
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => render({ focus: true }));
whenUnauthorized(() => {
  session.forget();
  me = null;
  drawn += 1; // the page that met the 401 stops drawing
  shell();
  signIn('The server no longer accepts this key. Sign in again.');
});

render();
