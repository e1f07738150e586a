// The analytics dashboard in a real headless browser: calls made through the simulator show
// up in the totals and in the charts' data, the range selector (named and custom) changes the
// view, charts are drawn as SVG with hover values, the Calls page lists and details the calls
// and exports them as CSV, and the key's page shows its usage.
//
// Same binaries and browser as seed_flow.test.mjs. Screenshots land in
// tests/browser/screenshots/ (not committed).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
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
const SCREENSHOTS = path.join(here, 'screenshots');

const OWNER_EMAIL = 'owner@example.com';
const OWNER_PASSWORD = 'correct horse battery staple 42';
const OK_CALLS = 6;
const FAILED_CALLS = 2;
const ALL_CALLS = OK_CALLS + FAILED_CALLS;
// A project name (client-chosen, so untrusted) that would run script if rendered as markup.
const HOSTILE_PROJECT = '<img src=x onerror="window.__xss=1">';

const children = new Set();
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(name, bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  children.add(child);
  const proc = { name, child, out: '', exited: false };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { proc.out += d; });
  child.stderr.on('data', (d) => { proc.out += d; });
  child.on('exit', () => { proc.exited = true; children.delete(child); });
  return proc;
}

async function waitFor(proc, re) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = proc.out.match(re);
    if (m) return m;
    if (proc.exited || Date.now() > deadline) throw new Error(`${proc.name} did not print ${re}:\n${proc.out.slice(-3000)}`);
    await sleep(50);
  }
}

function run(bin, args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))));
    child.stdin.end(input ?? '');
  });
}

async function chat(hubUrl, key, model, project) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  if (project) headers['x-aigne-hub-client-did'] = project;
  const res = await fetch(`${hubUrl}/api/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello!' }] }),
  });
  await res.text();
  return res.status;
}

/** The JSON a chart was drawn from. */
async function chartData(page, id) {
  return JSON.parse(await page.locator(`#${id}`).getAttribute('data-series'));
}

const total = (data, name) => data.series.find((s) => s.name === name).values.reduce((a, v) => a + Number(v ?? 0), 0);

