// Adapter playground: sends one prompt to the base model and to the adapter through
// POST /v1/chat/completions (stream: true, the browser's own bearer key via lp.api) and appends each
// chat.completion.chunk's text to its pane as it arrives. Replies are set with textContent only.
"use strict";

(() => {
  const form = document.getElementById("pg-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const prompt = $("pg-prompt");

  // One SSE event's data lines -> the chunk object, "[DONE]", or null for a comment/keep-alive.
  function parseEvent(block) {
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
    if (!data.length) return null;
    const text = data.join("\n");
    return text === "[DONE]" ? text : JSON.parse(text);
  }

  async function streamInto(model, pane, body) {
    const reply = $(`pg-${pane}-reply`);
    const status = $(`pg-${pane}-status`);
    reply.textContent = "";
    status.classList.remove("error");
    status.textContent = "Waiting for the model… (the first reply loads it)";
    try {
      const response = await lp.api("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(Object.assign({ model, stream: true }, body)),
      });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let finish = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event === null || event === "[DONE]") continue;
          if (event.error) throw new Error(event.error.message || "the reply stopped with an error");
          const choice = event.choices && event.choices[0];
          if (!choice) continue;
          if (choice.delta && choice.delta.content) {
            reply.textContent += choice.delta.content;
            status.textContent = "Writing…";
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
      if (!reply.textContent) reply.textContent = "(an empty reply)";
      status.textContent = finish === "length" ? "Done: stopped at the max tokens setting." : "Done.";
    } catch (err) {
      status.textContent = "No reply: " + err.message;
      status.classList.add("error");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text) return;
    const body = {
      messages: [{ role: "user", content: text }],
      temperature: Number(form.elements.temperature.value),
      max_tokens: Number(form.elements.max_tokens.value),
      seed: Number(form.elements.seed.value),
    };
    const button = $("pg-send");
    button.disabled = true;
    try {
      await Promise.all([streamInto(form.dataset.base, "base", body), streamInto(form.dataset.adapter, "adapter", body)]);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("click", (event) => {
    const use = event.target.closest("button.use-prompt");
    if (!use) return;
    prompt.value = use.dataset.prompt;
    prompt.focus();
  });
})();
