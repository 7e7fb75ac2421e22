// The original stack, rebuilt for `make bench`: an Express server with the npm `ably`
// package, the way Ably's own Node auth-server examples hand out credentials.
//
//   node tests/bench/node-server.mjs --mode token-request|token|jwt --port N
//        [--rest-host 127.0.0.1 --rest-port N]   (token mode: the local emulator)
//        [--tls]   (token mode: HTTPS to that port, as to Ably; trust its CA with
//                   NODE_EXTRA_CA_CERTS=<ca file> in the environment)
//
// GET /request-token answers with
//   token-request  rest.auth.createTokenRequest(...)      (signed locally)
//   token          rest.auth.requestToken(...)            (one POST to "Ably")
//   jwt            an Ably JWT (HS256, kid = key name) signed with node:crypto
// for the same identity, capability and ttl as build/ably-token's defaults. One
// process, one event loop, no logging per request, Express defaults otherwise.
// Prints {"event":"listening","port":N} once ready; SIGTERM/SIGINT close it.

import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import express from 'express';
import Ably from 'ably';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'token-request' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    key: { type: 'string', default: 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000' },
    'rest-host': { type: 'string', default: '127.0.0.1' },
    'rest-port': { type: 'string', default: '0' },
    tls: { type: 'boolean', default: false },
  },
});

const CLIENT_ID = 'example-client-id';
const CAPABILITY = { '*': ['*'] };
const TTL_MS = 3600 * 1000;

const [keyName, keySecret] = [args.key.slice(0, args.key.indexOf(':')), args.key.slice(args.key.indexOf(':') + 1)];

// ably-js refuses Basic auth without TLS, so the client uses token auth; its
// auth.createTokenRequest/requestToken sign with the key either way. Everything else is
// ably-js's default (its HTTP agent included: keepAlive, maxSockets 40).
const restPort = Number(args['rest-port']) || undefined;
const rest = new Ably.Rest({
  key: args.key,
  useTokenAuth: true,
  restHost: args['rest-host'],
  ...(args.tls ? { tls: true, tlsPort: restPort } : { tls: false, port: restPort }),
  useBinaryProtocol: false,
  logLevel: 0,
});

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function signJwt() {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256', kid: keyName }));
  const claims = b64url(JSON.stringify({
    iat: now,
    exp: now + TTL_MS / 1000,
    'x-ably-capability': JSON.stringify(CAPABILITY),
    'x-ably-clientId': CLIENT_ID,
  }));
  const mac = crypto.createHmac('sha256', keySecret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${mac}`;
}

const app = express();
const params = { clientId: CLIENT_ID, capability: CAPABILITY, ttl: TTL_MS };

app.get('/request-token', async (req, res) => {
  try {
    if (args.mode === 'jwt') {
      res.type('text/plain').send(signJwt());
    } else if (args.mode === 'token') {
      res.json(await rest.auth.requestToken(params));
    } else {
      res.json(await rest.auth.createTokenRequest(params));
    }
  } catch (err) {
    res.status(err.statusCode || 500).json({ error: { message: String(err.message), code: err.code || 50000 } });
  }
});

if (!['token-request', 'token', 'jwt'].includes(args.mode)) {
  process.stderr.write(`node-server: unknown --mode ${args.mode}\n`);
  process.exit(2);
}

const server = app.listen(Number(args.port), args.host, () => {
  process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port, mode: args.mode,
    tls: args.tls }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
