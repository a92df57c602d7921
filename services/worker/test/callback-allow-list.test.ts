// W4 on the callback URI's scheme, host and port: http:// and https:// bare URIs only, prefixes
// matched on the canonical form (so the host TLS verifies is the host the allow-list accepted).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCallbackAllowed } from '@switchyard/worker';

test('W4: https callback URIs pass only an https prefix, http ones only an http prefix', () => {
  assert.equal(isCallbackAllowed('https://10.0.1.11:10086', ['https://10.0.1.']), true);
  assert.equal(isCallbackAllowed('https://10.0.1.11:10086', ['http://10.0.1.']), false);
  assert.equal(isCallbackAllowed('http://10.0.1.11:10086', ['https://10.0.1.']), false);
  assert.equal(isCallbackAllowed('https://proxy-1.internal:10086/', ['https://proxy-1.internal:']), true);
});

test('W4: userinfo, paths and other schemes are refused for https as for http', () => {
  assert.equal(isCallbackAllowed('https://10.0.1.11:1@evil:443', ['https://10.0.1.']), false);
  assert.equal(isCallbackAllowed('https://10.0.1.11:10086/x', ['https://10.0.1.']), false);
  assert.equal(isCallbackAllowed('wss://10.0.1.11:10086', ['wss://10.0.1.']), false);
});
