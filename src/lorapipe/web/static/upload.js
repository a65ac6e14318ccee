// Dataset upload: drag-and-drop or pick a file, check its first records here (the first problem with its
// line), then send it with XMLHttpRequest (fetch reports no upload progress) to POST /api/datasets with
// the bearer key. On success the dataset page opens and counts tokens with the chosen model.
"use strict";

(() => {
  const PRECHECK_BYTES = 256 * 1024; // read at most this much of the file for the pre-check
  const PRECHECK_RECORDS = 50;

  // The same rules as lorapipe.datasets.readers.detect_record_format (keys of one record).
  function recordFormat(rec) {
    if (rec === null || typeof rec !== "object" || Array.isArray(rec)) return null;
    if ("_meta" in rec || ("current_user_input" in rec && "target_response" in rec)) return "brightrun-lora-v4-jsonl";
    if ("training_pairs" in rec) return "brightrun-lora-v4";
    if ("messages" in rec) return "openai-chat";
    if (Array.isArray(rec.conversations)) return "sharegpt";
    if ("instruction" in rec && "output" in rec) return "alpaca";
    if ("prompt" in rec && "completion" in rec) return "prompt-completion";
    return null;
  }

  function messagesProblem(rec) {
    if (!Array.isArray(rec.messages)) return "\"messages\" is not a list";
    for (const [i, m] of rec.messages.entries()) {
      if (!m || typeof m !== "object") return `messages[${i}] is not an object`;
      if (typeof m.role !== "string") return `messages[${i}] has no "role"`;
      if (typeof m.content !== "string" && !Array.isArray(m.content) && m.content !== null) return `messages[${i}] has no text "content"`;
    }
    return null;
  }

  // Check one parsed record against the file's format; a message, or null when it looks right.
  function recordProblem(rec, expected) {
    const fmt = recordFormat(rec);
    if (fmt === null) {
      const keys = rec && typeof rec === "object" ? Object.keys(rec).slice(0, 6).join(", ") : typeof rec;
      return `not a record of a known format (keys: ${keys || "none"}); expected "messages", "conversations", "instruction"/"output", "prompt"/"completion" or brightrun fields`;
    }
    if (expected && fmt !== expected && !(expected.startsWith("brightrun") && fmt.startsWith("brightrun"))) {
      return `looks like ${fmt}, but the first record was ${expected}: one file holds one format`;
    }
    if (fmt === "openai-chat") return messagesProblem(rec);
    return null;
  }

  // {ok, format, checked, problem: {line, message}} for the start of the file's text.
  function precheck(text, truncated, name) {
    const trimmed = text.replace(/^\uFEFF/, "").trimStart();
    if (!trimmed) return { ok: false, problem: { line: 1, message: "the file is empty" } };
    const jsonl = /\.jsonl$/i.test(name);
    if (!jsonl && trimmed.startsWith("[")) return precheckDocument(trimmed, truncated);
    if (!jsonl && !truncated && isDocument(trimmed)) return precheckDocument(trimmed, false);
    const lines = text.split("\n");
    if (truncated) lines.pop(); // the last line may be cut by the slice
    let expected = null, checked = 0;
    for (let i = 0; i < lines.length && checked < PRECHECK_RECORDS; i++) {
      const line = lines[i].trim();
      if (!line) continue;
      let rec;
      try { rec = JSON.parse(line); } catch (err) {
        // A pretty-printed JSON document too large to read here: the server checks it.
        if (!jsonl && checked === 0 && truncated) return { ok: true, format: null, checked: 0, note: "a large JSON document: the server checks it" };
        return { ok: false, problem: { line: i + 1, message: "not valid JSON: " + err.message } };
      }
      const problem = recordProblem(rec, expected);
      if (problem) return { ok: false, problem: { line: i + 1, message: problem } };
      if (!("_meta" in rec)) { expected = expected || recordFormat(rec); checked++; }
    }
    return { ok: true, format: expected, checked };
  }

  // One JSON value spanning the whole text that is not a single JSONL line (a pretty-printed document).
  function isDocument(text) {
    if (!text.trim().includes("\n")) return false;
    try { JSON.parse(text); return true; } catch (_) { return false; }
  }

  // A JSON document (an array of records, or a brightrun document): checked only when read whole.
  function precheckDocument(text, truncated) {
    if (truncated) return { ok: true, format: null, checked: 0, note: "a large JSON document: the server checks it" };
    let doc;
    try { doc = JSON.parse(text); } catch (err) {
      return { ok: false, problem: { line: lineOf(text, err.message), message: "not valid JSON: " + err.message } };
    }
    const records = Array.isArray(doc) ? doc : [doc];
    let expected = null;
    for (const [i, rec] of records.slice(0, PRECHECK_RECORDS).entries()) {
      const problem = recordProblem(rec, expected);
      if (problem) return { ok: false, problem: { line: null, record: i + 1, message: problem } };
      expected = expected || recordFormat(rec);
    }
    return { ok: true, format: expected, checked: Math.min(records.length, PRECHECK_RECORDS) };
  }

  // "... at position 123" (V8's message) -> the line of that character.
  function lineOf(text, message) {
    const m = /position (\d+)/.exec(message);
    return m ? text.slice(0, Number(m[1])).split("\n").length : null;
  }

  function init() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const input = document.getElementById("upload-file");
    const zone = document.getElementById("drop-zone");
    const shown = document.getElementById("drop-file");
    const box = document.getElementById("precheck");
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const button = form.querySelector("button[type=submit]");
    let file = null;
    let verdict = null;
    let checking = null; // the pre-check of the chosen file while it runs (a Promise)

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", !!isError);
    }

    function showVerdict(v) {
      box.hidden = false;
      box.className = "precheck " + (v.ok ? "ok" : "bad");
      box.replaceChildren();
      const head = document.createElement("strong");
      if (v.ok) {
        head.textContent = v.checked ? `First ${v.checked} record${v.checked === 1 ? "" : "s"} look right` : "Ready to send";
        box.append(head, v.format ? ` (${v.format}).` : ".", v.note ? " " + v.note + "." : "");
      } else {
        const where = v.problem.line ? `line ${v.problem.line}` : `record ${v.problem.record}`;
        head.textContent = `Problem at ${where}: `;
        box.append(head, v.problem.message + ". Fix it and choose the file again.");
        box.dataset.line = v.problem.line || "";
      }
    }

    function choose(picked) {
      file = picked;
      verdict = null;
      shown.textContent = `${file.name} · ${(file.size / 1024).toFixed(1)} KB`;
      if (!form.elements.name.value.trim()) form.elements.name.placeholder = file.name;
      say("");
      const mine = (async () => {
        const text = await picked.slice(0, PRECHECK_BYTES).text();
        const v = precheck(text, picked.size > PRECHECK_BYTES, picked.name);
        if (file !== picked) return; // another file was chosen meanwhile: its check decides
        verdict = v;
        showVerdict(v);
        button.disabled = !v.ok;
      })();
      checking = mine;
      return mine;
    }

    input.addEventListener("change", () => { if (input.files[0]) choose(input.files[0]); });
    ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    }));
    ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      const dropped = e.dataTransfer && e.dataTransfer.files[0];
      if (dropped) choose(dropped);
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!file) { say("Choose or drop a file first.", true); return; }
      // Sent before the pre-check of the file has finished (a quick click, a slow disk): wait for it
      // rather than drop the click.
      if (!verdict && checking) { say("Checking the file…"); await checking; }
      if (!verdict || !verdict.ok) { if (verdict) showVerdict(verdict); return; }
      const name = form.elements.name.value.trim() || file.name;
      const count = form.elements.count.value;
      const query = new URLSearchParams({ name, filename: file.name });
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/datasets?" + query.toString());
      if (lp.key()) xhr.setRequestHeader("Authorization", "Bearer " + lp.key());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
        say(e.loaded >= e.total ? "Validating on the server…" : `Uploading… ${bar.value} %`);
      };
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status === 401) { lp.toLogin(); return; }
        button.disabled = false;
        if (xhr.status >= 400) {
          bar.hidden = true;
          say("Upload refused: " + ((body.error && body.error.message) || xhr.statusText), true);
          return;
        }
        bar.value = 100;
        const next = "/ui/datasets/" + body.id + (count && body.status === "ready" ? "?count=" + encodeURIComponent(count) : "");
        location.href = next;
      };
      xhr.onerror = () => { button.disabled = false; say("Upload failed: the connection broke.", true); };
      say("Uploading…");
      xhr.send(file);
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
