// lorapipe dashboard: the API key, authenticated fetches, and the page actions (rename,
// delete, cancel). Plain JS, no build step. The key lives in localStorage (for fetch) and in a
// SameSite=Strict cookie (so page loads know the user); writes only ever use the bearer header.
"use strict";

const lp = (() => {
  const KEY = "lorapipe_key";
  const key = () => localStorage.getItem(KEY) || "";
  // No header at all without a key: the service's loopback single-user mode accepts that.
  const authHeaders = () => (key() ? { Authorization: "Bearer " + key() } : {});

  function saveKey(value) {
    localStorage.setItem(KEY, value);
    document.cookie = `${KEY}=${encodeURIComponent(value)}; path=/; max-age=31536000; SameSite=Strict`;
  }

  function forgetKey() {
    localStorage.removeItem(KEY);
    document.cookie = `${KEY}=; path=/; max-age=0; SameSite=Strict`;
  }

  function toLogin() {
    location.href = "/ui/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return (body.error && body.error.message) || response.statusText;
    } catch (_) {
      return response.statusText;
    }
  }

  // fetch with the bearer key; throws Error(message from the API's error object) on a non-2xx answer.
  async function api(path, options = {}) {
    const headers = Object.assign(authHeaders(), options.headers || {});
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status === 401) { toLogin(); throw new Error("sign in again"); }
    if (!response.ok) throw new Error(await errorText(response));
    return response;
  }

  function flash(text, isError) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("error", !!isError);
    box.hidden = false;
  }

  return { key, authHeaders, saveKey, forgetKey, api, flash, toLogin };
})();

function initLogin() {
  const form = document.getElementById("login-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = form.elements.key.value.trim();
    const error = document.getElementById("login-error");
    const response = await fetch("/api/stats", { headers: { Authorization: "Bearer " + value } });
    if (!response.ok) {
      error.textContent = "That key was not accepted (unknown or revoked).";
      error.hidden = false;
      return;
    }
    lp.saveKey(value);
    location.href = form.dataset.next || "/ui/";
  });
}

// Token counting runs the tokenizer in a child process on the server: it can take a minute.
function initTokens() {
  const form = document.getElementById("tokens-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("tokens-status");
    const button = form.querySelector("button");
    const body = { model: form.elements.model.value, max_length: Number(form.elements.max_length.value) };
    button.disabled = true;
    status.classList.remove("error");
    status.textContent = "Counting with " + body.model + "… (the first count loads the tokenizer)";
    try {
      await lp.api(`/api/datasets/${form.dataset.id}/tokens`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      location.reload();
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
      button.disabled = false;
    }
  });
}

async function runAction(button) {
  const id = button.dataset.id;
  const action = button.dataset.action;
  const json = { "Content-Type": "application/json" };
  if (action === "logout") { lp.forgetKey(); location.href = "/ui/login"; return; }
  if (action === "rename-dataset" || action === "rename-adapter") {
    const name = prompt("New name", button.dataset.name || "");
    if (!name || name === button.dataset.name) return;
    const base = action === "rename-dataset" ? "/api/datasets/" : "/api/adapters/";
    await lp.api(base + id, { method: "PATCH", headers: json, body: JSON.stringify({ name }) });
    location.reload();
  } else if (action === "delete-dataset" || action === "delete-adapter") {
    // The adapter page asks in the page itself (its "Delete for good" button is the confirmation).
    if (action === "delete-dataset" && !confirm("Delete it? It disappears from lists; jobs keep their record.")) return;
    const dataset = action === "delete-dataset";
    await lp.api((dataset ? "/api/datasets/" : "/api/adapters/") + id, { method: "DELETE" });
    location.href = dataset ? "/ui/datasets" : "/ui/adapters";
  } else if (action === "evaluate-adapter") {
    button.disabled = true;
    try {
      const made = await (await lp.api(`/api/adapters/${id}/evaluations`, { method: "POST", headers: json, body: "{}" })).json();
      location.href = `/ui/jobs/${made.job_id}`;
    } catch (err) {
      button.disabled = false;
      throw err;
    }
  } else if (action === "cancel-job") {
    if (!confirm("Cancel this job? Its process is stopped.")) return;
    await lp.api(`/api/jobs/${id}/cancel`, { method: "POST" });
    button.hidden = true;
    lp.flash("Cancel requested.");
  } else if (accountActions[action]) {
    await accountActions[action](button);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  runAction(button).catch((err) => lp.flash(err.message, true));
});

document.addEventListener("DOMContentLoaded", () => {
  initShell();
  initAccountForms();
  initLogin();
  initTokens();
});
