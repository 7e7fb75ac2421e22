// A throwaway certificate authority for TLS tests, made with the openssl CLI
// (no npm packages): EC P-256 keys, two days of validity, nothing that any
// real client trusts.
//
//   const ca = await makeTestCA(dir);
//   // ca.caFile              the test CA's certificate (ca_file = ...)
//   // ca.certFile/keyFile    server certificate for IP:127.0.0.1 and DNS:localhost, signed by it
//   // ca.wrongNameCertFile/wrongNameKeyFile   signed by the same CA, for DNS:wrong.invalid only
//   // ca.otherCaFile         an unrelated CA's certificate ("wrong CA" tests)
//
// Every file is written into dir (created if missing). Each openssl run's
// exit status is checked; a failure names the command and quotes openssl's stderr.

import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';

const DAYS = '2';
const CA_NAME = 'ably-token-fcgi TEST CA — not for production';
const OTHER_CA_NAME = 'ably-token-fcgi OTHER TEST CA — trusts nothing here';

// A config of our own, so the system openssl.cnf adds no extensions of its own.
const OPENSSL_CNF = `# written by tests/integration/lib/testca.mjs
[req]
distinguished_name = dn
prompt = no
utf8 = yes
string_mask = utf8only
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1, DNS:localhost
[wrong_name_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.invalid
`;

function openssl(args, cwd) {
  return new Promise((resolve, reject) => {
    // OPENSSL_CONF too: some subcommands read the default config before -config.
    execFile('openssl', args, { cwd, encoding: 'utf8', env: { ...process.env, OPENSSL_CONF: path.join(cwd, 'openssl.cnf') } },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.code === 'ENOENT' ? 'openssl not found (apt-get install openssl)'
            : `exit ${err.code ?? err.signal}`;
          reject(new Error(`openssl ${args.join(' ')}: ${why}\n${String(stderr).trim()}`));
        } else {
          resolve(stdout);
        }
      });
  });
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/* A self-signed CA: name.key, name.pem. */
function makeCA(dir, name, subject) {
  return openssl(['req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', 'ca_ext', ...newKey,
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', DAYS, '-utf8', '-subj', `/CN=${subject}`], dir);
}

/* A server certificate signed by ca: name.key, name.pem. */
function makeLeaf(dir, name, ca, ext, cn) {
  return openssl(['req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', ext, ...newKey,
    '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', DAYS, '-subj', `/CN=${cn}`], dir);
}

export async function makeTestCA(dir) {
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'openssl.cnf'), OPENSSL_CNF);
  await Promise.all([makeCA(dir, 'test-ca', CA_NAME), makeCA(dir, 'other-ca', OTHER_CA_NAME)]);
  await Promise.all([
    makeLeaf(dir, 'server', 'test-ca', 'server_ext', 'localhost'),
    makeLeaf(dir, 'wrong-name', 'test-ca', 'wrong_name_ext', 'wrong.invalid'),
  ]);
  const f = (name) => path.join(dir, name);
  return {
    caFile: f('test-ca.pem'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
    wrongNameCertFile: f('wrong-name.pem'),
    wrongNameKeyFile: f('wrong-name.key'),
    otherCaFile: f('other-ca.pem'),
  };
}
