// The static server behind `make playground` and the browser test: the page's
// files with their types, nothing else, and no crash on a malformed path.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { serve } from '../serve.mjs';

let server;
before(async () => {
  server = await serve(0);
});
after(() => server.close());

// A raw GET (fetch would normalise `..` away before sending it).
function get(path) {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: server.address().port, path }, (response) => {
      response.resume();
      response.on('end', () => resolve([response.statusCode, response.headers['content-type']]));
    }).on('error', reject).end();
  });
}

test('serves the page, its script and the module with their types', async () => {
  assert.deepEqual(await get('/'), [200, 'text/html; charset=utf-8']);
  assert.deepEqual(await get('/app.js'), [200, 'text/javascript; charset=utf-8']);
  assert.deepEqual(await get('/pkg/native_sidecar_policy_bg.wasm'), [200, 'application/wasm']);
});

test('serves nothing outside the page', async () => {
  for (const path of ['/../Cargo.toml', '/%2e%2e/Cargo.toml', '/node_modules/playwright-core/package.json',
    '/package.json.bak', '/nothing.js', '/%E0%A4%A']) {
    assert.equal((await get(path))[0], 404, path);
  }
  assert.equal((await get('/'))[0], 200, 'still serving after a malformed path');
});
