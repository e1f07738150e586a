"""Shared fixtures for the client SDK tests: the upstream simulator and a hub as processes, the
hub set up with its CLI (owner, providers, key). Test files talk to the hub only through the
published SDKs.

Binaries: ``AIGNE_HUB_BIN`` and ``UPSTREAM_SIM_BIN``, defaulting to ``target/debug/``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HUB_BIN = os.environ.get("AIGNE_HUB_BIN", str(REPO / "target" / "debug" / "aigne-hub"))
SIM_BIN = os.environ.get("UPSTREAM_SIM_BIN", str(REPO / "target" / "debug" / "upstream-sim"))

START_TIMEOUT = 30.0
CLI_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

MODEL = "aignehub/gpt-3.5-turbo"
MESSAGES = [{"role": "user", "content": "Hello!"}]
# What the simulator answers with no max tokens (12 words), and its usage for MESSAGES.
REPLY = "Hello from the upstream simulator. This reply is deterministic and repeats itself."
PROMPT_TOKENS, COMPLETION_TOKENS = 7, 12
PROVIDER_KEY = "sk-test-provider-credential-0123456789abcdef"
# The simulator accepts any credential; a hub with an Anthropic provider uses this one.
ANTHROPIC_PROVIDER_KEY = "sk-ant-test-provider-credential-0123456789abcdef"
# Fixed server secrets (base64 of 32 bytes each) so nothing random is written.
PEPPER = "YWlnbmUtaHViLXRlc3QtcGVwcGVyLTAxMjM0NTY3ODk="
MASTER_KEY = "YWlnbmUtaHViLXRlc3QtbWFzdGVyLWtleS0wMTIzNDU="


def wait_for_listening(proc: subprocess.Popen, what: str, timeout: float = START_TIMEOUT) -> str:
    """Reads the process's stdout until its ``listening on http://…`` line; returns the URL.

    A reader thread keeps draining stdout afterwards so the process never blocks on the pipe.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{what} printed no 'listening on' line in {timeout}s: {seen}")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError(f"{what} exited ({proc.wait()}) before listening: {seen}")
        seen.append(line)
        if "listening on " in line:
            return line.split("listening on ", 1)[1].split()[0].rstrip("/")


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


class Hub:
    """A hub with its own data directory, set up through the CLI."""

    def __init__(self, sim_url: str, anthropic: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aigne-hub-sdk-"))
        self.data_dir = self.root / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AIGNE_HUB_"))}
        self.env.update(
            AIGNE_HUB_DATA_DIR=str(self.data_dir),
            AIGNE_HUB_PEPPER=PEPPER,
            AIGNE_HUB_MASTER_KEY=MASTER_KEY,
        )
        self.cli("admin", "create", "--email", "owner@example.test", "--password-stdin",
                 stdin="correct horse battery staple")
        self.cli("provider", "add", "openai", "--base-url", f"{sim_url}/v1", "--api-key-stdin",
                 stdin=PROVIDER_KEY)
        if anthropic:
            self.cli("provider", "add", "anthropic", "--base-url", sim_url, "--api-key-stdin",
                     stdin=ANTHROPIC_PROVIDER_KEY)
        self.log = open(self.root / "serve-stderr.log", "wb")
        self.proc = subprocess.Popen(
            [HUB_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        try:
            self.url = wait_for_listening(self.proc, "aigne-hub serve")
        except Exception:
            self.close()
            raise
        created = json.loads(self.cli("key", "create", "--name", "sdk", "--owner", "owner@example.test", "--json"))
        self.key: str = created["key"]
        self.kid: str = created["kid"]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run(
            [HUB_BIN, *args, "--data-dir", str(self.data_dir)],
            env=self.env, input=None if stdin is None else stdin + "\n",
            capture_output=True, text=True, timeout=CLI_TIMEOUT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"aigne-hub {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def usage(self) -> list[dict]:
        return json.loads(self.cli("usage", "list", "--json"))

    def close(self) -> int:
        code = stop(self.proc)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)
        return code


@pytest.fixture(scope="module")
def sim_url():
    proc = subprocess.Popen(
        [SIM_BIN, "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        yield wait_for_listening(proc, "upstream-sim")
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def hub(sim_url):
    h = Hub(sim_url)
    yield h
    assert h.close() == 0, "the hub exits cleanly on SIGTERM"


def sim_stats(sim_url: str) -> dict:
    with urllib.request.urlopen(f"{sim_url}/__sim/stats", timeout=5) as resp:
        return json.load(resp)
