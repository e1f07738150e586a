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
import path from 'node:path';
import { ARTIFACTS, chat, sleep, startStack, steps } from './harness.mjs';

const PROVIDER_KEY = 'sk-browser-test-provider-key-0123456789';
const OWNER_EMAIL = 'owner@example.com';
const OWNER_PASSWORD = 'correct horse battery staple 42';
const KEY_NAME = 'dev-server-integration';
// Key names are limited to 64 characters, so the payload is kept just under that.
const XSS_NAME = '<img src=x onerror="window.__xss=1"><script>__xss=1</script>';
const KEY_RE = /^aih_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$/;

// ---------------------------------------------------------------------------------------------
// The flow

describe('seed flow in a headless browser', () => {
  let stack;
  let hub;
  let hubUrl;
  let setupUrl;
  let context;
  let page;
  let key;
  let kid;
  const step = steps(it, 'failure.png', () => ({ page, hub }));

  const rowFor = (k) => page.locator(`tr[data-kid="${k}"]`);

  before(async () => {
    stack = await startStack({ providerKey: PROVIDER_KEY, failureShot: 'failure.png' });
    ({ hub, hubUrl, setupUrl, context, page } = stack);
  });

  after(async () => {
    await stack?.stop();
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

  step('Test connection on the providers page shows the result', async () => {
    await page.goto(`${hubUrl}/settings/providers`);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/settings/providers/test'),
      page.locator('button.test-connection').first().click(),
    ]);
    assert.equal(res.status(), 200);
    await page.waitForLoadState('load');
    const notice = page.locator('p.notice');
    await notice.waitFor();
    assert.match(await notice.innerText(), /Connection test of openai passed/);
    assert.ok(!(await page.content()).includes(PROVIDER_KEY), 'the credential is on the page');
  });
});
