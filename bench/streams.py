"""Hold many streamed chat completions open at once (bench/run.sh, scenario streams-1000).

    python3 bench/streams.py URL KEY MODEL STREAMS MAX_TOKENS [TIMEOUT_SECS]

Opens STREAMS connections (at most 100 connecting at a time), sends one streamed
`POST /v1/chat/completions` on each, and reads every stream to its end. With a simulator that
sends one chunk every 100 ms and MAX_TOKENS 100, each stream stays open about 10 s, so all of
them are open at the same time. Prints one line when all have ended:

    STREAMS_RESULT streams=N ok=N failed=N max_open=N all_open_after_ms=N secs=N first_error=...

`max_open` counts streams whose response headers had arrived and whose body had not ended.
Standard library only.
"""
import asyncio
import json
import sys
import time
import urllib.parse


async def main():
    url, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
    streams, max_tokens = int(sys.argv[4]), int(sys.argv[5])
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 120.0
    u = urllib.parse.urlsplit(url)
    host, port, path = u.hostname, u.port or 80, u.path or "/"
    body = json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a long story."}],
        "max_tokens": max_tokens,
        "stream": True,
    }).encode()
    head = (
        "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer %s\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n"
        "Connection: close\r\n\r\n" % (path, host, port, key, len(body))
    ).encode()
    connecting = asyncio.Semaphore(100)
    st = {"open": 0, "max_open": 0, "ok": 0, "failed": 0, "error": "", "all_open_ms": -1}
    t0 = time.monotonic()

    async def one():
        writer = None
        opened = False
        try:
            async with connecting:
                reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
                writer.write(head + body)
                await writer.drain()
                status = await reader.readline()
                if b" 200 " not in status:
                    raise RuntimeError("status " + status.decode("latin-1").strip())
            opened = True
            st["open"] += 1
            if st["open"] > st["max_open"]:
                st["max_open"] = st["open"]
                if st["open"] == streams:
                    st["all_open_ms"] = int((time.monotonic() - t0) * 1000)
            seen_done = False
            tail = b""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                if b"[DONE]" in tail + chunk:
                    seen_done = True
                tail = chunk[-16:]
            if not seen_done:
                raise RuntimeError("stream ended without [DONE]")
            st["ok"] += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            st["failed"] += 1
            if not st["error"]:
                st["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            if opened:
                st["open"] -= 1
            if writer is not None:
                writer.close()

    async def bounded():
        try:
            await asyncio.wait_for(one(), timeout)
        except asyncio.TimeoutError:
            st["failed"] += 1
            if not st["error"]:
                st["error"] = "timeout after %.0f s" % timeout

    await asyncio.gather(*(bounded() for _ in range(streams)))
    secs = time.monotonic() - t0
    print(
        "STREAMS_RESULT streams=%d ok=%d failed=%d max_open=%d all_open_after_ms=%d secs=%.1f first_error=%s"
        % (streams, st["ok"], st["failed"], st["max_open"], st["all_open_ms"], secs,
           json.dumps(st["error"])),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
