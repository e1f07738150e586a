-- wrk script used by bench/run.sh.
--
-- Sends OpenAI-style chat completion requests and, when the run ends, prints
-- one machine-readable line:
--
--   BENCH_RESULT requests=N duration_us=N bytes=N p50_us=N p90_us=N p99_us=N
--                max_us=N err_connect=N err_read=N err_write=N err_status=N
--                err_timeout=N
--
-- Configured through the environment:
--   BENCH_KEY         bearer token (empty: no Authorization header)
--   BENCH_MODEL       model name placed in the body
--   BENCH_MAX_TOKENS  max_tokens (the upstream simulator answers with exactly this many words)
--   BENCH_STREAM      "1" to request a streamed (SSE) response
--   BENCH_MIX         "1" to cycle through a fixed mix of request shapes (see MIX below)

local key = os.getenv("BENCH_KEY") or ""
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local max_tokens = tonumber(os.getenv("BENCH_MAX_TOKENS") or "16") or 16
local stream = os.getenv("BENCH_STREAM") == "1"
local mix = os.getenv("BENCH_MIX") == "1"

-- Streamed requests ask for the usage chunk, as a client that meters its calls does: the hub
-- always asks the upstream for it (that is how it meters), so without it here the direct and
-- nginx targets would be sent one chunk fewer than the hub, and the simulator spaces every
-- chunk, the usage chunk included, by its chunk interval.
local STREAM_FIELDS = ',"stream":true,"stream_options":{"include_usage":true}'

local function body(is_stream, tokens)
  return string.format(
    '{"model":"%s","messages":[{"role":"user","content":"Hello!"}],"max_tokens":%d%s}',
    model, tokens, is_stream and STREAM_FIELDS or "")
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.body = body(stream, max_tokens)

-- The "mixed" scenario (also the load of "soak"): a fixed, repeating sequence of 20 request
-- shapes as users send them: prompts of 1 to 4 KB, answers of 20 to 200 tokens, 6 of 20 (30 %)
-- streamed. Every connection walks the same sequence, so runs are comparable.
-- { streamed, max_tokens, prompt bytes }
local MIX = {
  { false, 40, 1024 }, { true, 120, 2048 }, { false, 20, 3072 }, { false, 80, 4096 },
  { false, 200, 1536 }, { true, 60, 1024 }, { false, 150, 2560 }, { false, 30, 3584 },
  { true, 200, 1024 }, { false, 100, 2048 }, { false, 50, 4096 }, { false, 20, 1280 },
  { true, 90, 3072 }, { false, 180, 1024 }, { false, 70, 2304 }, { true, 20, 3840 },
  { false, 130, 1792 }, { false, 40, 2816 }, { true, 160, 1024 }, { false, 60, 4096 },
}

-- A prompt of exactly n bytes of plain words (nothing to escape in JSON).
local WORDS = "Summarise the following notes about the quarterly report and list open questions. "
local function prompt(n)
  local text = string.rep(WORDS, math.floor(n / #WORDS) + 1)
  return string.sub(text, 1, n)
end

local function mixed_body(is_stream, tokens, bytes)
  return string.format(
    '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":%d%s}',
    model, prompt(bytes), tokens, is_stream and STREAM_FIELDS or "")
end

if mix then
  local prepared = {}
  local next_index = 0

  function init(args)
    for i, shape in ipairs(MIX) do
      prepared[i] = wrk.format(nil, nil, nil, mixed_body(shape[1], shape[2], shape[3]))
    end
  end

  function request()
    next_index = next_index % #prepared + 1
    return prepared[next_index]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
