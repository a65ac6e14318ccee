// Dataset page: right after an upload (?count=MODEL), count the tokens with that model without a click,
// while the report is already readable; the page then reloads once to show the token figures and the
// histogram. The count runs on the server (a child process), so leaving the page does not stop it.
"use strict";

(() => {
  async function autoCount() {
    const form = document.getElementById("tokens-form");
    if (!form || !form.dataset.autoCount) return;
    const model = form.dataset.autoCount;
    const status = document.getElementById("tokens-status");
    const button = form.querySelector("button");
    button.disabled = true;
    status.classList.remove("error");
    status.classList.add("busy");
    status.textContent = `Counting tokens with ${model} in the background… (the report above is already complete)`;
    try {
      await lp.api(`/api/datasets/${form.dataset.id}/tokens`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model, max_length: Number(form.elements.max_length.value) || 2048 }),
      });
      location.replace(location.pathname);
    } catch (err) {
      history.replaceState(null, "", location.pathname); // a reload must not start it again
      status.classList.remove("busy");
      status.classList.add("error");
      status.textContent = `Counting tokens with ${model} failed: ${err.message}. Pick a model and count again.`;
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", autoCount);
})();
