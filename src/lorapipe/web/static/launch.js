// New-job page: the preset cards and the advanced fields make one configuration (a preset plus the
// fields changed from it); every change re-estimates after a pause (debounced, the older request
// aborted) and the estimate panel's parts are replaced in one step, so nothing blinks. Launch opens a
// dialog that states the estimated cost and needs a tick before POST /v1/fine_tuning/jobs.
// Everything from the server is written with textContent: nothing in an answer is parsed as HTML.
"use strict";

(() => {
  const DEBOUNCE_MS = 350;
  const SERVERLESS = ["serverless_flex", "serverless_active"];
  const POD = ["pod_community", "pod_secure"];

  function init() {
    const dataEl = document.getElementById("launch-data");
    const form = document.getElementById("new-job-form");
    if (!dataEl || !form) return;
    const { options, choice } = JSON.parse(dataEl.textContent);
    const $ = (id) => document.getElementById(id);
    const presets = Object.fromEntries(options.presets.map((p) => [p.id, p]));
    const datasets = Object.fromEntries(options.datasets.map((d) => [d.id, d]));
    const overrides = Object.assign({}, choice.overrides);
    const invalid = new Set();
    const panel = $("estimate-panel");
    let report = null;
    let estimateError = null;
    let timer = null;
    let controller = null;
    let generation = 0;

    const presetName = () => form.querySelector("input[name=preset]:checked").value;
    const presetConfig = () => presets[presetName()].config;
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const el = (tag, text, cls) => {
      const node = document.createElement(tag);
      if (text !== undefined && text !== null) node.textContent = text;
      if (cls) node.className = cls;
      return node;
    };
    const money = (v) => (v < 0.01 ? "<$0.01" : "$" + v.toFixed(2));
    const usdRange = (r) => (r ? `${money(r.low)}–${money(r.high)}` : "–");
    const duration = (hours) => {
      const s = Math.round(hours * 3600);
      if (s < 60) return `${s} s`;
      const m = Math.round(s / 60);
      return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
    };
    const timeRange = (r) => (r ? `${duration(r.low)}–${duration(r.high)}` : "–");

    // ---- the configuration: preset values, then the overrides ----
    function shown(f, v) {
      if (v === null || v === undefined) return "";
      if (f.kind === "modules") return Array.isArray(v) ? v.join(", ") : v;
      return String(v);
    }

    function parsed(f, input) {
      const raw = input.value.trim();
      if (f.kind === "boolean") return raw === "true";
      if (f.kind === "choice") return raw === "" ? null : raw;
      if (f.kind === "modules") {
        if (raw === "attention" || raw === "all-linear") return raw;
        const names = raw.split(",").map((s) => s.trim()).filter(Boolean);
        return names.length ? names : undefined;
      }
      if (raw === "") return f.optional ? null : undefined;
      const n = Number(raw);
      if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n))) return undefined;
      if (f.minimum !== null && (f.exclusive_minimum ? n <= f.minimum : n < f.minimum)) return undefined;
      if (f.maximum !== null && n > f.maximum) return undefined;
      return n;
    }

    function fillFields() {
      const base = presetConfig();
      for (const f of options.fields) {
        const input = $("cfg-" + f.name);
        input.value = shown(f, f.name in overrides ? overrides[f.name] : base[f.name]);
        const box = input.closest(".adv-field");
        box.classList.toggle("changed", f.name in overrides);
        box.classList.remove("invalid");
      }
      invalid.clear();
      showLabel();
    }

    function showLabel() {
      const names = Object.keys(overrides).sort();
      $("nj-config-label").textContent = names.length
        ? `${presetName()} + ${names.length} override${names.length === 1 ? "" : "s"} (custom: ${names.join(", ")})`
        : presetName();
      $("nj-reset").hidden = !names.length;
    }

    function onField(f, input) {
      const value = parsed(f, input);
      const box = input.closest(".adv-field");
      if (value === undefined) {
        invalid.add(f.name);
        box.classList.add("invalid");
        input.setAttribute("aria-invalid", "true");
        updateChecklist();
        return;
      }
      invalid.delete(f.name);
      box.classList.remove("invalid");
      input.removeAttribute("aria-invalid");
      if (same(value, presetConfig()[f.name])) delete overrides[f.name];
      else overrides[f.name] = value;
      box.classList.toggle("changed", f.name in overrides);
      showLabel();
      schedule();
    }

    for (const f of options.fields) {
      const input = $("cfg-" + f.name);
      input.addEventListener(input.tagName === "SELECT" ? "change" : "input", () => onField(f, input));
    }
    form.querySelectorAll("input[name=preset]").forEach((radio) => radio.addEventListener("change", () => {
      // A preset card starts over from that preset: overrides made for another preset would surprise.
      for (const k of Object.keys(overrides)) delete overrides[k];
      fillFields();
      schedule();
    }));
    $("nj-reset").addEventListener("click", () => {
      for (const k of Object.keys(overrides)) delete overrides[k];
      fillFields();
      schedule();
    });
    ["nj-dataset", "nj-model", "nj-backend"].forEach((id) => $(id).addEventListener("change", () => { showDataset(); schedule(); }));

    function showDataset() {
      const d = datasets[$("nj-dataset").value];
      const model = $("nj-model").value;
      let note = "";
      if (d && !d.tokens_counted) note = "Tokens not counted yet: the estimate approximates them from characters.";
      else if (d && d.tokenizer !== model) note = `Tokens counted with ${d.tokenizer}; ${model}'s tokenizer may count differently.`;
      else if (d) note = `Tokens counted with ${d.tokenizer}.`;
      $("nj-dataset-note").textContent = note;
    }

    // ---- the estimate ----
    function schedule() {
      clearTimeout(timer);
      $("est-state").textContent = "updating…";
      timer = setTimeout(estimate, DEBOUNCE_MS);
    }

    async function estimate() {
      if (invalid.size) {
        $("est-state").textContent = "fix the highlighted field";
        updateChecklist();
        return;
      }
      const body = { model: $("nj-model").value, preset: presetName(), config: overrides, approximate: true };
      if (options.budget_usd !== null) Object.assign(body, { budget_usd: options.budget_usd, spent_usd: options.spent_usd });
      if (controller) controller.abort();
      controller = new AbortController();
      const mine = ++generation;
      panel.setAttribute("aria-busy", "true");
      try {
        const response = await lp.api(`/api/datasets/${$("nj-dataset").value}/estimate`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal: controller.signal,
        });
        const answer = await response.json();
        if (mine !== generation) return;
        report = answer;
        estimateError = null;
        render(answer);
        $("est-state").textContent = "";
      } catch (err) {
        if (err.name === "AbortError" || mine !== generation) return;
        report = null;
        estimateError = err.message;
        $("est-summary").textContent = "No estimate: " + err.message;
        $("est-state").textContent = "";
      } finally {
        if (mine === generation) panel.setAttribute("aria-busy", "false");
        updateChecklist();
      }
    }

    function cheapest(options_, tiers) {
      const priced = options_.filter((o) => tiers.includes(o.tier) && o.usd);
      priced.sort((a, b) => (b.usable - a.usable) || (a.usd.mid - b.usd.mid));
      return priced[0] || null;
    }

    function render(r) {
      const rec = r.recommendation;
      const summary = rec ? `Recommended: ${rec.gpu}, ${rec.tier.replace(/_/g, " ")}. ${rec.reason}` : "No GPU in the catalogue fits this run.";
      const cfg = Object.assign({}, presetConfig(), overrides); // what the job will run with
      const epochs = `${r.tokens.epochs} epoch${r.tokens.epochs === 1 ? "" : "s"}`;
      const run = [
        ["Method", `${r.config.method} r=${r.config.rank}`],
        ["Training examples", Math.round(r.tokens.examples).toLocaleString()],
        ["Tokens per epoch", Math.round(r.tokens.tokens_per_epoch).toLocaleString()],
        ["Length", cfg.max_steps ? `${cfg.max_steps} steps (${epochs} of this data)` : epochs],
        ["Batch", `${cfg.batch_size} × ${cfg.gradient_accumulation_steps} accumulation`],
        ["LoRA parameters", r.lora_params.toLocaleString()],
      ].map(([k, v]) => { const d = el("div"); d.append(el("dt", k), el("dd", v)); return d; });
      const vram = Object.entries(r.vram_gib).map(([part, gib]) => {
        const tr = el("tr", null, part === "total" ? "total" : "");
        tr.dataset.part = part;
        tr.append(el("th", part), el("td", gib.toFixed(1), "num"));
        return tr;
      });
      const byGpu = new Map();
      for (const o of r.options) {
        if (!byGpu.has(o.gpu)) byGpu.set(o.gpu, []);
        byGpu.get(o.gpu).push(o);
      }
      const rows = [...byGpu.entries()].map(([gpu, opts]) => {
        const serverless = cheapest(opts, SERVERLESS);
        const pod = cheapest(opts, POD);
        const fastest = opts.filter((o) => o.hours).sort((a, b) => a.hours.mid - b.hours.mid)[0];
        return { gpu, name: opts[0].gpu_name, memory: opts[0].memory_gib, fits: opts[0].fits, serverless, pod, fastest };
      });
      rows.sort((a, b) => (b.fits - a.fits) || ((a.serverless ? a.serverless.usd.mid : 1e9) - (b.serverless ? b.serverless.usd.mid : 1e9)));
      const costRows = rows.map((row) => {
        const tr = el("tr", null, (row.fits ? "" : "muted ") + (rec && rec.gpu === row.gpu ? "recommended" : ""));
        tr.dataset.gpu = row.gpu;
        const name = el("td");
        name.append(el("span", row.gpu), el("span", ` ${Math.round(row.memory)} GiB`, "muted small"));
        tr.append(name, el("td", row.fits ? "yes" : "no"), el("td", row.fastest ? timeRange(row.fastest.hours) : "–", "num nowrap"),
          el("td", row.serverless ? usdRange(row.serverless.usd) : "–", "num nowrap"), el("td", row.pod ? usdRange(row.pod.usd) : "–", "num nowrap"));
        return tr;
      });
      const picked = rec ? r.options.find((o) => o.gpu === rec.gpu && o.tier === rec.tier) : null;
      const warnings = [...r.warnings, ...(picked ? picked.warnings : [])];
      if (r.budget && r.budget.level !== "ok") warnings.unshift(r.budget.message);
      // All parts at once, after everything is built: the old figures stay until the new ones replace them.
      $("est-summary").textContent = summary;
      $("est-run").replaceChildren(...run);
      $("est-vram").tBodies[0].replaceChildren(...vram);
      $("est-cost").tBodies[0].replaceChildren(...costRows);
      $("est-warnings").replaceChildren(...warnings.map((w) => el("li", w)));
      $("est-assumptions").replaceChildren(...r.assumptions.map((a) => el("li", a)));
    }

    // ---- checklist and launch ----
    function cost() {
      const backend = $("nj-backend").value;
      if (!report) return null;
      const rec = report.recommendation;
      if (backend === "local") {
        return { usd: 0, text: "Runs on this service's own hardware: no GPU rent is billed." };
      }
      const tiers = backend.includes("pod") ? POD : SERVERLESS;
      const gpu = rec ? rec.gpu : null;
      const option = cheapest(report.options.filter((o) => !gpu || o.gpu === gpu), tiers) || cheapest(report.options, tiers);
      if (!option) return null;
      return {
        usd: option.usd.high,
        text: `Estimated cost ${usdRange(option.usd)} (most likely ${money(option.usd.mid)}) on ${option.gpu_name}, ${option.tier.replace(/_/g, " ")}, taking ${timeRange(option.hours)}.`,
      };
    }

    function mark(name, state, text) {
      const li = document.querySelector(`#checklist [data-check=${name}]`);
      li.className = state;
      li.textContent = text;
    }

    function updateChecklist() {
      const d = datasets[$("nj-dataset").value];
      const local = $("nj-backend").value === "local";
      const checks = [];
      const dsOk = !!d;
      mark("dataset", dsOk ? "ok" : "bad", dsOk ? `Dataset ready: ${d.name}, ${d.examples} examples` : "Choose a ready dataset");
      checks.push(dsOk);
      let fits = false;
      if (invalid.size) mark("fits", "bad", `Fix ${[...invalid].join(", ")}: out of range`);
      else if (!report) mark("fits", estimateError ? "bad" : "pending", estimateError ? "No estimate: " + estimateError : "Estimating…");
      else if (local) { fits = true; mark("fits", "ok", `Fits: runs locally (needs ${report.vram_gib.total.toFixed(1)} GiB on a GPU, or the CPU)`); }
      else {
        fits = !!report.recommendation;
        mark("fits", fits ? "ok" : "bad", fits ? `Fits: ${report.fits.length} GPU type${report.fits.length === 1 ? "" : "s"}, ${report.vram_gib.total.toFixed(1)} GiB needed` : "Fits no GPU in the catalogue: lower max_length, batch_size or rank");
      }
      checks.push(fits);
      let budgetOk = true;
      if (options.budget_usd === null) mark("budget", "ok", "No monthly budget set");
      else if (report && report.budget && !local) {
        budgetOk = report.budget.allowed;
        mark("budget", report.budget.level === "ok" ? "ok" : budgetOk ? "warn" : "bad", report.budget.message);
      } else mark("budget", "ok", `Budget: $${options.spent_usd.toFixed(2)} of $${options.budget_usd.toFixed(2)} spent this month`);
      checks.push(budgetOk);
      $("launch-open").disabled = !checks.every(Boolean) || !cost();
    }

    const dialog = $("launch-dialog");
    const ack = $("launch-ack");
    let launchKey = "";
    $("launch-open").addEventListener("click", () => {
      const c = cost();
      if (!c) return;
      const names = Object.keys(overrides).sort();
      $("launch-summary").textContent = `${$("nj-model").value} on ${datasets[$("nj-dataset").value].name}, preset ${presetName()}${names.length ? " + " + names.join(", ") : ""}, backend ${$("nj-backend").value}.`;
      $("launch-cost").textContent = c.text;
      $("launch-ack-text").textContent = c.usd > 0 ? `I accept a cost of up to ${money(c.usd)} for this job.` : "I understand this runs on the service's own hardware.";
      ack.checked = false;
      // One key per confirmation: a double click or a retried request creates one job, not two.
      launchKey = "ui-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
      $("launch-confirm").disabled = true;
      $("launch-error").hidden = true;
      dialog.showModal();
    });
    ack.addEventListener("change", () => { $("launch-confirm").disabled = !ack.checked; });
    $("launch-confirm").addEventListener("click", async () => {
      if (!ack.checked) return;
      const button = $("launch-confirm");
      button.disabled = true;
      button.textContent = "Launching…";
      const body = {
        model: $("nj-model").value,
        training_file: $("nj-dataset").value,
        preset: presetName(),
        backend: $("nj-backend").value,
      };
      if (Object.keys(overrides).length) body.config = overrides;
      const suffix = $("nj-suffix").value.trim();
      if (suffix) body.suffix = suffix;
      if (choice.retry_of) body.metadata = { retry_of: choice.retry_of };
      try {
        const response = await lp.api("/v1/fine_tuning/jobs", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": launchKey },
          body: JSON.stringify(body),
        });
        const job = await response.json();
        location.href = "/ui/jobs/" + job.id;
      } catch (err) {
        $("launch-error").textContent = "Not launched: " + err.message;
        $("launch-error").hidden = false;
        button.textContent = "Launch the job";
        button.disabled = !ack.checked;
      }
    });

    fillFields();
    showDataset();
    updateChecklist();
    estimate();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
