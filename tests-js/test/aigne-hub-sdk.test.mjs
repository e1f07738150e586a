// The published AIGNE SDK (`@aigne/aigne-hub`, pinned in package.json) against AIGNE Hub.
//
// One simulator and one hub for the file; every call goes through the SDK's own classes, except
// the checks of the raw wire (discovery, SSE framing) that the SDK hides.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";

import { AIGNEHubChatModel, AIGNEHubImageModel, AIGNEHubVideoModel } from "@aigne/aigne-hub";

import { COMPLETION_TOKENS, Hub, PROMPT_TOKENS, PROVIDER_KEY, REPLY, simStats, startSim } from "./hub.mjs";

const MODEL = "aignehub/openai/gpt-4o-mini";
const HELLO = { messages: [{ role: "user", content: "Hello!" }] };
const CLIENT_DID = "zNKjsdkTestApplicationDid";
const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { sim: { type: "boolean" }, city: { type: "string" } } },
  },
};

let sim;
let hub;

before(async () => {
  sim = await startSim();
  hub = await Hub.start(sim.url);
  // The SDK names its caller (x-aigne-hub-client-did) from the Blocklet environment, and
  // `models()` finds the hub through AIGNE_HUB_API_URL.
  process.env.BLOCKLET_APP_PID = CLIENT_DID;
  process.env.AIGNE_HUB_API_URL = hub.url;
});

after(async () => {
  if (hub) assert.equal(await hub.close(), 0, "the hub exits cleanly on SIGTERM");
  if (sim) await sim.stop();
});

const chatModel = (options = {}) => new AIGNEHubChatModel({ baseURL: hub.url, apiKey: hub.key, model: MODEL, ...options });

describe("discovery", () => {
  test("__blocklet__.js?type=json names AIGNE Hub's component, without a key", async () => {
    const res = await fetch(`${hub.url}/__blocklet__.js?type=json`);
    assert.equal(res.status, 200);
    const info = await res.json();
    assert.deepEqual(
      info.componentMountPoints.map((m) => [m.did, m.mountPoint]),
      [["z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ", "/"]],
    );
    assert.equal(info.appUrl, hub.url);
    assert.ok(info.appName);
  });

  test("a base URL with a path still finds the hub (the SDK uses the origin)", async () => {
    const m = chatModel({ baseURL: `${hub.url}/some/path` });
    const out = await m.invoke(HELLO);
    assert.equal(out.text, REPLY);
  });
});

