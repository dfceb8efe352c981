// What a visitor's browser sees: headless Chromium (Debian's) driven by playwright-core against the
// real app server running the demo (local targets, seeded tenant, local checker runner).
// Run by `./dev test`, which builds the browser bundle and provides the environment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import fs from 'node:fs';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set: run the browser tests with ./dev test`);
  return value;
};
const require = createRequire(need('STATUSPAGE_NODE_MODULES') + '/');
const { chromium } = require('playwright-core');

const freePort = () => new Promise((resolve, reject) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
  server.on('error', reject);
});

let app, browser, port, logs = '';
const shots = need('E2E_SCREENSHOTS');

before(async () => {
  port = await freePort();
  const targets = await freePort();
  app = spawn(need('STATUSPAGE_BIN'), ['demo'], {
    env: {
      ...process.env,
      STATUSPAGE_ADDR: `127.0.0.1:${port}`,
      DEMO_TARGETS_ADDR: `127.0.0.1:${targets}`,
      CHECKER_INTERVAL_SECS: '5',
      CHECKER_ALLOW_CIDRS: '127.0.0.0/8',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  app.stdout.on('data', (d) => { logs += d; });
  app.stderr.on('data', (d) => { logs += d; });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (app.exitCode !== null) throw new Error(`app server exited early:\n${logs}`);
    if (Date.now() > deadline) throw new Error(`app server not healthy within 60 s:\n${logs}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (app && app.exitCode === null) {
    app.kill('SIGTERM');
    await new Promise((r) => app.once('exit', r));
  }
});

async function watchedPage() {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Content-Security-Policy violations: Chromium reports each on the console, and the page
  // fires `securitypolicyviolation` (collected by a script the policy does not govern).
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  return { page, problems };
}

/// The page was served under a Content-Security-Policy and the browser reports no violation.
async function assertNoCspViolations(page, response, problems) {
  const csp = response.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src [^;]*'nonce-/, `a nonced policy on ${page.url()}`);
  assert.match(csp, /frame-ancestors 'none'/);
  const violations = await page.evaluate(() => window.__cspViolations);
  assert.deepEqual([...problems.filter((p) => p.startsWith('CSP')), ...violations], [], 'no CSP violations');
}

test('the demo status page shows live statuses per monitor and region, and hydrates', async () => {
  const { page, problems } = await watchedPage();
  let wasm = 0;
  page.on('response', (r) => { if (r.url().endsWith('/pkg/web_bg.wasm') && r.ok()) wasm += 1; });
  const url = `http://demo.localhost:${port}/`;
  const deadline = Date.now() + 60_000;
  let response;
  for (;;) {
    response = await page.goto(url);
    const website = await page.locator('article[data-monitor="Website"]').getAttribute('data-status');
    const billing = await page.locator('article[data-monitor="Legacy billing"]').getAttribute('data-status');
    if (website === 'up' && billing === 'down') break;
    if (Date.now() > deadline) assert.fail(`statuses not live within 60 s (Website=${website}, Legacy billing=${billing})\n${logs}`);
    await page.waitForTimeout(1000);
  }
  await page.waitForLoadState('networkidle');
  assert.equal(await page.locator('article[data-monitor="Website"] .status.up').first().textContent(), 'Operational');
  assert.equal(await page.locator('article[data-monitor="Website"] tr[data-region]').count(), 3, 'one row per region');
  assert.match(await page.locator('article[data-monitor="Website"] td.latency').first().textContent(), /^\d+\.\d ms$/);
  assert.ok(wasm >= 1, 'the browser bundle was loaded');
  await page.screenshot({ path: `${shots}/status-page.png`, fullPage: true });
  await assertNoCspViolations(page, response, problems);
  assert.deepEqual(problems, []);
});

test('sign-in errors show in place (hydrated form), then the admin adds a monitor', async () => {
  const { page, problems } = await watchedPage();
  const login = await page.goto(`http://localhost:${port}/login`);
  await page.waitForLoadState('networkidle');
  await assertNoCspViolations(page, login, problems);
  await page.fill('input[name=email]', 'demo@example.com');
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('button[type=submit]');
  await page.locator('p.error').waitFor();
  assert.equal(await page.locator('p.error').textContent(), 'wrong email or password');
  assert.equal(new URL(page.url()).pathname, '/login', 'no full-page navigation: the form is hydrated');

  await page.fill('input[name=password]', 'demo-password');
  await page.click('button[type=submit]');
  await page.waitForURL(`http://localhost:${port}/admin`);
  await page.locator('h1', { hasText: 'Demo Inc admin' }).waitFor();
  const before = await page.locator('tr[data-monitor]').count();
  await page.fill('input[name=name]', 'Added from the browser');
  await page.fill('input[name=url]', `http://127.0.0.1:${port}/api/v1/health`);
  await page.click('text=Add monitor');
  await page.locator('tr[data-monitor="Added from the browser"]').waitFor();
  assert.equal(await page.locator('tr[data-monitor]').count(), before + 1);

  await page.fill('input[name=name]', 'Bad one');
  await page.fill('input[name=url]', 'ftp://example.com/');
  await page.evaluate(() => document.querySelector('input[name=url]').setAttribute('type', 'text'));
  await page.click('text=Add monitor');
  await page.locator('p.error', { hasText: 'url:' }).waitFor();
  await page.screenshot({ path: `${shots}/admin.png`, fullPage: true });
  const admin = await page.reload();
  await page.locator('tr[data-monitor="Added from the browser"]').waitFor();
  await assertNoCspViolations(page, admin, problems);
  assert.deepEqual(problems, []);
});

test('an unknown subdomain gets the 404 page', async () => {
  const { page } = await watchedPage();
  const response = await page.goto(`http://nobody.localhost:${port}/`);
  assert.equal(response.status(), 404);
  assert.match(await page.locator('h1').textContent(), /no status page at nobody\.localhost/);
});

test('sign-in and admin are not served on a tenant host', async () => {
  const { page } = await watchedPage();
  for (const path of ['/login', '/admin']) {
    const response = await page.goto(`http://demo.localhost:${port}${path}`);
    assert.equal(response.status(), 404, path);
  }
});

test('screenshots were written', () => {
  assert.ok(fs.statSync(`${shots}/status-page.png`).size > 10_000);
});
