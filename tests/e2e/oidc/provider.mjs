// A real OpenID provider for the tests: `oidc-provider` issuing client-credentials access
// tokens as JWTs for one resource server (the audience), with a `roles` claim per client.
// Usage: node provider.mjs <oidc-provider module dir> <port> <jwks.json> <audience>
// Prints "listening" once it accepts connections; a new JWKS file is a restart away.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, port, jwksFile, audience] = process.argv.slice(2);
const { default: Provider } = await import(pathToFileURL(join(moduleDir, 'lib', 'index.js')).href);

const ROLES = { shop: ['orders'], 'night-shift': ['warehouse', 'orders'], visitor: ['viewer'] };
const clients = Object.keys(ROLES).map((id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  scope: 'stock',
}));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients,
  jwks: JSON.parse(readFileSync(jwksFile, 'utf8')),
  scopes: ['stock'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'stock',
        audience,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: async (_ctx, token) => ({ roles: ROLES[token.clientId] ?? [] }),
});

provider.listen(Number(port), '127.0.0.1', () => console.log('listening'));
