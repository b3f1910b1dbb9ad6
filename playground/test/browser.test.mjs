// The page in a real browser: Debian's headless Chromium driven by
// playwright-core. Skipped, saying why, where either is missing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { serve } from '../serve.mjs';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const playwright = await import('playwright-core').catch(() => null);
const skip = !existsSync(executablePath)
  ? `no Chromium at ${executablePath} (apt-get install chromium)`
  : !playwright
    ? 'playwright-core is not installed (npm ci --prefix playground)'
    : false;
if (skip) console.log(`# browser test SKIPPED: ${skip}`);

// Screenshots go with the rest of the build output.
const shots = new URL('../../target/playground-test/', import.meta.url);
let server, browser, page;
const problems = [];

before(async () => {
  if (skip) return;
  mkdirSync(shots, { recursive: true });
  server = await serve(0);
  browser = await playwright.chromium.launch({
    executablePath,
    // This machine's network is closed: no background connections to fail.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function evaluateExample(id) {
  await page.selectOption('#example', id);
  await page.click('#evaluate');
  return page.textContent('#verdict');
}

test('a Job with a legacy proxy sidecar is rejected, naming the container and the fix', { skip }, async () => {
  assert.equal(await evaluateExample('job-legacy-proxy'), 'Rejected (code 400)');
  const message = await page.textContent('#message');
  assert.match(message, /container "istio-proxy"/);
  assert.match(message, /restartPolicy: Always/);
  assert.equal(await page.textContent('#patch'), '—');
});

test('injection shows the patch and highlights the added lines', { skip }, async () => {
  assert.equal(await evaluateExample('inject-volumes'), 'Accepted, mutated');
  const patch = JSON.parse(await page.textContent('#patch'));
  const volumes = patch.find((op) => op.path === '/spec/volumes');
  assert.deepEqual(volumes, { op: 'add', path: '/spec/volumes', value: [{ name: 'app-logs', emptyDir: {} }] });
  const sidecar = patch.find((op) => op.path === '/spec/initContainers').value[0];
  assert.equal(sidecar.restartPolicy, 'Always');
  const changed = await page.$$eval('#patched .line.changed', (lines) => lines.map((l) => l.textContent));
  assert.ok(changed.some((line) => line.includes('restartPolicy: Always')), changed.join('\n'));
  assert.ok(!changed.some((line) => line.includes('containerPort: 80') || line.includes('app: web')), 'an untouched line is highlighted');
  await page.screenshot({ path: new URL('injection.png', shots).pathname, fullPage: true });
});

test('an UPDATE that drops restartPolicy shows the stored object and is rejected', { skip }, async () => {
  assert.equal(await evaluateExample('stripped-field'), 'Rejected (code 400)');
  assert.ok(await page.isVisible('#oldObject'));
  assert.match(await page.textContent('#message'), /init container "vpn" has no restartPolicy/);
});

test('broken YAML is shown at its line, and the page stays', { skip }, async () => {
  await evaluateExample('inject-volumes');
  await page.fill('#object', 'apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n');
  await page.click('#evaluate');
  assert.ok(await page.isVisible('#object-error'));
  assert.match(await page.textContent('#object-error'), /^line 5, column 1: .*\n? *5 \| /);
  assert.ok(await page.$eval('#object-field', (field) => field.classList.contains('invalid')));
  assert.match(await page.textContent('#verdict'), /^Not evaluated/);
  assert.equal(await page.textContent('#patch'), '—');
  assert.ok(await page.isVisible('h1'));
  await page.screenshot({ path: new URL('broken-yaml.png', shots).pathname, fullPage: true });
});

test('cluster readiness: the mixed-cluster example is blocked, per node and per workload', { skip }, async () => {
  await page.click('#readiness-example');
  assert.match(await page.textContent('#readiness-summary'),
    /^readiness: BLOCKED \(1 blocker\(s\)\); nativeSupport\.strategy nodeVersion fits$/);
  const nodes = await page.$$eval('#readiness-nodes tbody tr', (rows) => rows.map((r) => r.cells[0].textContent + ' ' + r.cells[2].textContent));
  assert.deepEqual(nodes, ['API server yes', 'pool-a-1 yes', 'pool-b-1 NO']);
  const workloads = await page.$$eval('#readiness-workloads tbody tr', (rows) => rows.map((r) => r.cells[0].textContent + ' ' + r.cells[1].textContent));
  assert.deepEqual(workloads, ['refused Job reports/nightly-report']);
  assert.match(await page.textContent('#readiness-report'), /aws-pod-identity-webhook \/ pod-identity-webhook\.amazonaws\.com \(before this policy's injector/);
  await page.screenshot({ path: new URL('readiness.png', shots).pathname, fullPage: true });
});

test('the page logged no errors', { skip }, () => {
  assert.deepEqual(problems, []);
});
