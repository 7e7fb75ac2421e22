/* Demo page for /request-token: request a credential with fetch and show it,
 * or (when ably-js is present) let ably-js fetch it and publish one message. */
'use strict';

(function () {
  const TOKEN_URL = '/request-token';
  const form = document.getElementById('token-form');
  const statusEl = document.getElementById('status');
  const errorEl = document.getElementById('error');
  const output = document.getElementById('output');
  const connectBtn = document.getElementById('connect');

  function field(name) {
    return document.getElementById(name).value.trim();
  }

  /* The same params ably-js would send; empty fields are left out. */
  function tokenParams() {
    const params = new URLSearchParams();
    for (const name of ['clientId', 'ttl', 'capability']) {
      const v = field(name);
      if (v !== '') params.set(name, v);
    }
    return params;
  }

  function show(status, text) {
    statusEl.textContent = status;
    output.textContent = text;
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
  }

  function clearError() {
    errorEl.textContent = '';
    errorEl.hidden = true;
  }

  function base64urlDecode(part) {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  }

  /* A JWT is shown decoded (header and claims); the signature is not checked here. */
  function describeJwt(jwt) {
    const parts = jwt.split('.');
    if (parts.length !== 3) return jwt;
    try {
      const header = JSON.parse(base64urlDecode(parts[0]));
      const claims = JSON.parse(base64urlDecode(parts[1]));
      for (const k of ['iat', 'exp']) {
        if (typeof claims[k] === 'number') claims[k + ' (UTC)'] = new Date(claims[k] * 1000).toISOString();
      }
      return 'JWT\n' + jwt + '\n\nheader: ' + JSON.stringify(header, null, 2) +
        '\nclaims: ' + JSON.stringify(claims, null, 2);
    } catch (e) {
      return jwt;
    }
  }

  async function requestToken(event) {
    event.preventDefault();
    clearError();
    const method = field('method');
    const params = tokenParams();
    let url = TOKEN_URL;
    const init = { method, headers: { Accept: 'application/json, text/plain' }, cache: 'no-store' };
    if (method === 'POST') {
      init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
      init.body = params.toString();
    } else if ([...params].length > 0) {
      url += '?' + params.toString();
    }
    show('Requesting…', '');
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      show('Request failed', '');
      showError('Network error: ' + e.message);
      return;
    }
    const type = res.headers.get('Content-Type') || '';
    const body = await res.text();
    const statusLine = res.status + ' ' + res.statusText + (type ? ' (' + type + ')' : '');
    if (!res.ok) {
      let code = res.headers.get('X-Ably-ErrorCode');
      let message = res.headers.get('X-Ably-ErrorMessage');
      try {
        const err = JSON.parse(body).error;
        if (err) { code = err.code; message = err.message; }
      } catch (e) { /* not JSON: fall back to the headers */ }
      show(statusLine, body);
      showError('Error ' + (code || res.status) + ': ' + (message || res.statusText));
      return;
    }
    if (type.startsWith('application/json')) {
      let text = body;
      try {
        const obj = JSON.parse(body);
        const kind = obj && obj.issued ? 'TokenDetails' : obj && obj.keyName ? 'TokenRequest' : 'JSON';
        text = kind + '\n' + JSON.stringify(obj, null, 2);
      } catch (e) { /* show it raw */ }
      show(statusLine, text);
    } else {
      show(statusLine, describeJwt(body));
    }
  }

  /* The offline demo (run-demo.sh without a key) serves /demo-config.json and
   * proxies the emulator's REST paths on this origin; otherwise use real Ably. */
  async function ablyOptions() {
    const opts = { authUrl: TOKEN_URL, authMethod: field('method') };
    const params = tokenParams();
    if ([...params].length > 0) opts.authParams = Object.fromEntries(params);
    try {
      const res = await fetch('/demo-config.json', { cache: 'no-store' });
      if (res.ok && (await res.json()).emulator) {
        const tls = location.protocol === 'https:';
        opts.restHost = location.hostname;
        opts.port = Number(location.port) || (tls ? 443 : 80);
        opts.tlsPort = opts.port;
        opts.tls = tls;
        opts.useBinaryProtocol = false;
      }
    } catch (e) { /* no demo config: real Ably */ }
    return opts;
  }

  async function connect() {
    clearError();
    show('Connecting with ably-js…', '');
    try {
      const opts = await ablyOptions();
      const rest = new window.Ably.Rest(opts);
      const details = await rest.auth.authorize();
      const channel = 'demo:' + Math.random().toString(36).slice(2, 8);
      await rest.channels.get(channel).publish('greeting', 'hello from the token demo');
      const shown = Object.assign({}, details, { token: details.token.slice(0, 12) + '…' });
      show('Connected' + (opts.restHost ? ' (local emulator)' : '') + '; published to ' + channel,
        'TokenDetails\n' + JSON.stringify(shown, null, 2));
    } catch (e) {
      show('ably-js failed', '');
      showError('Error ' + (e.code || '') + ': ' + (e.message || e));
    }
  }

  form.addEventListener('submit', requestToken);
  connectBtn.addEventListener('click', connect);
  if (window.Ably && window.Ably.Rest) connectBtn.hidden = false;
})();
