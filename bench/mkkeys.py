"""Create many API keys in a running hub through its admin API (bench/run.sh scale-keys).

    python3 bench/mkkeys.py PORT ADMIN_KEY COUNT [CONNECTIONS]

Each connection is kept alive and sends `POST /api/admin/keys {"name": "bulk-<n>"}` one after
another. Prints the number created and the rate; exits 1 on the first refusal.
Standard library only.
"""
import http.client
import json
import sys
import threading
import time


def main():
    port, admin_key, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    conns = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    headers = {"Authorization": "Bearer " + admin_key, "Content-Type": "application/json"}
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "error": None}

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if state["error"] or state["next"] >= count:
                    break
                n = state["next"]
                state["next"] += 1
            body = json.dumps({"name": "bulk-%d" % n})
            try:
                c.request("POST", "/api/admin/keys", body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    state["error"] = "key %d: %s" % (n, e)
                break
            if r.status not in (200, 201):
                with lock:
                    state["error"] = "key %d: HTTP %d %s" % (n, r.status, data[:200])
                break
            with lock:
                state["done"] += 1
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    last = t0
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        now = time.monotonic()
        if now - last >= 10:
            last = now
            print("  %d of %d keys" % (state["done"], count), file=sys.stderr, flush=True)
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    print("created %d keys in %.1f s (%.0f/s)" % (state["done"], secs, state["done"] / max(secs, 1e-9)))
    if state["error"]:
        print("error: " + state["error"], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
