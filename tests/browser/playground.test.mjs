// The Playground in a real headless browser: the owner opens it from the navigation, picks a
// model, writes a system prompt and a message, and sees the answer stream in and then the
// tokens / time / cost line; a second turn continues the conversation; what the user typed is
// shown as text, never as markup; the Playground key is listed among the owner's keys.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, startStack, steps } from './harness.mjs';

const PROVIDER_KEY = 'sk-browser-playground-provider-key-0123456789';
const OWNER_EMAIL = 'owner@example.com';
const OWNER_PASSWORD = 'correct horse battery staple 42';
const MODEL = 'openai/gpt-4o-mini';
const HOSTILE = '<img src=x onerror="window.__xss=1">hello';

describe('the Playground in a headless browser', () => {
  let stack;
  let page;
  const step = steps(it, 'playground-failure.png', () => ({ page, hub: stack?.hub }));

  before(async () => {
    stack = await startStack({ providerKey: PROVIDER_KEY, failureShot: 'playground-failure.png' });
    ({ page } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  step('the owner signs up and opens the Playground from the navigation', async () => {
    await page.goto(stack.setupUrl);
    await page.fill('#email', OWNER_EMAIL);
    await page.fill('#password', OWNER_PASSWORD);
    await page.fill('#password-confirm', OWNER_PASSWORD);
    await Promise.all([page.waitForURL(/\/settings\/api-keys$/), page.click('#create-owner')]);
    await Promise.all([page.waitForURL(/\/playground$/), page.click('#nav-playground')]);
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').getAttribute('id'), 'nav-playground');
    assert.ok(await page.locator(`#pg-model option[value="${MODEL}"]`).count() === 1, 'the model is offered');
  });

  step('a message streams an answer, then the tokens, time and cost line', async () => {
    await page.selectOption('#pg-model', MODEL);
    await page.fill('#pg-system', 'Answer in one sentence.');
    await page.fill('#pg-temperature', '0.3');
    await page.fill('#pg-max-tokens', '60');
    await page.fill('#pg-input', HOSTILE);
    await page.click('#pg-send');
    const answer = page.locator('.pg-turn.pg-assistant .pg-text').first();
    await page.waitForFunction(() => {
      const a = document.querySelector('.pg-turn.pg-assistant .pg-text');
      return a && a.textContent.length > 0;
    });
    await page.locator('#pg-stats').filter({ hasText: /cost .* credits/ }).waitFor();
    const stats = await page.locator('#pg-stats').innerText();
    assert.match(stats, /\d+ tokens in · \d+ tokens out · first token \d+ ms · duration \d+ ms · cost [0-9.]+ credits/);
    assert.ok((await answer.innerText()).trim().length > 0);
    assert.equal(await page.locator('.pg-streaming').count(), 0, 'the stream ended');
    assert.ok(await page.locator('#pg-error').isHidden());
    // What the user wrote is shown literally.
    const mine = page.locator('.pg-turn.pg-user .pg-text').first();
    assert.equal(await mine.innerText(), HOSTILE);
    assert.equal(await page.locator('#pg-conversation img').count(), 0);
    assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined');
    await page.screenshot({ path: path.join(ARTIFACTS, 'playground.png'), fullPage: true });
  });

  step('a second turn continues the conversation', async () => {
    await page.fill('#pg-input', 'And again, please.');
    await page.click('#pg-send');
    await page.waitForFunction(() => document.querySelectorAll('.pg-turn.pg-assistant').length === 2
      && !document.querySelector('.pg-streaming')
      && /cost/.test(document.getElementById('pg-stats').textContent));
    assert.equal(await page.locator('.pg-turn').count(), 4);
  });

  step('the Playground key is in the key list, marked as such', async () => {
    await page.goto(`${stack.hubUrl}/settings/api-keys`);
    const row = page.locator('tr', { hasText: 'Playground (managed by the hub)' });
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('a.tag').innerText(), 'Playground');
  });
});
