// Write the seed corpus in tests/fuzz/corpus/ from what the other tests
// already know: every case of tests/integration/cases.txt (in fuzz_request's
// input format), capabilities, config files and form strings. Run it again
// after adding cases; it only adds or overwrites its own seed-* files.
//
//   node tests/fuzz/make-seeds.mjs
//
// Seeds over 16 KiB (the run's -max_len) are left out.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCases } from '../integration/lib/cases.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const MAX = 16 * 1024;

function put(target, name, bytes) {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8');
  if (b.length > MAX) return;
  const dir = path.join(here, 'corpus', target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `seed-${name}`), b);
}

// fuzz_request: METHOD \n QUERY \n CTYPE \n CLEN \n ORIGIN \n URI \n ACRH \n REMOTE_USER \n body
function requestSeed({ method = 'GET', query = '', ctype = null, clen = null, origin = null,
  uri = '/request-token', acrh = null, user = null, body = null }) {
  const line = (v) => (v === null || v === undefined ? Buffer.alloc(0)
    : v.length === 0 ? Buffer.from([1]) : Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8'));
  const parts = [method, query, ctype, clen, origin, uri, acrh, user].map(line);
  const out = [];
  for (const p of parts) out.push(p, Buffer.from('\n'));
  if (body) out.push(Buffer.isBuffer(body) ? body : Buffer.from(body));
  return Buffer.concat(out);
}

for (const c of loadCases(path.join(root, 'tests/integration/cases.txt'))) {
  const t = c.target;
  const q = t.indexOf(0x3f);
  const env = Object.fromEntries(Object.entries(c.env).filter(([, v]) => v !== null));
  const hdr = Object.fromEntries(c.headers.map(([k, v]) => [k.toLowerCase(), v]));
  if ([t, c.body || Buffer.alloc(0), ...Object.values(env)].some((b) => b.includes(0x0a) && b !== c.body)) continue;
  put('request', c.name, requestSeed({
    method: env.REQUEST_METHOD ?? c.method,
    query: q < 0 ? null : t.subarray(q + 1),
    ctype: c.contentType,
    clen: c.contentLength === undefined ? (c.body ? '*' : null) : c.contentLength,
    origin: hdr.origin ?? null,
    uri: env.DOCUMENT_URI ?? (q < 0 ? t : t.subarray(0, q)),
    acrh: hdr['access-control-request-headers'] ?? null,
    body: c.body,
  }));
}
put('request', 'valid-get', requestSeed({ query: 'clientId=example-client-id&ttl=60000&capability=%7B%22chat%3A*%22%3A%5B%22publish%22%5D%7D' }));
put('request', 'valid-post-form', requestSeed({ method: 'POST', ctype: 'application/x-www-form-urlencoded', clen: '*', body: 'ttl=60000&clientId=example-client-id' }));
put('request', 'valid-post-json', requestSeed({ method: 'POST', ctype: 'application/json', clen: '*', body: '{"ttl":60000,"capability":{"status":["subscribe"]}}' }));
put('request', 'preflight', requestSeed({ method: 'OPTIONS', origin: 'http://allowed.example', acrh: 'authorization, content-type' }));
put('request', 'health', requestSeed({ uri: '/healthz' }));
put('request', 'remote-user', requestSeed({ query: 'ttl=60000', user: 'alice' }));

// fuzz_capability: A [NUL B]
const caps = {
  'star': '{"*":["*"]}',
  'chat': '{"chat:*":["publish","subscribe","presence"],"status":["subscribe"]}',
  'qualifiers': '{"[meta]*":["subscribe"],"[*]*":["history"],"[queue]q:*":["subscribe"]}',
  'segments': '{"a:*:c":["publish"],"a:b:*":["subscribe"],"*:x":["presence"]}',
  'escapes': '{"chat:\\u00e9\\/x":["publish"],"\\ud83d\\ude00":["subscribe"]}',
  'template': '{"private:{clientId}":["*"],"chat:*":["subscribe"]}',
  'all-ops': '{"x":["publish","subscribe","presence","history","stats","channel-metadata","push-subscribe","push-admin","privileged-headers","object-subscribe","object-publish","annotation-subscribe","annotation-publish","*"]}',
  'empty': '{}',
  'empty-ops': '{"x":[]}',
  'dup-ops': '{"x":["publish","publish"]}',
  'deep': '{"a":' + '['.repeat(50) + ']'.repeat(50) + '}',
};
for (const [n, v] of Object.entries(caps)) put('capability', n, v);
put('capability', 'pair-chat-star', `${caps.chat}\0${caps.star}`);
put('capability', 'pair-qualifiers', `${caps.qualifiers}\0{"[meta]x":["*"],"chat:1":["subscribe"]}`);
put('capability', 'pair-segments', `${caps.segments}\0{"a:b:c":["*"],"*":["publish"]}`);
put('capability', 'pair-wildcard-tail', '{"chat:a*":["*"]}\0{"chat:ab":["publish"],"chat:*":["subscribe"]}');

// fuzz_config: whole config files
const KEY = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';
put('config', 'documented', fs.readFileSync(path.join(root, 'conf/ably-token.conf')));
put('config', 'token-request', `key = ${KEY}\nmode = token-request\nclient_id = alice\nttl = 30m\nmax_ttl = 2h\n`);
put('config', 'jwt-claims', `key = ${KEY}\nmode = jwt\nrevocation_key = u-{clientId}\nchannel_claim.chat:lobby = member\npublish_max_rate.chat:* = 10\nclient_id = $remote_user\n`);
put('config', 'rules', `key = ${KEY}\nmode = token-request\nclient_id = $remote_user\ngroup.admins = carol, dave\n` +
  'rule.admins.match = group:admins\nrule.admins.capability = {"*":["*"],"[meta]*":["subscribe"]}\nrule.admins.wildcard_client_id = on\n' +
  'rule.users.match = *\nrule.users.capability = {"private:{clientId}":["*"],"chat:*":["publish","subscribe","presence"]}\nrule.users.ttl = 30m\n');
put('config', 'trusted-header', `key = ${KEY}\nmode = jwt\nclient_id = $header:X-User\ntrusted_header_secret = ${'s'.repeat(32)}\ngroup_header = X-Groups\n`);
put('config', 'random-id', `key = ${KEY}\nmode = token-request\nclient_id = $random\ncors_origins = https://a.example, http://b.example:8080\nmax_body = 64\nhealth_path =\nlog_level = debug\n`);
put('config', 'rest', `key = ${KEY}\nmode = token\nrest_host = 127.0.0.1:1\nfallback_hosts = a.example, b.example:8443\nport = 0\ntls = off\nconnect_timeout_ms = 100\nrequest_timeout_ms = 200\nupstream_timeout_ms = 300\nquery_time = on\n`);
put('config', 'mistakes', `key = ${KEY}\nttl = 25h\n`);
put('config', 'twice', 'mode = jwt\nmode = jwt\n');
put('config', 'crlf', `key = ${KEY}\r\nmode = jwt\r\n`);

// fuzz_form
const forms = ['ttl=60000&clientId=a%20b', 'a+b=%2B%26%3D', '%', '%4', '%zz', '%00', 'x=%E2%82%AC', '&&=&', 'capability=%7B%22*%22%3A%5B%22*%22%5D%7D', 'ttl=1&ttl=2', '%25%32%35'];
forms.forEach((f, i) => put('form', `f${i}`, f));
// fuzz_policy: a config number (byte 0: 0 fixed id, 1 $remote_user and rules,
// 2 $header with a trusted secret, 3 $random in jwt mode, 4 $request), then
// clientId \n capability \n ttl \n REMOTE_USER \n identity header \n group
// header \n trusted secret; \x01 alone is present and empty.
const SECRET = 'fuzz-secret-0123456789abcdef';
const policySeeds = {
  'fixed-nothing-asked': '\x00',
  'fixed-all-asked': '\x00alice\n{"chat:room":["subscribe"]}\n5000',
  'fixed-other-client': '\x00bob',
  'fixed-wildcard': '\x00*',
  'fixed-empty-client': '\x00\x01',
  'fixed-bad-ttl': '\x00\n\n999',
  'fixed-disjoint-cap': '\x00\n{"news:*":["*"]}',
  'fixed-wide-cap': '\x00\n{"*":["*"]}\n3600000',
  'remote-user-group': '\x01\n\n\nolga',
  'remote-user-wildcard': '\x01*\n\n\npete',
  'remote-user-none': '\x01',
  'remote-user-root-template': '\x01root\n{"user:root":["publish"]}\n\nroot',
  'header-with-secret': `\x02\n\n\n\nerin\nstaff, dev\n${SECRET}`,
  'header-without-secret': '\x02\n\n\n\nerin\nstaff',
  'header-wrong-secret': `\x02\n\n\n\nerin\n\n${SECRET}x`,
  'header-groups-only': `\x02\n\n\n\n\nstaff\n${SECRET}`,
  'random-new': '\x03',
  'random-presented': '\x03anon-000000000000000000000000aaaaaaaaaaaaaaaa',
  'random-ttl-over-revocable': '\x03\n\n3600001',
  'request-vip': '\x04vip\n{"x":["publish"]}\n600000',
  'request-template-chars': '\x04a:b*\n',
  'request-none': '\x04',
};
for (const [name, text] of Object.entries(policySeeds)) put('policy', name, text);
console.log('seeds written under', path.join(here, 'corpus'));
