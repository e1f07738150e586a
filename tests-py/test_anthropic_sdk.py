"""The official Anthropic Python SDK (``anthropic`` on PyPI) against AIGNE Hub's ``/v1/messages``
(fixtures in ``conftest.py``): the hub key as the SDK's API key, models of any provider.
"""

from __future__ import annotations

import time

import anthropic
import pytest

from conftest import COMPLETION_TOKENS, PROMPT_TOKENS, REPLY, Hub, sim_stats

MESSAGES = [{"role": "user", "content": "Hello!"}]
# The simulator's OpenAI API writes exactly max_tokens words; 12 is its whole reply.
MAX = COMPLETION_TOKENS
OPENAI_MODEL = "openai/gpt-4o-mini"
CLAUDE_MODEL = "anthropic/claude-sonnet-4-5"
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


@pytest.fixture(scope="module")
def hub(sim_url):
    """A hub with the simulator as both its OpenAI and its Anthropic provider."""
    h = Hub(sim_url, anthropic=True)
    yield h
    assert h.close() == 0, "the hub exits cleanly on SIGTERM"


@pytest.fixture(params=["", "/api"], ids=["v1", "api-v1"])
def client(request, hub):
    # The SDK appends /v1/messages to its base URL.
    return anthropic.Anthropic(base_url=f"{hub.url}{request.param}", api_key=hub.key, max_retries=0, timeout=15)


@pytest.mark.parametrize("model", [OPENAI_MODEL, CLAUDE_MODEL])
def test_messages_create(client, model):
    msg = client.messages.create(model=model, max_tokens=MAX, messages=MESSAGES)
    assert msg.type == "message"
    assert msg.role == "assistant"
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == REPLY
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == COMPLETION_TOKENS
    assert msg.usage.input_tokens > 0


def test_messages_create_with_bearer_auth(hub):
    c = anthropic.Anthropic(base_url=hub.url, auth_token=hub.key, max_retries=0, timeout=15)
    msg = c.messages.create(model=OPENAI_MODEL, max_tokens=5, system="Be brief.", messages=MESSAGES)
    assert msg.usage.output_tokens == 5


@pytest.mark.parametrize("model", [OPENAI_MODEL, CLAUDE_MODEL])
def test_streaming_text_and_final_usage(client, model):
    with client.messages.stream(model=model, max_tokens=MAX, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == REPLY
    assert final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == COMPLETION_TOKENS


def test_streaming_raw_events(client):
    events = list(client.messages.create(model=CLAUDE_MODEL, max_tokens=3, messages=MESSAGES, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert events[-2].delta.stop_reason == "max_tokens"
    assert events[-2].usage.output_tokens == 3


@pytest.mark.parametrize("model", [OPENAI_MODEL, CLAUDE_MODEL])
def test_tool_use_round_trip(client, model):
    msg = client.messages.create(
        model=model, max_tokens=MAX, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    )
    assert msg.stop_reason == "tool_use"
    calls = [b for b in msg.content if b.type == "tool_use"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert isinstance(calls[0].input, dict)

    follow_up = client.messages.create(
        model=model, max_tokens=MAX, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": msg.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "21 degrees"}]},
        ],
    )
    assert follow_up.stop_reason == "end_turn"
    assert follow_up.content[0].type == "text"


def test_streamed_tool_use(client):
    with client.messages.stream(
        model=OPENAI_MODEL, max_tokens=MAX, tools=[WEATHER], tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather?"}],
    ) as stream:
        final = stream.get_final_message()
    calls = [b for b in final.content if b.type == "tool_use"]
    assert [c.name for c in calls] == ["get_weather"]
    assert calls[0].input == {"sim": True}
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("bad_key", [
    "not-a-key",
    "aih_000000000000_" + "A" * 49,
], ids=["garbage", "wrong"])
def test_bad_key_raises_authentication_error(hub, bad_key):
    c = anthropic.Anthropic(base_url=hub.url, api_key=bad_key, max_retries=0, timeout=15)
    with pytest.raises(anthropic.AuthenticationError) as info:
        c.messages.create(model=OPENAI_MODEL, max_tokens=10, messages=MESSAGES)
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"
    assert bad_key not in str(info.value)


def test_unknown_model_raises_not_found(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nowhere/model-x", max_tokens=10, messages=MESSAGES)


def test_bad_request_raises_bad_request_error(client):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=OPENAI_MODEL, max_tokens=0, messages=MESSAGES)
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_calls_are_metered(client, hub, sim_url):
    msg = client.messages.with_raw_response.create(model=OPENAI_MODEL, max_tokens=MAX, messages=MESSAGES)
    rid = msg.headers.get("x-request-id")
    assert rid
    assert sim_stats(sim_url)["last_chat_body"]["max_tokens"] == MAX
    deadline = time.monotonic() + 5.0
    while True:
        records = [r for r in hub.usage() if r.get("request_id") == rid]
        if records:
            break
        assert time.monotonic() < deadline, "the usage record is written within 5 s"
        time.sleep(0.1)
    r = records[0]
    assert r["endpoint"] == "messages"
    assert r["provider"] == "openai"
    assert (r["tokens_in"], r["tokens_out"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
