// Shared by the browser tests: the binaries under test, starting and stopping the upstream
// simulator, a hub in front of it and Debian's Chromium, and a chat call through the API.
//
// Binaries: target/debug/aigne-hub and target/debug/upstream-sim (overridable by AIGNE_HUB_BIN /
// UPSTREAM_SIM_BIN); Chromium at /usr/bin/chromium (CHROMIUM_BIN). Screenshots go to
// target/browser-artifacts/ (BROWSER_ARTIFACTS_DIR).

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
export const HUB_BIN = process.env.AIGNE_HUB_BIN || path.join(repoRoot, 'target', 'debug', 'aigne-hub');
export const SIM_BIN = process.env.UPSTREAM_SIM_BIN || path.join(repoRoot, 'target', 'debug', 'upstream-sim');
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const ARTIFACTS = process.env.BROWSER_ARTIFACTS_DIR || path.join(repoRoot, 'target', 'browser-artifacts');
const STARTUP_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Process handling

const children = new Set();
const childEnv = { ...process.env, NO_COLOR: '1' };

export function killAll(signal = 'SIGTERM') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill(signal); } catch { /* already gone */ }
    }
  }
}
// Last resort if the runner exits without reaching the `after` hook.
process.on('exit', () => killAll('SIGKILL'));

/** Starts a long-running binary and keeps its output for diagnostics. */
export function startProcess(name, bin, args) {
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

export function describeProc(proc) {
  // eslint-disable-next-line no-control-regex
  const tail = (s) => s.replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(-30).join('\n');
  return `--- ${proc.name} stdout ---\n${tail(proc.stdout)}\n--- ${proc.name} stderr ---\n${tail(proc.stderr)}`;
}

/** Waits until the process's stdout matches `re`; fails early if the process exits. */
export async function waitForStdout(proc, re, timeoutMs = STARTUP_TIMEOUT_MS) {
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
export function runOnce(bin, args, input) {
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

export async function stopProcess(proc) {
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Helpers for the hub's API

export async function chat(hubUrl, key) {
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
// A simulator, a hub in front of it (provider openai) with a fresh data directory, and a browser

/**
 * Starts the simulator and a hub with `serveArgs`; answers the pieces and the one-time setup URL.
 * `stop()` ends them and removes the data directory.
 */
export async function startStack({ providerKey, serveArgs = [], failureShot }) {
  for (const [what, bin] of [['aigne-hub', HUB_BIN], ['upstream-sim', SIM_BIN], ['chromium', CHROMIUM_BIN]]) {
    assert.ok(existsSync(bin), `${what} binary not found at ${bin}`);
  }
  await mkdir(ARTIFACTS, { recursive: true });
  if (failureShot) await rm(path.join(ARTIFACTS, failureShot), { force: true });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'aigne-hub-browser-'));

  const sim = startProcess('upstream-sim', SIM_BIN, ['--listen', '127.0.0.1:0']);
  const [, simUrl] = await waitForStdout(sim, /listening on (http:\/\/\S+)/);

  const add = await runOnce(HUB_BIN, ['provider', 'add', 'openai', '--base-url', `${simUrl}/v1`, '--api-key-stdin', '--data-dir', dataDir], `${providerKey}\n`);
  assert.equal(add.code, 0, `provider add failed (code ${add.code}, signal ${add.signal})\n${add.stdout}\n${add.stderr}`);

  const hub = startProcess('aigne-hub', HUB_BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...serveArgs]);
  const [, hubUrl] = await waitForStdout(hub, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const [, setupUrl] = await waitForStdout(hub, /Create it within one hour \(one use\): (http:\/\/\S+\/setup\?token=\S+)/);

  const browser = await chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({
    permissions: ['clipboard-read', 'clipboard-write'],
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (err) => { process.stderr.write(`page error: ${err.message}\n`); });

  const stop = async () => {
    await context.close().catch(() => {});
    await browser.close().catch(() => {});
    await stopProcess(hub);
    await stopProcess(sim);
    killAll('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  };
  return { dataDir, sim, hub, hubUrl, setupUrl, browser, context, page, stop };
}

/**
 * Steps of one flow: later steps depend on earlier ones, so after the first failure the rest are
 * skipped; the failure leaves a screenshot (`failureShot`) and the hub's output in the error.
 * `current()` answers the flow's `{ page, hub }` at the time.
 */
export function steps(it, failureShot, current) {
  let broken = false;
  return (name, fn) => it(name, async (t) => {
    if (broken) { t.skip('an earlier step failed'); return; }
    try {
      await fn(t);
    } catch (err) {
      broken = true;
      const { page, hub } = current();
      await page?.screenshot({ path: path.join(ARTIFACTS, failureShot), fullPage: true }).catch(() => {});
      if (hub) err.message += `\n${describeProc(hub)}`;
      throw err;
    }
  });
}
