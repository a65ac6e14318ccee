// lorapipe dashboard forms of the adapter and settings pages: rename an adapter, API keys (create,
// shown once; revoke), webhooks (add, test, delete, delivery log), the monthly budget. Every write
// is a fetch to /api with the bearer key (lp.api in app.js); nothing from an answer is parsed as HTML.
"use strict";

const JSON_HEADERS = { "Content-Type": "application/json" };

function showError(id, err) {
  const box = document.getElementById(id);
  if (!box) { lp.flash(err.message, true); return; }
  box.textContent = err.message;
  box.hidden = false;
}

function clearError(id) {
  const box = document.getElementById(id);
  if (box) box.hidden = true;
}

function cell(text, label, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (label) td.dataset.label = label;
  if (className) td.className = className;
  return td;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "–";
}

// The delivery log of one webhook, rebuilt from /api/webhooks/{id}/deliveries.
async function refreshDeliveries(id) {
  const page = await (await lp.api(`/api/webhooks/${encodeURIComponent(id)}/deliveries?limit=10`)).json();
  const body = document.getElementById("deliveries-" + id);
  if (!body) return;
  if (!page.data.length) return;
  const table = document.createElement("table");
  table.className = "deliveries stack-on-phone";
  const head = table.createTHead().insertRow();
  ["Event", "Status", "Tries", "Last answer", "When"].forEach((h) => {
    const th = document.createElement("th");
    th.textContent = h;
    if (h === "Tries") th.className = "num";
    head.append(th);
  });
  const tbody = table.createTBody();
  page.data.forEach((d) => {
    const tr = tbody.insertRow();
    const status = cell("", "Status");
    const badge = document.createElement("span");
    badge.className = "badge badge-delivery-" + d.status;
    badge.textContent = d.status;
    status.append(badge);
    const answer = [d.last_status_code ? "HTTP " + d.last_status_code : "", d.last_error || ""].join(" ").trim();
    tr.append(cell(d.event_type, "Event"), status, cell(String(d.attempts), "Tries", "num"),
      cell(answer || "–", "Last answer", "break"), cell(when(d.created_at), "When", "nowrap"));
  });
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.append(table);
  body.replaceChildren(wrap);
  body.closest("details").open = true;
}

// The key this browser signs in with, if the row's prefix is its start.
function isThisBrowsersKey(row) {
  return !!row && !!lp.key() && lp.key().startsWith(row.dataset.prefix);
}

Object.assign(accountActions, {
  "revoke-key": async (button) => {
    const row = button.closest("tr");
    const own = isThisBrowsersKey(row);
    const question = own ? "This browser signs in with this key: revoke it and sign out?" : "Revoke this key? Anything using it stops working.";
    if (!(await confirmInline(button, question, "Revoke"))) return;
    await lp.api(`/api/keys/${encodeURIComponent(button.dataset.id)}/revoke`, { method: "POST" });
    if (own) { lp.forgetKey(); location.href = "/ui/login"; return; }
    const state = row.querySelector("td[data-label=State]");
    const badge = document.createElement("span");
    badge.className = "badge badge-cancelled";
    badge.textContent = "revoked";
    state.replaceChildren(badge);
    button.remove();
    lp.flash("Key revoked.");
  },
  "test-webhook": async (button) => {
    button.disabled = true;
    try {
      await lp.api(`/api/webhooks/${encodeURIComponent(button.dataset.id)}/test`, { method: "POST" });
      await refreshDeliveries(button.dataset.id);
      lp.flash("Test event queued: it is sent within a few seconds; the log shows each try.");
    } finally {
      button.disabled = false;
    }
  },
  "delete-webhook": async (button) => {
    if (!(await confirmInline(button, "Delete this webhook? Nothing more is sent to it.", "Delete"))) return;
    await lp.api(`/api/webhooks/${encodeURIComponent(button.dataset.id)}`, { method: "DELETE" });
    button.closest("li").remove();
    lp.flash("Webhook deleted.");
  },
  "clear-budget": async () => {
    await lp.api("/api/budget", { method: "PUT", headers: JSON_HEADERS, body: JSON.stringify({ monthly_usd: null }) });
    location.reload();
  },
});

function onSubmit(id, handler, errorId) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError(errorId);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    handler(form).catch((err) => showError(errorId, err)).finally(() => { button.disabled = false; });
  });
}

function initAccountForms() {
  document.querySelectorAll("#keys-table tr[data-prefix]").forEach((row) => {
    if (isThisBrowsersKey(row)) row.querySelector(".this-browser").hidden = false;
  });

  onSubmit("rename-form", async (form) => {
    const name = form.elements.name.value.trim();
    if (name === form.dataset.name) { document.getElementById("rename-box").hidden = true; return; }
    await lp.api("/api/adapters/" + encodeURIComponent(form.dataset.id), {
      method: "PATCH", headers: JSON_HEADERS, body: JSON.stringify({ name }),
    });
    location.reload();
  }, "rename-error");

  onSubmit("key-form", async (form) => {
    const name = form.elements.name.value.trim();
    const created = await (await lp.api("/api/keys", {
      method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ name: name || null }),
    })).json();
    document.getElementById("key-secret").textContent = created.secret;
    document.getElementById("key-secret-box").hidden = false;
    form.reset();
  }, "key-error");

  onSubmit("webhook-form", async (form) => {
    const picked = Array.from(form.querySelectorAll("input[name=events]:checked")).map((i) => i.value);
    const events = picked.includes("*") || !picked.length ? ["*"] : picked;
    const created = await (await lp.api("/api/webhooks", {
      method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ url: form.elements.url.value.trim(), events }),
    })).json();
    document.getElementById("webhook-secret").textContent = created.secret;
    document.getElementById("webhook-secret-box").hidden = false;
    form.elements.url.value = "";
  }, "webhook-error");

  onSubmit("budget-form", async (form) => {
    const raw = form.elements.monthly_usd.value.trim();
    const monthly = raw === "" ? null : Number(raw);
    await lp.api("/api/budget", { method: "PUT", headers: JSON_HEADERS, body: JSON.stringify({ monthly_usd: monthly }) });
    location.reload();
  }, "budget-error");
}
