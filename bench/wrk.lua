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

local function body(is_stream, tokens)
  return string.format(
    '{"model":"%s","messages":[{"role":"user","content":"Hello!"}],"max_tokens":%d%s}',
    model, tokens, is_stream and ',"stream":true' or "")
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.body = body(stream, max_tokens)

-- The "mixed" scenario: a fixed, repeating sequence of 20 request shapes
-- (14 short non-streamed, 4 streamed with 64 tokens, 2 long non-streamed with
-- 256 tokens). Every connection walks the same sequence, so runs are comparable.
local MIX = {
  { false, 16 }, { false, 16 }, { true, 64 }, { false, 16 }, { false, 256 },
  { false, 16 }, { true, 64 }, { false, 16 }, { false, 16 }, { false, 16 },
  { false, 16 }, { true, 64 }, { false, 16 }, { false, 16 }, { false, 256 },
  { false, 16 }, { true, 64 }, { false, 16 }, { false, 16 }, { false, 16 },
}

if mix then
  local prepared = {}
  local next_index = 0

  function init(args)
    for i, shape in ipairs(MIX) do
      prepared[i] = wrk.format(nil, nil, nil, body(shape[1], shape[2]))
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
