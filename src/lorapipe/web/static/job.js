// Live job page: reads the job's server-sent event stream with fetch (EventSource cannot send the
// bearer header), resumes with Last-Event-ID after a dropped connection, and updates the stepper, the
// figures (no ETA once the job has ended), the current metrics with their trend, the event list (numbers
// rounded) and the loss chart (inline SVG). Cancel asks for a reason in a dialog.
"use strict";

(() => {
  const root = document.getElementById("job");
  if (!root) return;
  const jobId = root.dataset.jobId;
  const $ = (id) => document.getElementById(id);
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  // Engine stages and job statuses -> the stepper's steps.
  const STEP = {
    validating_files: "queued", queued: "queued", provisioning: "starting", downloading: "starting",
    loading_model: "starting", tokenizing: "tokenizing", training: "training", evaluating: "evaluating",
    saving: "saving", uploading: "saving", succeeded: "done",
  };
  const train = []; // [step, loss]
  const evals = []; // [step, eval_loss]
  const last = {}; // metric -> previous value, for the trend arrows
  let lastSeq = 0;
  let retryMs = 2000;
  let finished = false;
  let ended = root.dataset.terminal === "true";

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
  const bytes = (b) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(2)} GiB` : `${(b / (1 << 20)).toFixed(0)} MiB`);
  // Long decimals in event messages ("loss=2.345678912") read as four significant digits.
  const roundNumbers = (text) => text.replace(/-?\d+\.\d{5,}(e-?\d+)?/g, (n) => String(Number(Number(n).toPrecision(4))));

  function setText(id, value) { const el = $(id); if (el) el.textContent = value; }

  function setStep(name) {
    const stepper = $("stepper");
    if (!stepper || !name) return;
    stepper.dataset.current = name;
    let reached = true;
    for (const li of stepper.children) {
      const current = li.dataset.step === name;
      li.className = current ? "current" : reached ? "done" : "";
      if (current) { li.setAttribute("aria-current", "step"); reached = false; } else li.removeAttribute("aria-current");
    }
  }

  function trend(key, value, id, show) {
    const prev = last[key];
    last[key] = value;
    setText(id, show(value));
    const arrow = $("t-" + id.slice(2));
    if (arrow && typeof prev === "number") {
      arrow.textContent = value > prev * 1.001 ? "↑" : value < prev * 0.999 ? "↓" : "→";
      arrow.title = "was " + show(prev);
    }
  }

  function onMetrics(d) {
    if (typeof d.step === "number") {
      setText("p-step", fmt(d.step));
      $("job-progress").value = d.step;
    }
    if (d.total_steps) { setText("p-total", fmt(d.total_steps)); $("job-progress").max = d.total_steps; }
    if (typeof d.epoch === "number") setText("p-epoch", d.epoch.toFixed(2));
    if (typeof d.loss === "number") { setText("p-loss", fmt(d.loss)); train.push([d.step, d.loss]); }
    if (typeof d.eval_loss === "number") { setText("p-eval", fmt(d.eval_loss)); evals.push([d.step, d.eval_loss]); }
    // An ended job has no time left: a replayed ETA would be stale.
    if (!ended && d.eta_s !== undefined && d.eta_s !== null) setText("p-eta", duration(d.eta_s));
    if (d.elapsed_s !== undefined && d.elapsed_s !== null) setText("p-elapsed", duration(d.elapsed_s));
    if (typeof d.lr === "number") trend("lr", d.lr, "m-lr", (v) => v.toExponential(2));
    if (typeof d.tokens_per_s === "number") trend("tps", d.tokens_per_s, "m-tps", (v) => Math.round(v).toLocaleString());
    if (typeof d.grad_norm === "number") trend("grad", d.grad_norm, "m-grad", fmt);
    if (typeof d.peak_memory_bytes === "number") trend("mem", d.peak_memory_bytes, "m-mem", bytes);
    if (d.phase === "eval") setStep("evaluating");
    else if (typeof d.loss === "number") setStep("training");
  }

  function onStatus(status) {
    if (!status) return;
    const badge = document.querySelector("#job-status .badge");
    badge.className = "badge badge-" + status;
    badge.textContent = status.replace(/_/g, " ");
    root.dataset.status = status;
    if (TERMINAL.includes(status)) {
      ended = true;
      setText("p-eta", status);
      $("stepper").dataset.ended = status;
      if (status === "succeeded") setStep("done");
    } else if (STEP[status] && status !== "running") setStep(STEP[status]);
  }

  function addEvent(e) {
    const li = document.createElement("li");
    li.className = "level-" + e.level;
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = "#" + e.seq;
    let text = roundNumbers(e.message);
    // A failure is shown once, in the panel above: its log lines say where to look.
    const failurePanel = $("job-failure");
    if (failurePanel && e.level === "error") text = text.split(":")[0] + ": see the failure above";
    if (failurePanel && e.event === "status" && (e.data || {}).to === "failed") text = "failed: see the failure above";
    li.append(seq, text);
    const list = $("events");
    list.prepend(li);
    while (list.children.length > 300) list.lastChild.remove();
  }

  function drawChart() {
    const svg = $("loss-chart");
    const points = train.concat(evals);
    svg.dataset.points = String(train.length);
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
      onStatus(message.data.status);
      $("cancel-open").hidden = true;
      // Show the final record (adapter, error, cost) once, when the page was rendered while the job ran.
      if (root.dataset.terminal === "false") setTimeout(() => location.reload(), 800);
      return;
    }
    const e = message.data;
    lastSeq = e.seq;
    addEvent(e);
    const data = e.data || {};
    if (e.event === "metrics") onMetrics(data);
    if (e.event === "stage" && STEP[data.stage]) setStep(STEP[data.stage]);
    if (e.event === "status") {
      onStatus(data.to || data.status);
      if ($("job-reason")) setText("job-reason", e.message.replace(/^[a-z_]+: /, ""));
    }
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

  function initCancel() {
    const dialog = $("cancel-dialog");
    $("cancel-open").addEventListener("click", () => {
      $("cancel-error").hidden = true;
      dialog.showModal();
    });
    $("cancel-confirm").addEventListener("click", async () => {
      const reason = $("cancel-reason").value.trim();
      try {
        await lp.api(`/api/jobs/${jobId}/cancel`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(reason ? { reason } : {}),
        });
        dialog.close();
        $("cancel-open").hidden = true;
        lp.flash("Cancel requested" + (reason ? `: ${reason}` : "."));
      } catch (err) {
        $("cancel-error").textContent = err.message;
        $("cancel-error").hidden = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setStep($("stepper").dataset.current);
    if (ended) setText("p-eta", root.dataset.status);
    initCancel();
    run();
  });
})();
