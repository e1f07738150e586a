// The Playground page: keeps the conversation in the page, POSTs it to /playground/chat with the
// session's CSRF token, renders the OpenAI chat stream as it arrives (as text, never as HTML),
// then shows tokens, time to first token, duration and the recorded cost.
(function () {
  "use strict";
  const root = document.getElementById("playground");
  if (!root) return;
  const csrf = root.dataset.csrf || "";
  const $ = (id) => document.getElementById(id);
  const form = $("pg-form"), input = $("pg-input"), send = $("pg-send"), list = $("pg-conversation");
  const errorBox = $("pg-error"), stats = $("pg-stats");
  let conversation = [];
  let busy = false;

  function turn(role, text) {
    const div = document.createElement("div");
    div.className = "pg-turn pg-" + role;
    const who = document.createElement("span");
    who.className = "pg-role";
    who.textContent = role === "user" ? "You" : "Assistant";
    const body = document.createElement("div");
    body.className = "pg-text";
    body.textContent = text;
    div.append(who, body);
    list.append(div);
    return body;
  }

  function showError(status, message) {
    errorBox.textContent = (status ? status + ": " : "") + message;
    errorBox.hidden = false;
  }

  function number(id, parse) {
    const v = $(id).value.trim();
    if (v === "") return undefined;
    const n = parse(v);
    return Number.isFinite(n) ? n : undefined;
  }

  async function recordOf(requestId) {
    for (let i = 0; i < 20 && requestId; i++) {
      const res = await fetch("/playground/calls/" + encodeURIComponent(requestId), { credentials: "same-origin" });
      if (res.ok) return res.json();
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  }

  async function sendMessage() {
    const text = input.value.trim();
    if (!text || busy) return;
    busy = true;
    send.disabled = true;
    errorBox.hidden = true;
    stats.textContent = "";
    conversation.push({ role: "user", content: text });
    turn("user", text);
    input.value = "";
    const out = turn("assistant", "");
    out.parentElement.classList.add("pg-streaming");
    const body = {
      model: $("pg-model").value,
      system: $("pg-system").value,
      messages: conversation,
      temperature: number("pg-temperature", parseFloat),
      max_tokens: number("pg-max-tokens", (v) => parseInt(v, 10)),
    };
    const started = performance.now();
    let firstToken = null, answer = "", usage = null, failed = false;
    try {
      const res = await fetch("/playground/chat", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify(body),
      });
      if (!res.ok || !res.body) {
        let message = res.statusText;
        try {
          const j = await res.json();
          if (j && j.error && j.error.message) message = j.error.message;
        } catch (_) { /* not JSON */ }
        showError(res.status, message);
        failed = true;
      } else {
        const requestId = res.headers.get("x-request-id");
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, cut).trim();
            buffer = buffer.slice(cut + 1);
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") continue;
            let event;
            try { event = JSON.parse(data); } catch (_) { continue; }
            if (event.error) {
              showError("", event.error.message || "the call failed");
              failed = true;
              continue;
            }
            const delta = event.choices && event.choices[0] && event.choices[0].delta;
            if (delta && typeof delta.content === "string" && delta.content !== "") {
              if (firstToken === null) firstToken = performance.now();
              answer += delta.content;
              out.textContent = answer;
            }
            if (event.usage) usage = event.usage;
          }
        }
        const duration = Math.round(performance.now() - started);
        const ttft = firstToken === null ? "—" : Math.round(firstToken - started) + " ms";
        const parts = [];
        if (usage) parts.push(usage.prompt_tokens + " tokens in", usage.completion_tokens + " tokens out");
        parts.push("first token " + ttft, "duration " + duration + " ms");
        stats.textContent = parts.join(" · ");
        const record = await recordOf(requestId);
        if (record) {
          parts.push("cost " + record.credits + " credits" + (record.estimated ? " (estimated)" : ""));
          stats.textContent = parts.join(" · ");
          stats.dataset.requestId = record.request_id;
        }
      }
    } catch (e) {
      showError("", "the hub could not be reached: " + e.message);
      failed = true;
    }
    out.parentElement.classList.remove("pg-streaming");
    if (failed && answer === "") {
      // Nothing came back: the message can be sent again.
      out.parentElement.remove();
      conversation.pop();
      list.lastElementChild && list.lastElementChild.remove();
      input.value = text;
    } else {
      conversation.push({ role: "assistant", content: answer });
    }
    busy = false;
    send.disabled = false;
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sendMessage(); }
  });
  $("pg-clear").addEventListener("click", () => {
    conversation = [];
    list.textContent = "";
    stats.textContent = "";
    errorBox.hidden = true;
  });
})();
