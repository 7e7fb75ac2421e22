// `make static` promises a binary that needs only glibc and libcurl 4 from
// the host, and hosts run old libcurls (Ubuntu 22.04: 7.81, Debian 11:
// 7.74). The binary must not link a libcurl function newer than 7.74
// (curl_easy_header came in 7.83: the CloudFront check reads the Server
// header with a header callback instead), and the options newer than the
// host's fall back (CURLOPT_PROTOCOLS_STR, 7.85: tests/unit/test_ably_handles.c
// forces the bitmask branch).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { binaryPath } from './lib/stack.mjs';

// Every libcurl function the binary may use, each in libcurl since 7.74 or
// earlier (curl's docs give the version each was added in).
const SINCE_7_74 = new Set([
  'curl_global_init', 'curl_global_cleanup', 'curl_version_info', 'curl_free',
  'curl_easy_init', 'curl_easy_setopt', 'curl_easy_getinfo', 'curl_easy_cleanup',
  'curl_easy_perform', 'curl_easy_strerror', 'curl_easy_escape',
  'curl_slist_append', 'curl_slist_free_all',
  'curl_multi_init', 'curl_multi_setopt', 'curl_multi_add_handle', 'curl_multi_remove_handle',
  'curl_multi_socket_action', 'curl_multi_info_read', 'curl_multi_assign', 'curl_multi_cleanup',
  'curl_multi_strerror', 'curl_share_init', 'curl_share_setopt', 'curl_share_cleanup',
]);

test('the binary links no libcurl function newer than 7.74', () => {
  const out = execFileSync('nm', ['-D', '--undefined-only', binaryPath], { encoding: 'utf8' });
  const used = [...new Set(out.match(/\bcurl_[a-z_]+/g) || [])].sort();
  assert.ok(used.includes('curl_multi_socket_action'), `nm found no libcurl use at all: ${used}`);
  const newer = used.filter((f) => !SINCE_7_74.has(f));
  assert.deepEqual(newer, [], `libcurl functions the list does not know to be in 7.74: ${newer.join(', ')}`);
});
