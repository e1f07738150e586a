// End-to-end check of the first-run flow in a real headless browser:
// owner setup -> log out / log in -> generate an API key (shown once, copyable) ->
// call the inference API with it -> usage shows up -> hostile key names render as text ->
// revoke through the confirmation page -> the API refuses the key.
//
// Runs against freshly built binaries (target/debug/aigne-hub, target/debug/upstream-sim,
// overridable by AIGNE_HUB_BIN / UPSTREAM_SIM_BIN) and Debian's Chromium (/usr/bin/chromium,
// overridable by CHROMIUM_BIN). Screenshots land in target/browser-artifacts/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const HUB_BIN = process.env.AIGNE_HUB_BIN || path.join(repoRoot, 'target', 'debug', 'aigne-hub');
const SIM_BIN = process.env.UPSTREAM_SIM_BIN || path.join(repoRoot, 'target', 'debug', 'upstream-sim');
const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const ARTIFACTS = process.env.BROWSER_ARTIFACTS_DIR || path.join(repoRoot, 'target', 'browser-artifacts');

const PROVIDER_KEY = 'sk-browser-test-provider-key-0123456789';
const OWNER_EMAIL = 'owner@example.com';
const OWNER_PASSWORD = 'correct horse battery staple 42';
const KEY_NAME = 'dev-server-integration';
// Key names are limited to 64 characters, so the payload is kept just under that.
const XSS_NAME = '<img src=x onerror="window.__xss=1"><script>__xss=1</script>';
const KEY_RE = /^aih_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$/;
const STARTUP_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Process handling

const children = new Set();
const childEnv = { ...process.env, NO_COLOR: '1' };

function killAll(signal = 'SIGTERM') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill(signal); } catch { /* already gone */ }
    }
  }
}
// Last resort if the runner exits without reaching the `after` hook.
process.on('exit', () => killAll('SIGKILL'));

/** Starts a long-running binary and keeps its output for diagnostics. */
function startProcess(name, bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  children.add(child);
  const proc = { name, child, stdout: '', stderr: '', exited: null };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { proc.stdout += d; });
  child.stderr.on('data', (d) => { proc.stderr += d; });
  proc.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
    child.on('error', (err) => { children.delete(child); proc.stderr += `\nspawn error: ${err.message}`; resolve({ code: null, signal: null, err }); });
  });
  return proc;
}

function describeProc(proc) {
  // eslint-disable-next-line no-control-regex
  const tail = (s) => s.replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(-30).join('\n');
  return `--- ${proc.name} stdout ---\n${tail(proc.stdout)}\n--- ${proc.name} stderr ---\n${tail(proc.stderr)}`;
}

/** Waits until the process's stdout matches `re`; fails early if the process exits. */
async function waitForStdout(proc, re, timeoutMs = STARTUP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  proc.exited.then(() => { gone = true; });
  for (;;) {
    const m = proc.stdout.match(re);
    if (m) return m;
    if (gone) throw new Error(`${proc.name} exited before printing ${re}\n${describeProc(proc)}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} did not print ${re} within ${timeoutMs} ms\n${describeProc(proc)}`);
    await sleep(50);
  }
}

