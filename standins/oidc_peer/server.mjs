// A second, independent OAuth 2.0 server for the tests: panva's oidc-provider (npm, pinned by
// package-lock.json), an OpenID Certified implementation, with the client-credentials grant
// (RFC 6749 §4.4), token revocation (RFC 7009) and introspection (RFC 7662) enabled. It checks
// what the Authlib stand-in (standins/token_server.py) might share a misreading with.
//
// Binds 127.0.0.1 on an ephemeral port, prints {"issuer": ...} on one stdout line once it
// listens, and serves until killed. Clients come from $OIDC_PEER_CLIENTS, a JSON list of
// {"client_id", "client_secret", "token_endpoint_auth_method", "scope"}.
import http from 'node:http';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.OIDC_PEER_CLIENTS || '[]');
const scopes = [...new Set(clients.flatMap((c) => (c.scope || '').split(' ').filter(Boolean)))];

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      token_endpoint_auth_method: c.token_endpoint_auth_method,
      scope: c.scope,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    scopes,
    features: {
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
    },
    ttl: { ClientCredentials: 3600 },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
