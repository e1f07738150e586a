// The published OpenAI SDK for JavaScript (`openai`, pinned in package.json) against AIGNE Hub's
// OpenAI-compatible API: chat, streaming with usage, tools, embeddings, models, typed errors and video jobs.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import OpenAI from "openai";

import { COMPLETION_TOKENS, Hub, PROMPT_TOKENS, PROVIDER_KEY, REPLY, simStats, startSim } from "./hub.mjs";

const MODEL = "aignehub/gpt-3.5-turbo";
const MESSAGES = [{ role: "user", content: "Hello!" }];
const WEATHER_TOOL = {
  type: "function",
  function: { name: "get_weather", description: "The weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

let sim;
let hub;

before(async () => {
  sim = await startSim();
  hub = await Hub.start(sim.url);
});

after(async () => {
  if (hub) assert.equal(await hub.close(), 0, "the hub exits cleanly on SIGTERM");
  if (sim) await sim.stop();
});

for (const prefix of ["/v1", "/api/v1"]) {
  const client = () => new OpenAI({ baseURL: `${hub.url}${prefix}`, apiKey: hub.key, maxRetries: 0, timeout: 15_000 });

  describe(`openai SDK at ${prefix}`, () => {
    test("chat.completions.create answers text and usage", async () => {
      const resp = await client().chat.completions.create({ model: MODEL, messages: MESSAGES });
      assert.equal(resp.object, "chat.completion");
      assert.equal(resp.choices[0].message.content, REPLY);
      assert.equal(resp.choices[0].finish_reason, "stop");
      assert.deepEqual([resp.usage.prompt_tokens, resp.usage.completion_tokens], [PROMPT_TOKENS, COMPLETION_TOKENS]);
      const stats = await simStats(sim.url);
      assert.equal(stats.last_authorization, `Bearer ${PROVIDER_KEY}`, "the provider gets the hub's credential");
    });

    test("a stream with include_usage ends with a usage chunk", async () => {
      const stream = await client().chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true, stream_options: { include_usage: true } });
      const chunks = [];
      for await (const c of stream) chunks.push(c);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
      assert.equal(text, REPLY);
      const last = chunks.at(-1);
      assert.deepEqual(last.choices, []);
      assert.deepEqual([last.usage.prompt_tokens, last.usage.completion_tokens], [PROMPT_TOKENS, COMPLETION_TOKENS]);
    });

    test("the runner's finalChatCompletion assembles a streamed tool call", async () => {
      const runner = client().chat.completions.stream({
        model: MODEL,
        messages: [{ role: "user", content: "Weather in Paris?" }],
        tools: [WEATHER_TOOL],
        tool_choice: { type: "function", function: { name: "get_weather" } },
      });
      const final = await runner.finalChatCompletion();
      const call = final.choices[0].message.tool_calls[0];
      assert.equal(call.function.name, "get_weather");
      assert.deepEqual(JSON.parse(call.function.arguments), { sim: true });
    });

    test("tools: a forced call, then its result goes back", async () => {
      const first = await client().chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "Weather in Paris?" }],
        tools: [WEATHER_TOOL],
        tool_choice: "required",
      });
      assert.equal(first.choices[0].finish_reason, "tool_calls");
      const call = first.choices[0].message.tool_calls[0];
      assert.equal(call.function.name, "get_weather");
      const second = await client().chat.completions.create({
        model: MODEL,
        tools: [WEATHER_TOOL],
        messages: [
          { role: "user", content: "Weather in Paris?" },
          first.choices[0].message,
          { role: "tool", tool_call_id: call.id, content: "21C" },
        ],
      });
      assert.equal(second.choices[0].message.content, REPLY);
      const sent = (await simStats(sim.url)).last_chat_body;
      assert.equal(sent.messages[2].tool_call_id, call.id);
    });

    test("embeddings as floats and as the SDK's default base64", async () => {
      const floats = await client().embeddings.create({ model: "openai/text-embedding-3-small", input: ["hello world", "the quick brown fox"], encoding_format: "float" });
      assert.deepEqual(floats.data.map((d) => d.index), [0, 1]);
      assert.ok(floats.data.every((d) => d.embedding.length === 8));
      assert.equal(floats.usage.prompt_tokens, 6);
      const decoded = await client().embeddings.create({ model: "openai/text-embedding-3-small", input: ["hello world", "the quick brown fox"] });
      assert.deepEqual(decoded.data.map((d) => d.embedding.length), [8, 8]);
      for (const [i, d] of decoded.data.entries()) {
        d.embedding.forEach((x, j) => assert.ok(Math.abs(x - floats.data[i].embedding[j]) < 1e-6));
      }
    });

    test("models: list and retrieve only what this hub serves", async () => {
      const ids = [];
      for await (const m of client().models.list()) ids.push(m.id);
      assert.ok(ids.includes("openai/gpt-4o-mini"), ids.join(","));
      assert.ok(ids.every((id) => id.startsWith("openai/")), ids.join(","));
      const model = await client().models.retrieve("openai/gpt-4o-mini");
      assert.deepEqual([model.id, model.object, model.owned_by], ["openai/gpt-4o-mini", "model", "openai"]);
      await assert.rejects(client().models.retrieve("anthropic/claude-sonnet-4-5"), OpenAI.NotFoundError);
    });

    test("typed errors: bad key, unknown model, bad request", async () => {
      const bad = new OpenAI({ baseURL: `${hub.url}${prefix}`, apiKey: "aih_000000000000_" + "A".repeat(49), maxRetries: 0 });
      await assert.rejects(bad.chat.completions.create({ model: MODEL, messages: MESSAGES }), OpenAI.AuthenticationError);
      await assert.rejects(client().chat.completions.create({ model: "nowhere/model-x", messages: MESSAGES }), OpenAI.NotFoundError);
      await assert.rejects(client().chat.completions.create({ model: MODEL, messages: MESSAGES, n: 0 }), OpenAI.BadRequestError);
    });

    test("videos: create a job, poll it, download the MP4", async () => {
      const job = await client().videos.create({ model: "openai/sora-2", prompt: "a cat on a skateboard", seconds: "4" });
      assert.equal(job.object, "video");
      assert.ok(job.id.startsWith("video_"), job.id);
      let video = job;
      const deadline = Date.now() + 10_000;
      while (video.status === "queued" || video.status === "in_progress") {
        assert.ok(Date.now() < deadline, "the job ends");
        await new Promise((r) => setTimeout(r, 100));
        video = await client().videos.retrieve(job.id);
      }
      assert.equal(video.status, "completed", JSON.stringify(video));
      const content = await client().videos.downloadContent(job.id);
      const bytes = new Uint8Array(await content.arrayBuffer());
      assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), "ftyp");
      const other = new OpenAI({ baseURL: `${hub.url}${prefix}`, apiKey: await hub.createKey(`other${prefix.replaceAll("/", "-")}`), maxRetries: 0 });
      await assert.rejects(other.videos.retrieve(job.id), OpenAI.NotFoundError);
    });
  });
}
