// Starts the upstream simulator and a hub with its own data directory, set up through the CLI
// exactly as an operator would (owner, provider `openai` pointed at the simulator, one key).
//
// Binaries: AIGNE_HUB_BIN and UPSTREAM_SIM_BIN (run.sh sets them; default target/debug/).

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const HUB_BIN = process.env.AIGNE_HUB_BIN || join(REPO, "target", "debug", "aigne-hub");
export const SIM_BIN = process.env.UPSTREAM_SIM_BIN || join(REPO, "target", "debug", "upstream-sim");

// What the simulator answers with no max tokens (12 words), and its usage for one "Hello!".
export const REPLY = "Hello from the upstream simulator. This reply is deterministic and repeats itself.";
export const PROMPT_TOKENS = 7;
export const COMPLETION_TOKENS = 12;
export const PROVIDER_KEY = "sk-test-provider-credential-0123456789abcdef";
// Fixed server secrets (base64 of 32 bytes each), as in the other test suites.
const PEPPER = "YWlnbmUtaHViLXRlc3QtcGVwcGVyLTAxMjM0NTY3ODk=";
const MASTER_KEY = "YWlnbmUtaHViLXRlc3QtbWFzdGVyLWtleS0wMTIzNDU=";
const OWNER = "owner@example.test";
const START_TIMEOUT_MS = 30_000;

/** Resolves with the URL of the process's `listening on http://…` line. */
function listening(proc, what) {
  return new Promise((resolvePromise, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`${what} did not start in time: ${seen.join("")}`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: proc.stdout });
    lines.on("line", (line) => {
      seen.push(`${line}\n`);
      const at = line.indexOf("listening on ");
      if (at >= 0) {
        clearTimeout(timer);
        resolvePromise(line.slice(at + "listening on ".length).split(/\s/)[0].replace(/\/$/, ""));
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before listening: ${seen.join("")}`));
    });
  });
}

function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      resolvePromise(code);
    });
    proc.kill("SIGTERM");
  });
}

export async function startSim() {
  const proc = spawn(SIM_BIN, ["--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "ignore"] });
  const url = await listening(proc, "upstream-sim");
  return { url, stop: () => stop(proc) };
}

export async function simStats(simUrl) {
  return (await fetch(`${simUrl}/__sim/stats`)).json();
}

export class Hub {
  static async start(simUrl) {
    const hub = new Hub();
    hub.root = mkdtempSync(join(tmpdir(), "aigne-hub-js-"));
    hub.dataDir = join(hub.root, "data");
    hub.env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPENAI_") && !k.startsWith("AIGNE_HUB_")));
    Object.assign(hub.env, { AIGNE_HUB_DATA_DIR: hub.dataDir, AIGNE_HUB_PEPPER: PEPPER, AIGNE_HUB_MASTER_KEY: MASTER_KEY });
    hub.cli(["admin", "create", "--email", OWNER, "--password-stdin"], "correct horse battery staple");
    hub.cli(["provider", "add", "openai", "--base-url", `${simUrl}/v1`, "--api-key-stdin"], PROVIDER_KEY);
    hub.proc = spawn(HUB_BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", hub.dataDir], { env: hub.env, stdio: ["ignore", "pipe", "ignore"] });
    hub.url = await listening(hub.proc, "aigne-hub serve");
    hub.proc.stdout.resume();
    hub.key = await hub.createKey("sdk");
    return hub;
  }

  cli(args, stdin) {
    const out = spawnSync(HUB_BIN, [...args, "--data-dir", this.dataDir], {
      env: this.env,
      input: stdin === undefined ? undefined : `${stdin}\n`,
      encoding: "utf8",
      timeout: 30_000,
    });
    if (out.status !== 0) throw new Error(`aigne-hub ${args.join(" ")} failed (${out.status}): ${out.stderr}`);
    return out.stdout;
  }

  /** Creates a key and waits until the running server accepts it (changes arrive within 1 s). */
  async createKey(name) {
    const { key } = JSON.parse(this.cli(["key", "create", "--name", name, "--owner", OWNER, "--json"]));
    const deadline = Date.now() + 5_000;
    for (;;) {
      const res = await fetch(`${this.url}/api/user/info`, { headers: { authorization: `Bearer ${key}` } });
      if (res.ok) return key;
      if (Date.now() > deadline) throw new Error(`the new key was not accepted: ${res.status} ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  usage() {
    return JSON.parse(this.cli(["usage", "list", "--json"]));
  }

  /** The usage records of `endpoint`, once at least `count` exist. */
  async waitForUsage(count, filter = () => true) {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const records = this.usage().filter(filter);
      if (records.length >= count) return records;
      if (Date.now() > deadline) throw new Error(`expected ${count} usage records, found ${records.length}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close() {
    const code = await stop(this.proc);
    rmSync(this.root, { recursive: true, force: true });
    return code;
  }
}
