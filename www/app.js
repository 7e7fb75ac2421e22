/* Demo page for the ably-token endpoint: connect ably-js with a credential from
 * /request-token, show each step, the credential and its renewals, and let the
 * user publish and receive a message. Plain browser JavaScript, no build step.
 *
 * Where ably-js connects: /demo-config.json (served by `make run` without a key)
 * says {"emulator": true}: then ably-js talks to the local Ably emulator on this
 * page's own origin (nginx proxies it), or on "host"/"port" if the file names
 * them. Without that file nothing is overridden and ably-js talks to Ably. */
'use strict';

(function () {
  const AUTH_URL = '/request-token';
  const MAX_LIST = 20;

  const $ = (id) => document.getElementById(id);
  const form = $('connect-form');
  const statusEl = $('status');
  const errorEl = $('error');

  /* Everything about the current connection attempt. A new Connect starts a new run;
   * callbacks from an older run see run !== current.run and do nothing. */
  const current = {
    run: 0,
    client: null,
    channel: null,
    authMode: 'authUrl',
    t0: 0,              // performance.now() when Connect was pressed
    fetches: [],        // credential fetches from /request-token: {start, end, status, type}
    exchanges: [],      // TokenRequest exchanges at Ably (/keys/.../requestToken)
    seen: new Set(),    // resource timing entries already counted
    connectedOnce: false,
    lastToken: null,
  };
  let demoConfig = null;
  let countdownTimer = null;

  // --------------------------------------------------------------- small helpers

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function prepend(list, item) {
    list.prepend(item);
    while (list.children.length > MAX_LIST) list.lastElementChild.remove();
  }

  const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
  const ms = (n) => Math.max(0, Math.round(n)) + ' ms';

  function base64urlJson(part) {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  }

  /* Header and claims of an Ably JWT, or null if the token is not a JWT. The signature
   * is not checked here: Ably does that. */
  function decodeJwt(token) {
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 3) return null;
    try {
      const header = base64urlJson(parts[0]);
      const claims = base64urlJson(parts[1]);
      return header && typeof header === 'object' && claims && typeof claims === 'object' ? { header, claims } : null;
    } catch (e) {
      return null;
    }
  }

  // ------------------------------------------------------------------- errors

  /* What an Ably error code means, in plain words. */
  const HINTS = {
    40000: 'The request was malformed.',
    40003: 'The requested lifetime (ttl) is outside what the server allows.',
    40012: 'The clientId is empty or not valid.',
    40101: 'Ably did not accept the credential: wrong key, or a bad signature.',
    40102: 'The credential is for a different clientId than the one the client uses.',
    40103: 'Basic (key) authentication needs TLS.',
    40104: 'The TokenRequest is too old or from the future: check the server clock.',
    40105: 'This TokenRequest was already used once.',
    40140: 'Ably did not recognise the token.',
    40142: 'The credential has expired.',
    40144: 'Ably refused the JWT (signature, key name or claims).',
    40160: 'The credential\'s capability does not allow this.',
    40170: 'The page could not get a credential from the token endpoint.',
    40171: 'ably-js has no way to get a new credential.',
    40300: 'The token endpoint refused this request, for example a clientId other than yours.',
    41300: 'The request to the token endpoint was too large.',
    50000: 'The token endpoint failed. It may have no Ably key configured.',
    80003: 'The connection to Ably was lost; ably-js will try again.',
    80008: 'The previous connection could not be resumed; this is a new one.',
    80019: 'The page could not get a credential from the token endpoint.',
    90000: 'The channel could not be used.',
  };

  const clean = (m) => String(m).replace(/\s+/g, ' ').trim();
  const errorLine = (e) => 'error ' + (e.code !== undefined && e.code !== null ? e.code : '?') +
    (e.statusCode ? ', HTTP ' + e.statusCode : '') + ': “' + clean(e.message || e) + '”';
  const causeOf = (err) => (err && err.cause && err.cause !== err && typeof err.cause === 'object' ? err.cause : null);

  /* Plain words for an ably-js ErrorInfo (or anything thrown), then the codes. When ably-js
   * wraps the endpoint's own error (80019, 40170), the endpoint's comes first. */
  function explain(err) {
    if (!err) return 'Unknown error.';
    const cause = causeOf(err);
    const parts = [];
    if (HINTS[err.code]) parts.push(HINTS[err.code]);
    if (cause) {
      parts.push('Cause: ' + errorLine(cause) + '.');
      if (HINTS[cause.code] && HINTS[cause.code] !== HINTS[err.code]) parts.push(HINTS[cause.code]);
      parts.push('(ably-js reports ' + errorLine(err) + '.)');
    } else {
      parts.push('(' + errorLine(err) + ')');
    }
    return parts.join(' ');
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = false;
  }

  function clearError() {
    errorEl.textContent = '';
    errorEl.hidden = true;
  }

  function setStatus(text) {
    statusEl.textContent = text;
  }

  // -------------------------------------------------------------------- steps

  const STEPS = ['step-token', 'step-init', 'step-connected'];
  const STATE_WORDS = { todo: ' (not done)', done: ' (done)', failed: ' (failed)' };

  function setStep(id, state, detail) {
    const li = $(id);
    li.dataset.state = state;
    li.querySelector('.mark').textContent = state === 'done' ? '✓' : '✗';
    li.querySelector('.state').textContent = STATE_WORDS[state];
    li.querySelector('.detail').textContent = detail || '';
  }

  const stepState = (id) => $(id).dataset.state;

  function resetSteps() {
    for (const id of STEPS) setStep(id, 'todo', '');
  }

  /* "+12 ms" from Connect; perfTime is a performance.now() value. */
  const since = (perfTime) => '+' + ms(perfTime - current.t0);

  // ------------------------------------------------------- where ably-js goes

  async function loadDemoConfig() {
    try {
      const res = await fetch('/demo-config.json', { cache: 'no-store' });
      if (!res.ok) return {};
      const cfg = await res.json();
      return cfg && typeof cfg === 'object' ? cfg : {};
    } catch (e) {
      return {};
    }
  }

  /* Host options for the local emulator; none (real Ably) without a demo config. */
  function hostOptions(cfg) {
    if (!cfg.emulator) return {};
    const tls = typeof cfg.tls === 'boolean' ? cfg.tls : location.protocol === 'https:';
    const host = cfg.host || location.hostname;
    const port = Number(cfg.port || location.port || (tls ? 443 : 80));
    const opts = {
      tls, port, tlsPort: port,
      useBinaryProtocol: false,        // the emulator speaks JSON
      transports: ['web_socket'],      // and has no comet fallback
    };
    // ably-js takes a host name as `endpoint` when it looks like one; else the older options.
    if (host.includes('.') || host.includes(':') || host === 'localhost') opts.endpoint = host;
    else opts.restHost = opts.realtimeHost = host;
    return opts;
  }

  function showWhere(cfg) {
    const where = $('where');
    if (cfg.emulator) {
      where.textContent = 'Offline demo: ably-js talks to the local Ably emulator with a TEST key. Nothing reaches Ably.';
      where.className = 'where emulator';
    } else {
      where.textContent = 'ably-js talks to Ably (realtime.ably.net) with the credential from this server.';
      where.className = 'where';
    }
    where.hidden = false;
  }

  // -------------------------------------------------------- token parameters

  /* TokenParams from the form; throws a plain-words Error for a bad value. */
  function tokenParams() {
    const p = {};
    const ttl = $('ttl').value.trim();
    if (ttl !== '') {
      if (!/^[1-9][0-9]*$/.test(ttl)) throw new Error('The lifetime must be a whole number of milliseconds, e.g. 60000.');
      p.ttl = Number(ttl);
    }
    const clientId = $('clientId').value.trim();
    if (clientId !== '') p.clientId = clientId;
    const capability = $('capability').value.trim();
    if (capability !== '') {
      let obj;
      try {
        obj = JSON.parse(capability);
      } catch (e) {
        throw new Error('The capability is not valid JSON: ' + e.message);
      }
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('The capability must be a JSON object, e.g. {"demo":["publish","subscribe"]}.');
      p.capability = JSON.stringify(obj);
    }
    return p;
  }

  /* The same request ably-js makes for an authUrl: params in the query (GET) or a form body (POST). */
  function endpointRequest(params, method) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null) continue;
      qs.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
    const init = { method, cache: 'no-store', headers: { Accept: 'application/json, text/plain' } };
    let url = AUTH_URL;
    if (method === 'POST') {
      init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
      init.body = qs.toString();
    } else if ([...qs].length) {
      url += '?' + qs.toString();
    }
    return { url, init };
  }

  /* The error an endpoint answer carries, as ably-js reads it (body, then headers). */
  function endpointError(res, body) {
    let code = Number(res.headers.get('X-Ably-ErrorCode')) || undefined;
    let message = res.headers.get('X-Ably-ErrorMessage') || res.statusText || 'error';
    try {
      const e = JSON.parse(body).error;
      if (e) {
        code = e.code || code;
        message = e.message || message;
      }
    } catch (e) { /* not JSON */ }
    return { code: code || (res.status === 403 ? 40300 : 40170), statusCode: res.status, message: message };
  }

  /* Kind of credential in a successful answer. */
  function kindOf(contentType, value) {
    if (typeof value === 'string') return decodeJwt(value) ? 'JWT' : 'token string';
    if (value && 'issued' in value) return 'TokenDetails';
    if (value && 'keyName' in value) return 'TokenRequest';
    return contentType || 'unknown';
  }

  /* authCallback: this page fetches the credential and hands it to ably-js. */
  function makeAuthCallback(run, method) {
    return function authCallback(params, callback) {
      const { url, init } = endpointRequest(params, method);
      const rec = { start: performance.now(), end: 0, status: 0, type: '' };
      fetch(url, init).then(async (res) => {
        const body = await res.text();
        rec.end = performance.now();
        rec.status = res.status;
        if (!res.ok) {
          const err = endpointError(res, body);
          if (run === current.run) onCredentialFetched(rec, err);
          callback(err, null);
          return;
        }
        const type = res.headers.get('Content-Type') || '';
        let value = body;
        if (type.indexOf('application/json') === 0) {
          try {
            value = JSON.parse(body);
          } catch (e) {
            const err = { code: 40170, statusCode: 500, message: 'the endpoint sent invalid JSON' };
            if (run === current.run) onCredentialFetched(rec, err);
            callback(err, null);
            return;
          }
        }
        rec.type = kindOf(type, value);
        if (run === current.run) onCredentialFetched(rec, null);
        callback(null, value);
      }, (e) => {
        rec.end = performance.now();
        const err = { code: 40170, statusCode: 401, message: 'network error: ' + e.message };
        if (run === current.run) onCredentialFetched(rec, err);
        callback(err, null);
      });
    };
  }

  // ----------------------------------------------- watching what ably-js fetches

  /* With authUrl, ably-js does the fetching (XHR); Resource Timing tells the page when it
   * asked the endpoint and when it exchanged a TokenRequest at Ably, without touching the
   * credential itself. */
  function scanResources(entries) {
    if (!current.client) return;
    for (const e of entries) {
      if (e.startTime < current.t0 || e.initiatorType !== 'xmlhttprequest') continue;
      const key = e.name + '@' + e.startTime;
      if (current.seen.has(key)) continue;
      let url;
      try {
        url = new URL(e.name);
      } catch (x) {
        continue;
      }
      const path = url.pathname;
      if (path === AUTH_URL && url.origin === location.origin && current.authMode === 'authUrl') {
        current.seen.add(key);
        const status = e.responseStatus || 0; // 0: the browser does not say
        const rec = { start: e.startTime, end: e.responseEnd || e.startTime + e.duration, status, type: '' };
        onCredentialFetched(rec, status >= 400 ? { code: undefined, statusCode: status, message: 'HTTP ' + status } : null);
      } else if (/^\/keys\/[^/]+\/requestToken$/.test(path)) {
        current.seen.add(key);
        onExchange({ start: e.startTime, end: e.responseEnd || e.startTime + e.duration, status: e.responseStatus || 0 });
      }
    }
  }

  if (window.PerformanceObserver) {
    try {
      new PerformanceObserver((list) => scanResources(list.getEntries())).observe({ type: 'resource' });
    } catch (e) { /* very old browser: steps still follow the connection state */ }
  }
  if (performance.setResourceTimingBufferSize) performance.setResourceTimingBufferSize(1000);

  function catchUpResources() {
    scanResources(performance.getEntriesByType('resource'));
  }

  // ------------------------------------------------------------ what happened

  function onCredentialFetched(rec, err) {
    current.fetches.push(rec);
    if (err) {
      if (stepState('step-token') !== 'done') setStep('step-token', 'failed', since(rec.end) + ', HTTP ' + (err.statusCode || '?'));
      return;
    }
    if (stepState('step-token') !== 'done') {
      setStep('step-token', 'done', since(rec.end) + ' (request took ' + ms(rec.end - rec.start) + (rec.type ? ', got a ' + rec.type : '') + ')');
      if (rec.type && rec.type !== 'TokenRequest' && stepState('step-init') !== 'done') {
        setStep('step-init', 'done', since(rec.end) + ' (' + rec.type + ' used as is)');
      }
    } else if (current.connectedOnce) {
      addRenewal(rec);
    }
  }

  function onExchange(x) {
    current.exchanges.push(x);
    const last = current.fetches[current.fetches.length - 1];
    if (last && !last.type) last.type = 'TokenRequest';
    if (stepState('step-init') !== 'done' && (!x.status || x.status < 400)) {
      setStep('step-init', 'done', since(x.end) + ' (TokenRequest exchanged at Ably in ' + ms(x.end - x.start) + ')');
    }
    renderRenewals();
  }

  /* A fetch after the first connect is a renewal; its details follow when ably-js uses it. */
  function addRenewal(rec) {
    rec.renewal = current.fetches.filter((f) => f.renewal).length + 1;
    const li = el('li');
    li.dataset.renewal = String(rec.renewal);
    rec.li = li;
    prepend($('renewals'), li);
    $('renewals-empty').hidden = true;
    renderRenewals();
  }

  function renderRenewals() {
    for (const rec of current.fetches) {
      if (!rec.li) continue;
      const wall = Date.now() - (performance.now() - rec.end);
      let text = 'Renewal ' + rec.renewal + ' at ' + clock(wall) + ': ' +
        (rec.type || 'credential') + ' from ' + AUTH_URL + ' in ' + ms(rec.end - rec.start);
      if (rec.expires) text += '; new expiry ' + clock(rec.expires);
      rec.li.textContent = text;
    }
  }

  // --------------------------------------------------------------- credential

  /* The credential ably-js holds now, in a common shape. */
  function credentialNow() {
    const auth = current.client && current.client.auth;
    const td = auth && auth.tokenDetails;
    if (!td || !td.token) return null;
    const jwt = decodeJwt(td.token);
    if (jwt) {
      const c = jwt.claims;
      return {
        type: 'JWT (Ably JWT, signed by the server)',
        clientId: c['x-ably-clientId'] || null,
        capability: typeof c['x-ably-capability'] === 'string' ? c['x-ably-capability'] : null,
        issued: typeof c.iat === 'number' ? c.iat * 1000 : null,
        expires: typeof c.exp === 'number' ? c.exp * 1000 : null,
        token: td.token,
      };
    }
    const last = current.fetches[current.fetches.length - 1];
    let type = 'Ably token (TokenDetails from the server)';
    if (last && last.type === 'TokenRequest') type = 'Ably token (from a TokenRequest, exchanged by ably-js)';
    else if (last && last.type === 'token string') type = 'Ably token (string)';
    return {
      type,
      clientId: td.clientId || null,
      capability: td.capability || null,
      issued: td.issued || null,
      expires: td.expires || null,
      token: td.token,
    };
  }

  function renderCapability(list, capText) {
    list.replaceChildren();
    if (!capText) {
      list.append(el('li', 'not stated (the key\'s full capability)'));
      return;
    }
    let cap;
    try {
      cap = typeof capText === 'string' ? JSON.parse(capText) : capText;
    } catch (e) {
      list.append(el('li', String(capText)));
      return;
    }
    for (const [resource, ops] of Object.entries(cap)) {
      const li = el('li');
      li.append(el('code', resource));
      if (resource === '*') li.append(' ', el('span', '(every channel)', 'muted'));
      const opsText = Array.isArray(ops) ? (ops.includes('*') ? 'everything' : ops.join(', ')) : String(ops);
      li.append(': ' + opsText);
      list.append(li);
    }
  }

  function renderCredential() {
    const c = credentialNow();
    if (!c) return;
    $('credential-empty').hidden = true;
    $('credential-details').hidden = false;
    $('cred-type').textContent = c.type;
    $('cred-clientId').textContent = c.clientId || '(none: anonymous)';
    renderCapability($('cred-capability'), c.capability);
    $('cred-issued').textContent = c.issued ? clock(c.issued) : 'unknown';
    $('cred-expires').textContent = c.expires ? clock(c.expires) : 'unknown';
    $('cred-expires').dataset.expires = c.expires ? String(c.expires) : '';
    const t = c.token;
    $('cred-token').textContent = t.length > 24 ? t.slice(0, 16) + '… (' + t.length + ' characters)' : t;
    if (c.token !== current.lastToken) {
      current.lastToken = c.token;
      const last = current.fetches[current.fetches.length - 1];
      if (last && !last.type) last.type = c.type.indexOf('JWT') === 0 ? 'JWT' : 'TokenDetails';
      if (last && last.renewal && !last.expires) last.expires = c.expires;
      renderRenewals();
    }
    tickCountdown();
  }

  function tickCountdown() {
    const exp = Number($('cred-expires').dataset.expires);
    const out = $('cred-countdown');
    if (!exp) {
      out.textContent = '';
      return;
    }
    const left = Math.round((exp - Date.now()) / 1000);
    out.textContent = left > 0 ? '(in ' + left + ' s)' : '(expired)';
  }

  function clearCredential() {
    $('credential-empty').hidden = false;
    $('credential-details').hidden = true;
    $('cred-expires').dataset.expires = '';
    $('renewals').replaceChildren();
    $('renewals-empty').hidden = false;
  }

  // -------------------------------------------------------------- connection

  function disconnect() {
    const c = current.client;
    current.client = null;
    current.channel = null;
    current.run++;
    if (c) {
      try {
        c.close();
      } catch (e) { /* already closed */ }
    }
    $('disconnect').disabled = true;
    $('pubsub').hidden = true;
  }

  async function connect(event) {
    event.preventDefault();
    disconnect();
    clearError();
    resetSteps();
    clearCredential();
    $('received').replaceChildren();
    const run = current.run;

    let params;
    try {
      params = tokenParams();
    } catch (e) {
      setStatus('Not connected.');
      showError(e.message);
      return;
    }
    if (!window.Ably || !window.Ably.Realtime) {
      setStep('step-token', 'failed', '');
      showError('ably-js is not loaded: www/vendor/ably.min.js is missing. `make run` copies it from node_modules/ably.');
      return;
    }
    if (!demoConfig) {
      demoConfig = await loadDemoConfig();
      showWhere(demoConfig);
      if (run !== current.run) return;
    }

    const method = $('method').value;
    current.authMode = form.elements.auth.value;
    current.t0 = performance.now();
    current.fetches = [];
    current.exchanges = [];
    current.seen = new Set();
    current.connectedOnce = false;
    current.lastToken = null;

    const opts = Object.assign({
      defaultTokenParams: params,   // ably-js sends them to the endpoint on every request
      echoMessages: true,           // so a message published here also arrives here
    }, hostOptions(demoConfig));
    if (current.authMode === 'authCallback') {
      opts.authCallback = makeAuthCallback(run, method);
    } else {
      opts.authUrl = AUTH_URL;
      opts.authMethod = method;
    }

    let client;
    try {
      client = new window.Ably.Realtime(opts);
    } catch (e) {
      setStep('step-init', 'failed', '');
      showError('ably-js refused the options: ' + explain(e));
      return;
    }
    current.client = client;
    $('disconnect').disabled = false;
    setStatus('Connecting…');

    client.connection.on((change) => {
      // 'update' (connected -> connected, e.g. after a renewal) is handled below.
      if (run !== current.run || change.current === change.previous) return;
      catchUpResources();
      onConnectionState(change);
    });
    client.connection.on('update', () => {
      if (run !== current.run) return;
      catchUpResources();
      renderCredential();
      setStatus('Connected; credential renewed at ' + clock(Date.now()) + '.');
    });
  }

  function onConnectionState(change) {
    const now = performance.now();
    const client = current.client;
    switch (change.current) {
      case 'connecting':
        setStatus('Connecting…');
        break;
      case 'connected': {
        const last = current.fetches[current.fetches.length - 1];
        if (stepState('step-token') !== 'done') setStep('step-token', 'done', since(last ? last.end : now));
        if (stepState('step-init') !== 'done') {
          const c = credentialNow();
          const kind = c && c.type.indexOf('JWT') === 0 ? 'JWT' : 'TokenDetails';
          setStep('step-init', 'done', since(last ? last.end : now) + ' (' + kind + ' used as is)');
        }
        const first = !current.connectedOnce;
        current.connectedOnce = true;
        setStep('step-connected', 'done', since(now) + ' (connection ' + client.connection.id + ')');
        clearError();
        setStatus(first ? 'Connected to Ably as ' + (client.auth.clientId || 'an anonymous client') + '.' : 'Connected again.');
        renderCredential();
        if (first) startPubSub();
        break;
      }
      case 'disconnected':
      case 'suspended':
      case 'failed': {
        const reason = change.reason;
        if (!current.connectedOnce) failStep(reason);
        const retry = change.retryIn ? ' ably-js tries again in ' + Math.round(change.retryIn / 1000) + ' s.' : '';
        setStatus('Connection ' + change.current + '.' + (change.current === 'failed' ? ' ably-js will not retry; press Connect.' : retry));
        if (reason) showError(explain(reason));
        break;
      }
      case 'closed':
        setStatus('Disconnected.');
        break;
      default:
        break;
    }
  }

  /* Which step a failure before the first connect belongs to: no credential from the
   * endpoint (1), Ably refused it or the TokenRequest exchange failed (2), or the connection
   * itself (3). 80019/40170 are ably-js's "could not get a credential"; without an exchange
   * they can only come from the endpoint. */
  function failStep(reason) {
    const code = reason && reason.code;
    const noCredential = (code === 80019 || code === 40170 || code === 40300) && current.exchanges.length === 0;
    if (stepState('step-token') !== 'done' || noCredential) {
      setStep('step-token', 'failed', stepDetail(reason));
    } else if (stepState('step-init') !== 'done' || code === 80019 || (code >= 40100 && code < 40200)) {
      setStep('step-init', 'failed', stepDetail(reason));
    } else {
      setStep('step-connected', 'failed', stepDetail(reason));
    }
  }

  /* "+45 ms, error 50000, HTTP 500": the endpoint's code if ably-js wrapped it. */
  function stepDetail(reason) {
    const root = causeOf(reason) || reason;
    return since(performance.now()) + (root && root.code ? ', error ' + root.code : '') +
      (root && root.statusCode ? ', HTTP ' + root.statusCode : '');
  }

  // ----------------------------------------------------------- publish/subscribe

  function pubsubStatus(text) {
    $('pubsub-status').textContent = text;
  }

  function startPubSub() {
    $('pubsub').hidden = false;
    useChannel($('channel').value.trim());
  }

  function useChannel(name) {
    const client = current.client;
    if (!client) return;
    if (current.channel) {
      current.channel.unsubscribe();
      current.channel.detach().catch(() => {});
    }
    current.channel = null;
    $('received').replaceChildren();
    if (!name) {
      pubsubStatus('Enter a channel name.');
      return;
    }
    const channel = client.channels.get(name);
    current.channel = channel;
    const run = current.run;
    channel.subscribe((msg) => {
      if (run !== current.run || current.channel !== channel) return;
      const li = el('li');
      li.append(el('time', clock(msg.timestamp || Date.now())), ' ');
      li.append(el('strong', msg.clientId || 'anonymous'), ': ');
      li.append(typeof msg.data === 'string' ? msg.data : JSON.stringify(msg.data));
      if (msg.name) li.append(' ', el('span', '(' + msg.name + ')', 'muted'));
      prepend($('received'), li);
    }).then(() => {
      if (current.channel === channel) pubsubStatus('Subscribed to "' + name + '".');
    }, (err) => {
      if (current.channel === channel) pubsubStatus('Cannot subscribe to "' + name + '": ' + explain(err));
    });
  }

  async function publish(event) {
    event.preventDefault();
    const name = $('channel').value.trim();
    if (current.client && (!current.channel || current.channel.name !== name)) useChannel(name);
    const channel = current.channel;
    if (!channel) {
      pubsubStatus('Not connected to a channel.');
      return;
    }
    const text = $('message').value;
    try {
      await channel.publish('message', text);
      pubsubStatus('Published to "' + channel.name + '" at ' + clock(Date.now()) + '.');
    } catch (err) {
      pubsubStatus('Publish failed: ' + explain(err));
    }
  }

  // ------------------------------------------------------------- raw answer

  async function requestRaw() {
    const out = $('raw-output');
    const status = $('raw-status');
    let params;
    try {
      params = tokenParams();
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    const { url, init } = endpointRequest(params, $('method').value);
    status.textContent = 'Requesting…';
    out.textContent = '';
    let res;
    let body;
    const t = performance.now();
    try {
      res = await fetch(url, init);
      body = await res.text();
    } catch (e) {
      status.textContent = 'Network error: ' + e.message;
      return;
    }
    const type = res.headers.get('Content-Type') || '';
    const took = ms(performance.now() - t);
    if (!res.ok) {
      const err = endpointError(res, body);
      status.textContent = 'HTTP ' + res.status + ' in ' + took + '. ' + explain(err);
      out.textContent = body;
      return;
    }
    let text = body;
    let kind = type;
    if (type.indexOf('application/json') === 0) {
      try {
        const obj = JSON.parse(body);
        kind = kindOf(type, obj);
        text = JSON.stringify(obj, null, 2);
      } catch (e) { /* show it raw */ }
    } else {
      const jwt = decodeJwt(body);
      if (jwt) {
        kind = 'JWT';
        text = body + '\n\nheader: ' + JSON.stringify(jwt.header, null, 2) + '\nclaims: ' + JSON.stringify(jwt.claims, null, 2);
      }
    }
    status.textContent = 'HTTP ' + res.status + ' in ' + took + ': a ' + kind + ' (' + type + ').';
    out.textContent = text;
  }

  // ------------------------------------------------------------------ wiring

  form.addEventListener('submit', connect);
  $('disconnect').addEventListener('click', () => {
    disconnect();
    setStatus('Disconnected.');
  });
  $('publish-form').addEventListener('submit', publish);
  $('channel').addEventListener('change', () => useChannel($('channel').value.trim()));
  $('request-token').addEventListener('click', requestRaw);
  countdownTimer = setInterval(tickCountdown, 1000);
  window.addEventListener('pagehide', () => clearInterval(countdownTimer));

  loadDemoConfig().then((cfg) => {
    if (!demoConfig) demoConfig = cfg;
    showWhere(demoConfig);
  });
})();
