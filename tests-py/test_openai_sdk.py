"""The official OpenAI Python SDK against AIGNE Hub (fixtures in ``conftest.py``): it talks to
the hub only through ``openai.OpenAI``.
"""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest

from conftest import COMPLETION_TOKENS, MESSAGES, MODEL, PROMPT_TOKENS, PROVIDER_KEY, REPLY, sim_stats


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
