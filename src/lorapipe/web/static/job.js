// Live job page: reads the job's server-sent event stream with fetch (EventSource cannot send the
// bearer header), resumes with Last-Event-ID after a dropped connection, and updates the figures,
// the event list and the loss chart (inline SVG).
"use strict";

(() => {
  const root = document.getElementById("job");
  if (!root) return;
  const jobId = root.dataset.jobId;
  const $ = (id) => document.getElementById(id);
  const train = []; // [step, loss]
  const evals = []; // [step, eval_loss]
  let lastSeq = 0;
  let retryMs = 2000;
  let finished = false;

  // Four significant digits, like the server-rendered figures ("1.25", not "1.250").
  const fmt = (v) => {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number" && !Number.isInteger(v)) return String(Number(v.toPrecision(4)));
    return v.toLocaleString();
  };
  const duration = (s) => {
    if (s === null || s === undefined) return "–";
    s = Math.round(s);
    const pad = (n) => String(n).padStart(2, "0");
    return s >= 3600 ? `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m` : `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  };

  function setText(id, value) { const el = $(id); if (el) el.textContent = value; }

  function onMetrics(d) {
    if (typeof d.step === "number") {
      setText("p-step", fmt(d.step));
      $("job-progress").value = d.step;
    }
    if (d.total_steps) { setText("p-total", fmt(d.total_steps)); $("job-progress").max = d.total_steps; }
    if (d.epoch !== undefined && d.epoch !== null) setText("p-epoch", fmt(d.epoch));
    if (typeof d.loss === "number") { setText("p-loss", fmt(d.loss)); train.push([d.step, d.loss]); }
    if (typeof d.eval_loss === "number") { setText("p-eval", fmt(d.eval_loss)); evals.push([d.step, d.eval_loss]); }
    if (d.eta_s !== undefined && d.eta_s !== null) setText("p-eta", duration(d.eta_s));
    if (d.elapsed_s !== undefined && d.elapsed_s !== null) setText("p-elapsed", duration(d.elapsed_s));
  }

  function onStatus(d) {
    const status = d.to || d.status;
    if (!status) return;
    const badge = document.querySelector("#job-status .badge");
    badge.className = "badge badge-" + status;
    badge.textContent = status.replace(/_/g, " ");
  }

  function addEvent(e) {
    const li = document.createElement("li");
    li.className = "level-" + e.level;
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = "#" + e.seq;
    li.append(seq, e.message);
    const list = $("events");
    list.prepend(li);
    while (list.children.length > 300) list.lastChild.remove();
  }

  function drawChart() {
    const svg = $("loss-chart");
    const points = train.concat(evals);
    if (!points.length) return;
    const W = 640, H = 220, L = 48, R = 12, T = 10, B = 26;
    const steps = points.map((p) => p[0]), values = points.map((p) => p[1]);
    const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
    let y0 = Math.min(...values), y1 = Math.max(...values);
    if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
    const x = (s) => L + ((s - x0) / (x1 - x0)) * (W - L - R);
    const y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
    const path = (pts) => pts.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4;
      parts.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/>`,
        `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(3)}</text>`);
    }
    parts.push(`<text x="${L}" y="${H - 6}">step ${x0}</text>`, `<text x="${W - R}" y="${H - 6}" text-anchor="end">step ${x1}</text>`);
    if (train.length) parts.push(`<path class="train" d="${path(train)}"/>`);
    if (evals.length) {
      parts.push(`<path class="eval" d="${path(evals)}"/>`);
      evals.forEach((p) => parts.push(`<circle class="eval-point" r="3" cx="${x(p[0])}" cy="${y(p[1])}"/>`));
    }
    svg.innerHTML = parts.join("");
  }

  function handle(message) {
    if (message.event === "end") {
      finished = true;
      setText("stream-state", `The job ended: ${message.data.status}.`);
      onStatus({ status: message.data.status });
      document.querySelectorAll("[data-action=cancel-job]").forEach((b) => { b.hidden = true; });
      // Show the final record (adapter, error) once, when the page was rendered while the job ran.
      if (root.dataset.terminal === "false") setTimeout(() => location.reload(), 800);
      return;
    }
    const e = message.data;
    lastSeq = e.seq;
    addEvent(e);
    if (e.event === "metrics") onMetrics(e.data || {});
    if (e.event === "status") { onStatus(e.data || {}); setText("job-reason", e.message.replace(/^[a-z_]+: /, "")); }
  }

  // Parse "field: value" blocks separated by a blank line (the text/event-stream format).
  function parseBlock(block) {
    const msg = { event: "message", data: "" };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "data") msg.data += (msg.data ? "\n" : "") + value;
      else if (field === "event") msg.event = value;
      else if (field === "id") msg.id = value;
      else if (field === "retry") retryMs = parseInt(value, 10) || retryMs;
    }
    if (!msg.data) return null;
    msg.data = JSON.parse(msg.data);
    return msg;
  }

  async function connect() {
    const headers = Object.assign(lp.authHeaders(), { Accept: "text/event-stream" });
    if (lastSeq) headers["Last-Event-ID"] = String(lastSeq);
    const response = await fetch(`/api/jobs/${jobId}/stream`, { headers });
    if (response.status === 401) return lp.toLogin();
    if (!response.ok) throw new Error("stream answered " + response.status);
    setText("stream-state", "Live: updates arrive as the job reports them.");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      let changed = false;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const msg = parseBlock(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (msg) { handle(msg); changed = true; }
      }
      if (changed) drawChart();
    }
  }

  async function run() {
    while (!finished) {
      try {
        await connect();
      } catch (err) {
        setText("stream-state", `Reconnecting (${err.message})…`);
      }
      if (!finished) await new Promise((r) => setTimeout(r, retryMs));
    }
  }

  document.addEventListener("DOMContentLoaded", run);
})();