describe("AIGNEHubChatModel", () => {
  test("invoke answers text, model and usage", async () => {
    const out = await chatModel().invoke(HELLO);
    assert.equal(out.text, REPLY);
    assert.deepEqual(out.usage, { inputTokens: PROMPT_TOKENS, outputTokens: COMPLETION_TOKENS });
    assert.equal(out.model, "gpt-4o-mini");
    const stats = await simStats(sim.url);
    assert.equal(stats.last_chat_body.model, "gpt-4o-mini", "the upstream gets the model without aignehub/openai/");
    assert.equal(stats.last_authorization, `Bearer ${PROVIDER_KEY}`, "the provider gets the hub's credential");
  });

  test("both model spellings reach the same upstream model", async () => {
    for (const model of ["openai/gpt-4o-mini", "aignehub/openai/gpt-4o-mini"]) {
      const m = new AIGNEHubChatModel({ baseURL: hub.url, apiKey: hub.key, model: "aignehub/openai/gpt-4o" });
      const out = await m.invoke({ ...HELLO, modelOptions: { model } });
      assert.equal(out.text, REPLY, model);
      assert.equal((await simStats(sim.url)).last_chat_body.model, "gpt-4o-mini", model);
    }
  });

  test("streaming yields text deltas whose concatenation is the reply", async () => {
    const stream = await chatModel().invoke(HELLO, { streaming: true });
    let text = "";
    let last;
    for await (const chunk of stream) {
      text += chunk.delta?.text?.text ?? "";
      if (chunk.delta?.json) last = chunk.delta.json;
    }
    assert.equal(text, REPLY);
    assert.deepEqual(last.usage, { inputTokens: PROMPT_TOKENS, outputTokens: COMPLETION_TOKENS });
    assert.equal(last.model, "gpt-4o-mini");
  });

  test("the raw stream is delta events only: no [DONE], every data line is JSON", async () => {
    const res = await fetch(`${hub.url}/api/v2/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${hub.key}` },
      body: JSON.stringify({ input: { ...HELLO, modelOptions: { model: MODEL } }, agent: "$CHAT_MODEL", options: { streaming: true } }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    const body = await res.text();
    assert.ok(!body.includes("[DONE]"), body);
    const data = body.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
    assert.ok(data.length > 2);
    assert.ok(data.every((d) => d.delta && (d.delta.text || d.delta.json)), body);
    assert.ok(data.at(-1).delta.json.usage, body);
  });

  test("a tool call comes back with object arguments, and its result goes up again", async () => {
    const m = chatModel();
    const first = await m.invoke({ messages: [{ role: "user", content: "Weather in Paris?" }], tools: [WEATHER_TOOL], toolChoice: "required" });
    assert.equal(first.toolCalls.length, 1);
    const call = first.toolCalls[0];
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.deepEqual(call.function.arguments, { sim: true });
    const sent = (await simStats(sim.url)).last_chat_body;
    assert.equal(sent.tools[0].function.name, "get_weather");
    assert.equal(sent.tool_choice, "required");

    const second = await m.invoke({
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "agent", content: "", toolCalls: [call] },
        { role: "tool", toolCallId: call.id, content: JSON.stringify({ temp: 21 }) },
      ],
      tools: [WEATHER_TOOL],
    });
    assert.equal(second.text, REPLY);
    const replayed = (await simStats(sim.url)).last_chat_body.messages;
    assert.equal(replayed[1].role, "assistant");
    assert.deepEqual(JSON.parse(replayed[1].tool_calls[0].function.arguments), { sim: true });
    assert.equal(replayed[2].role, "tool");
    assert.equal(replayed[2].tool_call_id, call.id);
  });

  test("a streamed tool call arrives in the final event", async () => {
    const stream = await chatModel().invoke(
      { messages: [{ role: "user", content: "Weather?" }], tools: [WEATHER_TOOL], toolChoice: "required" },
      { streaming: true },
    );
    let toolCalls;
    for await (const chunk of stream) if (chunk.delta?.json?.toolCalls) toolCalls = chunk.delta.json.toolCalls;
    assert.equal(toolCalls?.length, 1);
    assert.deepEqual(toolCalls[0].function.arguments, { sim: true });
  });

  test("calls are metered and attributed to the calling application", async () => {
    const records = await hub.waitForUsage(1, (r) => r.endpoint === "chat.completions" && r.project === CLIENT_DID);
    const ok = records.find((r) => r.outcome === "ok" && !r.stream);
    assert.ok(ok, JSON.stringify(records));
    assert.equal(ok.model, "gpt-4o-mini");
    assert.equal(ok.provider, "openai");
  });

  test("models() lists the configured providers' chat models", async () => {
    const models = await chatModel().models();
    assert.ok(models.length > 0);
    assert.ok(models.every((m) => m.type === "chat" && m.provider === "openai"), JSON.stringify(models));
    const mini = models.find((m) => m.model === "gpt-4o-mini");
    assert.ok(mini, JSON.stringify(models));
    assert.equal(mini.providerDisplayName, "OpenAI");
    assert.equal(typeof mini.input_credits_per_token, "string");
  });

  test("a bad key is an error with a clear message", async () => {
    for (const apiKey of ["sk-not-a-hub-key", `aih_AAAAAAAAAAAA_${"B".repeat(43)}CCCCCC`]) {
      const m = new AIGNEHubChatModel({ baseURL: hub.url, apiKey, model: MODEL });
      await assert.rejects(m.invoke(HELLO), (e) => /API key/i.test(e.message) && e.type === "invalid_request_error", apiKey);
    }
  });

  test("an unknown model is an error naming it", async () => {
    const m = new AIGNEHubChatModel({ baseURL: hub.url, apiKey: hub.key, model: "aignehub/no-such-model" });
    await assert.rejects(m.invoke(HELLO), (e) => e.message.includes("no-such-model") && e.type === "invalid_request_error");
  });

  test("an upstream failure mid-stream surfaces as an error", async () => {
    const stream = await chatModel().invoke({ messages: [{ role: "user", content: "Hello! [[sim:cut=3]]" }] }, { streaming: true });
    await assert.rejects(async () => {
      for await (const _ of stream);
    }, (e) => e instanceof Error && e.message.length > 0);
  });
});