/** Runs a short command to completion, feeding `input` on stdin. */
function runOnce(bin, args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', (err) => { clearTimeout(timer); children.delete(child); reject(err); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

async function stopProcess(proc) {
  if (!proc) return;
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timedOut = await Promise.race([proc.exited.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await proc.exited;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Helpers for the hub's API

async function chat(hubUrl, key) {
  const res = await fetch(`${hubUrl}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'aignehub/gpt-3.5-turbo', messages: [{ role: 'user', content: 'Hello!' }] }),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* left as text */ }
  return { status: res.status, json, text };
}

// ---------------------------------------------------------------------------------------------
// The flow

describe('seed flow in a headless browser', () => {
  let dataDir;
  let sim;
  let hub;
  let hubUrl;
  let setupUrl;
  let browser;
  let context;
  let page;
  let key;
  let kid;
  let broken = false; // later steps depend on earlier ones; skip them once one has failed

  /** Wraps a step so that after the first failure the remaining steps are skipped. */
  const step = (name, fn) => it(name, async (t) => {
    if (broken) { t.skip('an earlier step failed'); return; }
    try {
      await fn(t);
    } catch (err) {
      broken = true;
      if (page) {
        await page.screenshot({ path: path.join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
      }
      if (hub) err.message += `\n${describeProc(hub)}`;
      throw err;
    }
  });

  const rowFor = (k) => page.locator(`tr[data-kid="${k}"]`);

  before(async () => {
    for (const [what, bin] of [['aigne-hub', HUB_BIN], ['upstream-sim', SIM_BIN], ['chromium', CHROMIUM_BIN]]) {
      assert.ok(existsSync(bin), `${what} binary not found at ${bin}`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    await rm(path.join(ARTIFACTS, 'failure.png'), { force: true });
    dataDir = await mkdtemp(path.join(tmpdir(), 'aigne-hub-browser-'));

    sim = startProcess('upstream-sim', SIM_BIN, ['--listen', '127.0.0.1:0']);
    const [, simUrl] = await waitForStdout(sim, /listening on (http:\/\/\S+)/);

    const add = await runOnce(HUB_BIN, ['provider', 'add', 'openai', '--base-url', `${simUrl}/v1`, '--api-key-stdin', '--data-dir', dataDir], `${PROVIDER_KEY}\n`);
    assert.equal(add.code, 0, `provider add failed (code ${add.code}, signal ${add.signal})\n${add.stdout}\n${add.stderr}`);

    hub = startProcess('aigne-hub', HUB_BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    [, hubUrl] = await waitForStdout(hub, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    [, setupUrl] = await waitForStdout(hub, /Create it within one hour \(one use\): (http:\/\/\S+\/setup\?token=\S+)/);

    browser = await chromium.launch({
      executablePath: CHROMIUM_BIN,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({
      permissions: ['clipboard-read', 'clipboard-write'],
      viewport: { width: 1280, height: 900 },
    });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => { process.stderr.write(`page error: ${err.message}\n`); });
  });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stopProcess(hub);
    await stopProcess(sim);
    killAll('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  step('setup link creates the owner and logs in', async () => {
    const res = await page.goto(setupUrl);
    assert.equal(res.status(), 200);
    await page.screenshot({ path: path.join(ARTIFACTS, 'setup.png'), fullPage: true });
    await page.fill('#email', OWNER_EMAIL);
    await page.fill('#password', OWNER_PASSWORD);
    await page.fill('#password-confirm', OWNER_PASSWORD);
    await Promise.all([page.waitForURL(/\/settings\/api-keys$/), page.click('#create-owner')]);
    await assert.doesNotReject(page.locator('#logout').waitFor());

    const cookies = await context.cookies(hubUrl);
    const session = cookies.find((c) => c.name === 'aigne_hub_session');
    assert.ok(session, `no session cookie among ${cookies.map((c) => c.name).join(', ')}`);
    assert.equal(session.httpOnly, true, 'session cookie must be HttpOnly');
    assert.equal(session.sameSite, 'Strict', 'session cookie must be SameSite=Strict');
  });

  step('the setup link works only once', async () => {
    const probe = await context.newPage();
    try {
      await probe.goto(setupUrl);
      assert.equal(await probe.locator('#create-owner').count(), 0, 'setup form offered again after the owner exists');
    } finally {
      await probe.close();
    }
  });

  step('log out, then log in through the login form', async () => {
    await Promise.all([page.waitForURL(/\/login/), page.click('#logout')]);
    assert.equal(await page.locator('#logout').count(), 0);
    const cookies = await context.cookies(hubUrl);
    assert.ok(!cookies.some((c) => c.name === 'aigne_hub_session' && c.value), 'session cookie survives logout');

    // A protected page now sends us to the login form.
    await page.goto(`${hubUrl}/settings/api-keys`);
    assert.match(page.url(), /\/login/);

    // Wrong password is refused.
    await page.fill('#email', OWNER_EMAIL);
    await page.fill('#password', 'not the password');
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login'),
      page.click('#login'),
    ]);
    assert.ok(refused.status() >= 400, `wrong password answered ${refused.status()}`);
    await page.waitForLoadState('load');
    await page.waitForSelector('#login');
    assert.equal(await page.locator('#logout').count(), 0, 'wrong password logged in');

    await page.fill('#email', OWNER_EMAIL);
    await page.fill('#password', OWNER_PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('#login')]);
    await page.locator('#logout').waitFor();
  });

  step('Settings nav leads to API Keys with security headers', async () => {
    await page.getByRole('link', { name: 'Providers' }).click();
    await page.waitForURL(/\/settings\/providers/);
    const nav = page.locator('nav.tabs');
    assert.match(await nav.innerText(), /Settings/);
    const [res] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/settings/api-keys' && r.request().resourceType() === 'document'),
      nav.getByRole('link', { name: 'API Keys' }).click(),
    ]);
    await page.waitForURL(/\/settings\/api-keys$/);
    assert.equal(res.status(), 200);
    const headers = res.headers();
    assert.ok(headers['content-security-policy'], 'keys page lacks a Content-Security-Policy');
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').innerText(), 'API Keys');
    assert.equal((await page.locator('#generate-key').innerText()).trim(), 'Generate New Key');
  });

  step('generating a key shows it once and Copy puts it on the clipboard', async () => {
    await page.fill('#key-name', KEY_NAME);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/settings/api-keys'),
      page.click('#generate-key'),
    ]);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['cache-control'] ?? '', /no-store/, 'the page carrying the key must not be cached');
    await page.waitForLoadState('load');

    const panel = page.locator('#new-key-panel');
    await panel.waitFor();
    key = (await page.locator('code#new-key').textContent()).trim();
    assert.match(key, KEY_RE);
    kid = key.split('_')[1];
    assert.match(await panel.locator('.once-note').innerText(), /will not see it again/i);
    assert.match(await panel.innerText(), new RegExp(KEY_NAME));

    await page.click('#copy-key');
    await page.waitForFunction(() => document.querySelector('#copy-key')?.textContent.trim() === 'Copied');
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clip, key);

    const row = rowFor(kid);
    assert.equal(await row.count(), 1, `no row for kid ${kid}`);
    assert.equal((await row.locator('.name').textContent()).trim(), KEY_NAME);
    assert.equal((await row.locator('.status').textContent()).trim(), 'active');

    await page.screenshot({ path: path.join(ARTIFACTS, 'keys-new-key.png'), fullPage: true });
  });

  step('the key works against the chat API', async () => {
    const r = await chat(hubUrl, key);
    assert.equal(r.status, 200, `chat failed: ${r.text}`);
    assert.ok(r.json?.usage, `no usage in response: ${r.text}`);
    assert.ok(r.json.usage.total_tokens > 0, `usage without tokens: ${JSON.stringify(r.json.usage)}`);
    assert.ok(r.json.choices?.[0]?.message, `no message in response: ${r.text}`);
  });

  step('after leaving the page only the hint is shown, and usage is counted', async () => {
    let requests = 0;
    const deadline = Date.now() + 10_000;
    let html = '';
    for (;;) {
      const res = await page.goto(`${hubUrl}/settings/api-keys`);
      assert.equal(res.status(), 200);
      html = await page.content();
      requests = Number((await rowFor(kid).locator('.requests').textContent()).trim().replace(/[^0-9]/g, ''));
      if (requests >= 1 || Date.now() > deadline) break;
      await sleep(500);
    }
    assert.ok(requests >= 1, `requests column still ${requests} after the API call`);

    assert.equal(await page.locator('#new-key-panel').count(), 0, 'the new-key panel is shown again');
    assert.ok(!html.includes(key), 'the full key appears in the page HTML after reload');
    assert.ok(!html.includes(key.split('_')[2]), 'the key secret appears in the page HTML after reload');
    const hint = (await rowFor(kid).locator('code.hint').textContent()).trim();
    assert.ok(hint.startsWith(`aih_${kid}`), `hint ${hint} does not start with aih_${kid}`);
    assert.ok(hint.endsWith(key.slice(-4)), `hint ${hint} does not end with the key's last four characters`);
    assert.ok(hint.length < key.length, 'hint is as long as the key');
    const tokens = (await rowFor(kid).locator('.tokens').textContent()).trim();
    assert.notEqual(tokens, '', 'tokens column is empty');
    const lastUsed = (await rowFor(kid).locator('.last-used').textContent()).trim();
    assert.notEqual(lastUsed, '', 'last-used column is empty');
    assert.doesNotMatch(lastUsed, /^(never|—|-)$/i, `last-used still says ${lastUsed}`);
  });

  step('a hostile key name renders as literal text', async () => {
    await page.evaluate(() => { delete window.__xss; });
    await page.fill('#key-name', XSS_NAME);
    assert.equal(await page.inputValue('#key-name'), XSS_NAME);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/settings/api-keys'),
      page.click('#generate-key'),
    ]);
    assert.equal(res.status(), 200);
    await page.waitForLoadState('load');
    await page.locator('#new-key-panel').waitFor();
    const xssKey = (await page.locator('code#new-key').textContent()).trim();
    assert.match(xssKey, KEY_RE);
    const row = rowFor(xssKey.split('_')[1]);
    assert.equal(await row.locator('.name').textContent(), XSS_NAME);
    assert.equal(await row.locator('.name img, .name script').count(), 0, 'payload became markup');
    assert.equal(await page.locator('#new-key-panel img, #new-key-panel script').count(), 0, 'payload became markup in the panel');
    await sleep(300); // give a would-be onerror handler time to fire
    assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined');
    // And again on a fresh load of the list.
    await page.goto(`${hubUrl}/settings/api-keys`);
    await sleep(300);
    assert.equal(await row.locator('.name').textContent(), XSS_NAME);
    assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined');
  });

  step('revoking through the confirmation page', async () => {
    await page.goto(`${hubUrl}/settings/api-keys`);
    await Promise.all([page.waitForURL(new RegExp(`/settings/api-keys/${kid}/revoke$`)), rowFor(kid).locator('a.revoke').click()]);
    assert.match(await page.locator('main').innerText(), new RegExp(KEY_NAME));
    // Nothing is revoked until confirmed.
    const before = await chat(hubUrl, key);
    assert.equal(before.status, 200, `key stopped working before confirmation: ${before.text}`);

    await Promise.all([page.waitForURL(/\/settings\/api-keys(\?.*)?$/), page.click('#confirm-revoke')]);
    const row = rowFor(kid);
    assert.equal((await row.locator('.status').textContent()).trim(), 'revoked');
    assert.equal(await row.locator('a.revoke').count(), 0, 'a revoked key still offers a Revoke link');
    await page.screenshot({ path: path.join(ARTIFACTS, 'keys-after-revoke.png'), fullPage: true });
    // The key table scrolls sideways on narrower screens; also capture its right-hand columns.
    const tableCard = page.locator('.card', { has: page.locator('table.keys') });
    await tableCard.evaluate((card) => { card.scrollLeft = card.scrollWidth; });
    await tableCard.screenshot({ path: path.join(ARTIFACTS, 'keys-after-revoke-table.png') });
  });

  step('the API refuses the revoked key', async () => {
    const r = await chat(hubUrl, key);
    assert.equal(r.status, 401, `expected 401, got ${r.status}: ${r.text}`);
    assert.equal(r.json?.error?.message, 'This API key has been revoked');
  });
});
