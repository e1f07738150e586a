"""The official OpenAI Python SDK against AIGNE Hub.

Starts the upstream simulator and the hub as processes, sets the hub up with its CLI (owner,
provider, key), then talks to it only through ``openai.OpenAI``.

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

import openai
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

    def __init__(self, sim_url: str) -> None:
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


@pytest.fixture(params=["/v1", "/api/v1"], ids=["v1", "api-v1"])
def client(request, hub):
    return openai.OpenAI(base_url=f"{hub.url}{request.param}", api_key=hub.key, max_retries=0, timeout=15)


def test_chat_completion(client, hub, sim_url):
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == REPLY
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (
        PROMPT_TOKENS, COMPLETION_TOKENS, PROMPT_TOKENS + COMPLETION_TOKENS)

    stats = sim_stats(sim_url)
    assert stats["last_chat_body"]["model"] == "gpt-3.5-turbo"
    assert stats["last_authorization"] == f"Bearer {PROVIDER_KEY}", "the provider gets the hub's credential"


def test_raw_response_headers(client):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.status_code == 200
    assert raw.headers.get("x-request-id")
    assert raw.parse().choices[0].message.content == REPLY


def test_streaming_with_usage_on_the_last_chunk(client):
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert chunks, "the stream produced chunks"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == REPLY
    last = chunks[-1]
    assert last.usage is not None, "usage arrives on the last chunk"
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        PROMPT_TOKENS, COMPLETION_TOKENS, PROMPT_TOKENS + COMPLETION_TOKENS)
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_usage(client):
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert all(c.usage is None for c in chunks), "no usage chunk unless asked for"


@pytest.mark.parametrize("bad_key", [
    "sk-not-a-hub-key",
    # Well-formed shape, wrong checksum.
    "aih_AAAAAAAAAAAA_" + "B" * 43 + "CCCCCC",
], ids=["malformed", "bad-checksum"])
def test_bad_key_raises_authentication_error(hub, bad_key):
    for prefix in ("/v1", "/api/v1"):
        bad = openai.OpenAI(base_url=f"{hub.url}{prefix}", api_key=bad_key, max_retries=0, timeout=15)
        with pytest.raises(openai.AuthenticationError) as caught:
            bad.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert caught.value.status_code == 401
        assert isinstance(caught.value.body, dict) and caught.value.body.get("message")


def test_revoked_key_raises_authentication_error(hub):
    created = json.loads(hub.cli("key", "create", "--name", "revoke-me", "--json"))
    c = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=created["key"], max_retries=0, timeout=15)
    assert c.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content == REPLY
    hub.cli("key", "revoke", created["kid"])
    deadline = time.monotonic() + 1.0
    while True:
        try:
            c.chat.completions.create(model=MODEL, messages=MESSAGES)
        except openai.AuthenticationError as e:
            assert "revoked" in str(e)
            break
        assert time.monotonic() < deadline, "the revocation took effect within 1 s"
        time.sleep(0.05)


def test_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert caught.value.status_code == 404


def test_bad_request_raises_bad_request_error(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages="Hello!")  # type: ignore[arg-type]


def test_calls_are_metered(hub):
    c = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=hub.key, max_retries=0, timeout=15)
    raw = c.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, extra_headers={"x-aigne-hub-client-did": "sdk-project"})
    request_id = raw.headers["x-request-id"]
    deadline = time.monotonic() + 5.0
    while True:
        record = next((r for r in hub.usage() if r["request_id"] == request_id), None)
        if record is not None:
            break
        assert time.monotonic() < deadline, "the usage record is written within 5 s"
        time.sleep(0.1)
    assert record["kid"] == hub.kid
    assert record["project"] == "sdk-project"
    assert (record["tokens_in"], record["tokens_out"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert record["outcome"] == "ok"


EMBEDDING_MODEL = "openai/text-embedding-3-small"


def test_embeddings_floats_and_usage(client):
    resp = client.embeddings.create(model=EMBEDDING_MODEL, input=["hello world", "the quick brown fox"],
                                    encoding_format="float")
    assert resp.object == "list"
    assert [d.index for d in resp.data] == [0, 1]
    assert all(len(d.embedding) == 8 and isinstance(d.embedding[0], float) for d in resp.data)
    assert (resp.usage.prompt_tokens, resp.usage.total_tokens) == (6, 6)


def test_embeddings_default_base64_decodes_to_the_same_floats(client):
    # The SDK asks for base64 unless told otherwise and decodes it itself.
    decoded = client.embeddings.create(model=EMBEDDING_MODEL, input="hello world")
    floats = client.embeddings.create(model=EMBEDDING_MODEL, input="hello world", encoding_format="float")
    assert len(decoded.data[0].embedding) == 8
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)
    assert decoded.usage.prompt_tokens == 2


def test_embeddings_bad_input_raises_bad_request_error(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=EMBEDDING_MODEL, input="")
    assert caught.value.body["param"] == "input"


def test_images_generate_returns_a_downloadable_url(client):
    resp = client.images.generate(model="openai/dall-e-3", prompt="a watercolor fox", response_format="url")
    assert len(resp.data) == 1 and resp.data[0].url
    with urllib.request.urlopen(resp.data[0].url, timeout=10) as got:
        assert got.headers["content-type"] == "image/png"
        assert got.read().startswith(b"\x89PNG\r\n\x1a\n")


def test_images_generate_base64_from_gpt_image_becomes_a_hub_url(client, hub):
    resp = client.images.generate(model="openai/gpt-image-1", prompt="a small red square", response_format="url")
    url = resp.data[0].url
    assert "/files/" in url and "sig=" in url
    assert resp.usage.output_tokens == 272
    with urllib.request.urlopen(url, timeout=10) as got:
        assert got.headers["content-type"] == "image/png"
        assert got.read().startswith(b"\x89PNG\r\n\x1a\n")


def test_images_bad_n_raises_bad_request_error(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="openai/dall-e-3", prompt="x", n=11)
    assert caught.value.body["param"] == "n"


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert "openai/gpt-4o-mini" in ids and "openai/text-embedding-3-small" in ids
    assert all(i.startswith("openai/") for i in ids), "only the configured provider's models"
    model = client.models.retrieve("openai/gpt-4o-mini")
    assert (model.id, model.object, model.owned_by) == ("openai/gpt-4o-mini", "model", "openai")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("anthropic/claude-sonnet-4-5")