describe("AIGNEHubImageModel", () => {
  test("generates an image the SDK can download", async () => {
    const m = new AIGNEHubImageModel({ baseURL: hub.url, apiKey: hub.key, model: "aignehub/openai/gpt-image-1" });
    const out = await m.invoke({ prompt: "a watercolor fox", outputFileType: "url" });
    assert.equal(out.images.length, 1);
    assert.equal(out.images[0].type, "url");
    assert.ok(out.images[0].url.startsWith(`${hub.url}/files/`), out.images[0].url);
    const got = await fetch(out.images[0].url);
    assert.equal(got.headers.get("content-type"), "image/png");
    assert.equal(out.model, "gpt-image-1");
    assert.ok(out.usage.outputTokens > 0);

    // The SDK's default output is a local file it downloads itself.
    const local = await m.invoke({ prompt: "a watercolor fox" });
    assert.equal(local.images[0].type, "local");
    assert.ok(existsSync(local.images[0].path));
    assert.deepEqual([...readFileSync(local.images[0].path).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });

  test("models() lists image models", async () => {
    const m = new AIGNEHubImageModel({ baseURL: hub.url, apiKey: hub.key, model: "aignehub/openai/gpt-image-1" });
    const models = await m.models();
    assert.ok(models.some((x) => x.model === "gpt-image-1" && x.type === "image"), JSON.stringify(models));
  });
});

describe("AIGNEHubVideoModel", () => {
  test("generates a video (Sora through the hub) whose URL downloads", async () => {
    // `aignehub/` picks the hub's own video model; the hub receives `openai/sora-2`.
    const m = new AIGNEHubVideoModel({ baseURL: hub.url, apiKey: hub.key, model: "aignehub/openai/sora-2" });
    const before = (await simStats(sim.url)).video_requests;
    const out = await m.invoke({ prompt: "a cat on a skateboard", seconds: "8", outputFileType: "url" });
    assert.equal(out.videos.length, 1);
    assert.equal(out.videos[0].type, "url");
    assert.ok(out.videos[0].url.startsWith(`${hub.url}/files/`), out.videos[0].url);
    assert.equal(out.model, "sora-2");
    assert.equal(out.seconds, 8);
    const got = await fetch(out.videos[0].url);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("content-type"), "video/mp4");
    const bytes = new Uint8Array(await got.arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), "ftyp");
    assert.equal((await simStats(sim.url)).video_requests, before + 1);
    const [record] = await hub.waitForUsage(1, (r) => r.endpoint === "video");
    assert.equal(record.video_seconds, 8);
    assert.equal(record.model, "sora-2");
  });

  test("models() lists video models", async () => {
    const m = new AIGNEHubVideoModel({ baseURL: hub.url, apiKey: hub.key, model: "aignehub/openai/sora-2" });
    const models = await m.models();
    assert.ok(models.some((x) => x.model === "sora-2" && x.type === "video"), JSON.stringify(models));
  });
});