describe('analytics dashboard in a headless browser', () => {
  let dataDir, sim, hub, hubUrl, browser, page, kid;

  before(async () => {
    for (const bin of [HUB_BIN, SIM_BIN, CHROMIUM_BIN]) assert.ok(existsSync(bin), `${bin} not found`);
    await mkdir(SCREENSHOTS, { recursive: true });
    dataDir = await mkdtemp(path.join(tmpdir(), 'aigne-hub-dashboard-'));
    sim = start('upstream-sim', SIM_BIN, ['--listen', '127.0.0.1:0']);
    const [, simUrl] = await waitFor(sim, /listening on (http:\/\/\S+)/);
    await run(HUB_BIN, ['provider', 'add', 'openai', '--base-url', `${simUrl}/v1`, '--api-key-stdin', '--data-dir', dataDir], 'sk-dashboard-test-provider-key\n');
    await run(HUB_BIN, ['admin', 'create', '--email', OWNER_EMAIL, '--password-stdin', '--data-dir', dataDir], `${OWNER_PASSWORD}\n`);
    const created = JSON.parse(await run(HUB_BIN, ['key', 'create', '--name', 'dashboard-app', '--json', '--data-dir', dataDir]));
    kid = created.kid;
    hub = start('aigne-hub', HUB_BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    [, hubUrl] = await waitFor(hub, /listening on (http:\/\/127\.0\.0\.1:\d+)/);

    for (let i = 0; i < OK_CALLS; i++) assert.equal(await chat(hubUrl, created.key, 'aignehub/gpt-3.5-turbo', i === 0 ? HOSTILE_PROJECT : undefined), 200);
    // Calls the upstream refuses still leave their record and count as errors.
    const queued = await fetch(`${simUrl}/__sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 400, count: FAILED_CALLS }) });
    assert.equal(queued.status, 200);
    for (let i = 0; i < FAILED_CALLS; i++) assert.equal(await chat(hubUrl, created.key, 'aignehub/gpt-3.5-turbo'), 400);

    browser = await chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => { throw err; });
    await page.goto(`${hubUrl}/login`);
    await page.fill('#email', OWNER_EMAIL);
    await page.fill('#password', OWNER_PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('#login')]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    for (const p of [hub, sim]) p?.child.kill('SIGTERM');
    await sleep(300);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('shows the totals and draws the charts from their data', async () => {
    // The usage writer moves records to the database within a moment.
    let calls = 0;
    for (let tries = 0; tries < 50 && calls < ALL_CALLS; tries++) {
      const res = await page.goto(`${hubUrl}/dashboard?range=24h`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
      calls = total(await chartData(page, 'chart-calls'), 'calls');
      if (calls < ALL_CALLS) await sleep(200);
    }
    assert.equal(calls, ALL_CALLS);
    const errors = await chartData(page, 'chart-errors');
    assert.equal(total(errors, 'errors'), FAILED_CALLS);
    const calls24 = await chartData(page, 'chart-calls');
    assert.equal(calls24.bucket_ms, 3_600_000);
    assert.ok(calls24.t.length >= 24 && calls24.t.length <= 25, `${calls24.t.length} hourly points`);
    const credits = await chartData(page, 'chart-credits');
    assert.ok(credits.series[0].values.every((v) => typeof v === 'string'), 'money travels as decimal strings');
    const tokens = await chartData(page, 'chart-tokens');
    assert.deepEqual(tokens.series.map((s) => s.name), ['in', 'out']);
    assert.ok(total(tokens, 'out') > 0);

    // Cards.
    const cards = await page.locator('.cards .total').allInnerTexts();
    assert.ok(cards.some((c) => c.startsWith('Calls') && c.includes(String(ALL_CALLS))), cards.join(' | '));
    assert.ok(cards.some((c) => c.startsWith('Error rate') && c.includes('25.0 %')), cards.join(' | '));

    // Every chart is drawn: an SVG with a line and axis labels.
    for (const id of ['chart-calls', 'chart-tokens', 'chart-credits', 'chart-errors', 'chart-latency']) {
      const chart = page.locator(`#${id}`);
      assert.equal(await chart.getAttribute('data-drawn'), 'true', `${id} not drawn`);
      assert.ok((await chart.locator('svg path.line').count()) >= 1, `${id} has no line`);
      assert.ok((await chart.locator('svg text.tick').count()) >= 3, `${id} has no axis labels`);
    }
    // Hovering shows the values of a bucket.
    const svg = page.locator('#chart-calls svg.chart-svg');
    const box = await svg.boundingBox();
    await page.mouse.move(box.x + box.width - 15, box.y + box.height / 2);
    const tip = page.locator('#chart-calls .chart-tip');
    await tip.waitFor({ state: 'visible' });
    assert.match(await tip.innerText(), /UTC — calls: \d+ calls/);

    // Breakdowns.
    const byModel = page.locator('table.breakdown[data-by="model"] tbody tr');
    assert.ok((await byModel.count()) >= 1);
    const byKey = await page.locator('table.breakdown[data-by="key"] tbody').innerText();
    assert.match(byKey, new RegExp(`dashboard-app \\(${kid}\\)`));
    const byProject = page.locator('table.breakdown[data-by="project"]');
    assert.match(await byProject.innerText(), /<img src=x onerror="window.__xss=1">/);
    assert.equal(await byProject.locator('img').count(), 0, 'a project name became markup');
    assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard.png'), fullPage: true });
  });

  it('changes the range, named and custom', async () => {
    await page.selectOption('#range', '7d');
    await Promise.all([page.waitForURL(/range=7d/), page.click('#apply-range')]);
    const week = await chartData(page, 'chart-calls');
    assert.equal(week.bucket_ms, 86_400_000, 'days beyond 48 hours');
    assert.equal(total(week, 'calls'), ALL_CALLS);
    assert.ok(await page.locator('#from-time').isHidden(), 'custom fields hidden for a named range');

    // A custom range in the past: nothing in it.
    await page.selectOption('#range', 'custom');
    assert.ok(await page.locator('#from-time').isVisible(), 'custom fields shown');
    await page.fill('#from-time', '2020-01-01T00:00');
    await page.fill('#to-time', '2020-01-02T00:00');
    await Promise.all([page.waitForURL(/range=custom/), page.click('#apply-range')]);
    const past = await chartData(page, 'chart-calls');
    assert.equal(past.t[0], Date.UTC(2020, 0, 1));
    assert.equal(past.t.length, 24);
    assert.equal(total(past, 'calls'), 0);
    assert.equal(await page.locator('#range').inputValue(), 'custom');
    assert.equal(await page.locator('#from-time').inputValue(), '2020-01-01T00:00');
  });

  it('lists the calls, shows one, filters and exports CSV', async () => {
    await page.goto(`${hubUrl}/dashboard?range=1h`);
    await Promise.all([page.waitForURL(/\/calls/), page.click('#calls-link')]);
    const rows = page.locator('table.calls tbody tr[data-request-id]');
    assert.equal(await rows.count(), ALL_CALLS);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'calls.png'), fullPage: true });

    await page.selectOption('select[name="status"]', '4xx');
    await Promise.all([page.waitForURL(/status=4xx/), page.click('#apply-filters')]);
    assert.equal(await rows.count(), FAILED_CALLS);
    assert.deepEqual([...new Set(await page.locator('table.calls td.status').allInnerTexts())], ['400']);

    const first = await rows.first().getAttribute('data-request-id');
    await Promise.all([page.waitForURL(new RegExp(`/calls/${first}$`)), rows.first().locator('a.call-link').click()]);
    const details = await page.locator('table.call-details').innerText();
    assert.match(details, new RegExp(first));
    assert.match(details, /Status\s+400/);
    await page.goBack();

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    const csv = await readFile(await download.path(), 'utf8');
    const lines = csv.split('\r\n').filter((l) => l);
    assert.match(lines[0], /^time_utc,request_id,/);
    assert.equal(lines.length, 1 + FAILED_CALLS, csv);
    assert.ok(lines.slice(1).every((l) => l.includes(',400,')), csv);
  });

  it("shows a key's usage on its page", async () => {
    await page.goto(`${hubUrl}/settings/api-keys/${kid}`);
    assert.equal((await page.locator('#key-calls').innerText()).trim(), String(ALL_CALLS));
    assert.equal((await page.locator('#key-errors').innerText()).trim(), String(FAILED_CALLS));
    assert.doesNotMatch(await page.locator('#last-used').innerText(), /never/);
    assert.match(await page.locator('#last-address').innerText(), /127\.0\.0\.1/);
    const usage = await chartData(page, 'chart-key-usage');
    assert.equal(total(usage, 'calls'), ALL_CALLS);
    assert.equal(total(usage, 'errors'), FAILED_CALLS);
    assert.equal(await page.locator('#chart-key-usage').getAttribute('data-drawn'), 'true');
    const tokens = await chartData(page, 'chart-key-tokens');
    assert.ok(total(tokens, 'in') > 0 && total(tokens, 'out') > 0);
    assert.match(await page.locator('.key-usage table.breakdown').innerText(), /gpt-3\.5-turbo/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'key-usage.png'), fullPage: true });
  });
});
