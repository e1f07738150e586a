// The Alerts page in a real headless browser: a simulated spike of calls with one key raises an
// alert; the navigation's unread counter shows it on every page; the Alerts page lists it (the
// key's hostile name rendered as text) and links to the key's page; marking it read clears the
// counter.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, HUB_BIN, chat, runOnce, sleep, startStack, steps } from './harness.mjs';

const PROVIDER_KEY = 'sk-browser-alerts-provider-key-0123456789';
const OWNER_EMAIL = 'owner@example.com';
const OWNER_PASSWORD = 'correct horse battery staple 42';
// The alert's message quotes the key's name: it must render as text.
const KEY_NAME = '<img src=x onerror="window.__xss=1">spiky';
const SPIKE_MIN_CALLS = 6;
const ALERT_VISIBLE_MS = 10_000;

describe('alerts in a headless browser', () => {
  let stack;
  let page;
  let key;
  const step = steps(it, 'alerts-failure.png', () => ({ page, hub: stack?.hub }));

  before(async () => {
    stack = await startStack({ providerKey: PROVIDER_KEY, serveArgs: ['--alert-spike-min-calls', String(SPIKE_MIN_CALLS)], failureShot: 'alerts-failure.png' });
    ({ page } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  step('the owner signs up and sees no unread alerts', async () => {
    await page.goto(stack.setupUrl);
    await page.fill('#email', OWNER_EMAIL);
    await page.fill('#password', OWNER_PASSWORD);
    await page.fill('#password-confirm', OWNER_PASSWORD);
    await Promise.all([page.waitForURL(/\/settings\/api-keys$/), page.click('#create-owner')]);
    await page.locator('#nav-alerts').waitFor();
    assert.equal(await page.locator('#alerts-unread').count(), 0);
  });

  step('a spike of calls with one key shows up in the navigation counter', async () => {
    const created = await runOnce(HUB_BIN, ['key', 'create', '--name', KEY_NAME, '--owner', OWNER_EMAIL, '--json', '--data-dir', stack.dataDir]);
    assert.equal(created.code, 0, created.stderr);
    key = JSON.parse(created.stdout);
    for (let i = 0; i < SPIKE_MIN_CALLS + 2; i++) {
      const r = await chat(stack.hubUrl, key.key);
      assert.equal(r.status, 200, r.text);
    }
    const deadline = Date.now() + ALERT_VISIBLE_MS;
    for (;;) {
      await page.goto(`${stack.hubUrl}/settings/providers`);
      if (await page.locator('#alerts-unread').count() > 0) break;
      assert.ok(Date.now() < deadline, 'no unread counter after the spike');
      await sleep(300);
    }
    assert.equal((await page.locator('#alerts-unread').innerText()).trim(), '1');
    await page.screenshot({ path: path.join(ARTIFACTS, 'alerts-nav-counter.png'), fullPage: true });
  });

  step('the Alerts page lists the spike as text and links to the key', async () => {
    await Promise.all([page.waitForURL(/\/alerts$/), page.click('#nav-alerts')]);
    const rows = page.locator('tr.alert[data-kind="usage_spike"]');
    assert.equal(await rows.count(), 1);
    const row = rows.first();
    assert.match(await row.getAttribute('class'), /unread/);
    assert.match(await row.locator('td.message').innerText(), /spiky/);
    assert.ok((await row.locator('td.message').innerText()).includes(KEY_NAME), 'the name is shown literally');
    assert.equal(await row.locator('img, script').count(), 0, 'the name became markup');
    assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined');
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').getAttribute('id'), 'nav-alerts');
    await page.screenshot({ path: path.join(ARTIFACTS, 'alerts-page.png'), fullPage: true });

    const link = row.locator('a');
    assert.equal(await link.getAttribute('href'), `/settings/api-keys/${key.id}`);
    const [res] = await Promise.all([page.waitForNavigation(), link.click()]);
    assert.equal(res.status(), 200);
    assert.match(await page.locator('h1').innerText(), /spiky/);
  });

  step('marking it read clears the counter', async () => {
    await page.goto(`${stack.hubUrl}/alerts`);
    await Promise.all([page.waitForURL(/\/alerts\?notice=read$/), page.locator('tr.alert.unread button').first().click()]);
    assert.equal(await page.locator('tr.alert.unread').count(), 0);
    assert.equal(await page.locator('#alerts-unread').count(), 0);
  });

  step('a webhook with a generated secret shows the secret once', async () => {
    await page.fill('#webhook-url-input', 'https://hooks.example.com/aigne');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/alerts/webhook'),
      page.click('#save-webhook'),
    ]);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['cache-control'] ?? '', /no-store/);
    const secret = (await page.locator('#webhook-secret').innerText()).trim();
    assert.ok(secret.length >= 32, `generated secret ${secret.length} characters`);
    assert.equal((await page.locator('#webhook-url').innerText()).trim(), 'https://hooks.example.com/aigne');
    await page.goto(`${stack.hubUrl}/alerts`);
    assert.ok(!(await page.content()).includes(secret), 'the secret is shown again');
  });
});
