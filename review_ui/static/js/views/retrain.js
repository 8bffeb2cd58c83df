// The retraining loop in the ML view: train a candidate (a job whose stage, progress and ETA are
// polled), compare it with production (its gate report), promote it, or roll production back.
import { api, ApiError } from "../api.js";
import { h, append, clear, fmtNum, modal, table } from "../dom.js";
import { t, languageName } from "../i18n.js";
import { showError } from "../app.js";
import { lineChart } from "../charts.js";
import { categoryName, field, scrollBox } from "./staff.js";

const POLL_MS = 1500;
const ACTIVE = new Set(["queued", "running", "retrying"]);
// The job followed here survives a trip to another screen (this tab only).
const JOB_STORAGE = "saqshy.ml.retrainJob";
const OVERALL = "illegal";
// A change smaller than this shows as unchanged (the gate rounds ROC-AUC to 4 digits).
const EPSILON = 0.00005;

function outputName(categories, name) {
  return name === OVERALL ? t("ml.overall") : categoryName(categories, name);
}

function duration(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const m = Math.floor(total / 60);
  return m ? t("ml.eta_minutes", { m, s: total % 60 }) : t("ml.eta_seconds", { s: total });
}

function errorText(err) {
  return err instanceof ApiError ? `${err.status}: ${err.message}` : String((err && err.message) || err);
}

// --- Train a candidate -------------------------------------------------------------------------

export function trainPanel({ onTrained }) {
  let timer = null;
  let stopped = false;
  const mode = h("select", { "data-testid": "ml-train-mode" },
    ["fast", "full"].map((m) => h("option", { value: m }, t(`ml.train_mode_${m}`))));
  const since = h("input", { type: "date", "data-testid": "ml-train-since" });
  const start = h("button", { type: "submit", class: "primary", "data-testid": "ml-train-start" }, t("ml.train_start"));
  // The job's nodes are built once and updated in place: a poll never takes the focus off Cancel.
  const stageLine = h("p", { class: "ml-job-stage", "data-testid": "ml-job-stage", role: "status" });
  const progress = h("progress", { max: 100, value: 0, "data-testid": "ml-job-progress", "aria-label": t("ml.progress") });
  const percent = h("span", { class: "ml-pct", "data-testid": "ml-job-percent" });
  const eta = h("p", { class: "muted", "data-testid": "ml-job-eta" });
  const cancelling = h("p", { class: "muted" }, t("ml.job_cancelling"));
  const cancelButton = h("button", { type: "button", "data-testid": "ml-job-cancel", on: { click: () => cancel() } }, t("ml.job_cancel"));
  const cancelRow = h("div", { class: "actions" }, cancelButton);
  const outcome = h("div", { role: "alert" });
  const job = h("div", { class: "ml-job", "data-testid": "ml-job", tabindex: -1, hidden: true },
    stageLine, h("div", { class: "ml-progress-row" }, progress, percent), eta, cancelling, cancelRow, outcome);
  let followed = null;
  const form = h("form", { class: "ml-train-form", on: { submit: (e) => { e.preventDefault(); begin(); } } },
    field(t("ml.train_mode"), mode), field(t("ml.train_since"), since), h("div", { class: "ml-train-go" }, start));
  const element = h("section", { class: "card ml-panel", "data-testid": "ml-train" },
    h("h2", null, t("ml.train_title")), h("p", { class: "muted" }, t("ml.train_help")), form, job);

  async function begin() {
    start.disabled = true;
    try {
      const started = await api.startRetrain({ mode: mode.value, since: since.value ? `${since.value}T00:00:00Z` : null });
      render(started);
      follow(started.key);
    } catch (err) {
      start.disabled = false;
      showError(err);
    }
  }

  async function cancel() {
    cancelButton.disabled = true;
    try { render(await api.cancelRetrain(followed)); } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) showError(err);  // 409: it finished meanwhile
    }
  }

  async function follow(key) {
    clearTimeout(timer);
    if (stopped) return;
    sessionStorage.setItem(JOB_STORAGE, key);
    followed = key;
    let current;
    try {
      current = await api.retrainJob(key);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) { sessionStorage.removeItem(JOB_STORAGE); start.disabled = false; return; }
      showError(err);
      timer = setTimeout(() => follow(key), POLL_MS * 2);
      return;
    }
    if (stopped) return;
    render(current);
    if (ACTIVE.has(current.status)) { timer = setTimeout(() => follow(key), POLL_MS); return; }
    sessionStorage.removeItem(JOB_STORAGE);
    if (current.status === "succeeded" && current.result && current.result.version) onTrained(current.result.version);
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function render(state) {
    const active = ACTIVE.has(state.status);
    followed = state.key;
    start.disabled = active;
    job.hidden = false;
    const pct = Math.round(Math.min(1, Math.max(0, Number(state.fraction) || 0)) * 100);
    setText(stageLine, `${t(`ml.job_status_${state.status}`)}${state.stage ? ` · ${t(`ml.stage_${state.stage}`)}` : ""}`);
    progress.value = pct;
    setText(percent, `${pct}%`);
    eta.hidden = !active;
    setText(eta, Number(state.eta_seconds) >= 1 ? t("ml.eta", { time: duration(state.eta_seconds) }) : t("ml.eta_unknown"));
    cancelling.hidden = !(active && state.cancel_requested);
    cancelRow.hidden = !(active && !state.cancel_requested);
    cancelButton.disabled = false;
    // The focus stays in the panel when the Cancel button goes away.
    if (cancelRow.hidden && document.activeElement === cancelButton) (start.disabled ? job : start).focus();
    clear(outcome);
    const result = state.result || {};
    if (state.status === "succeeded") {
      outcome.append(h("p", { class: "ml-job-outcome", "data-testid": "ml-job-outcome" },
        t("ml.job_done", { version: result.version || "—" }), " ",
        result.gate_passed === false ? h("span", { class: "ml-fail" }, t("ml.job_gate_failed", { n: (result.gate_failures || []).length }))
          : h("span", { class: "ml-pass" }, t("ml.job_gate_passed"))));
    } else if (state.status === "failed") {
      outcome.append(h("p", { class: "ml-job-outcome ml-fail", "data-testid": "ml-job-outcome" },
        state.cancel_requested ? t("ml.job_cancelled") : t("ml.job_failed", { error: state.last_error || "—" })));
    }
  }

  const resumed = sessionStorage.getItem(JOB_STORAGE);
  if (resumed) follow(resumed);
  return { element, stop: () => { stopped = true; clearTimeout(timer); } };
}

// --- The gate report, candidate against production ---------------------------------------------

function delta(candidate, production, { lowerIsBetter = false, margin = null } = {}) {
  if (candidate == null || production == null) return h("span", { class: "muted" }, "—");
  const diff = Number(candidate) - Number(production);
  const better = lowerIsBetter ? diff < -EPSILON : diff > EPSILON;
  const worse = lowerIsBetter ? diff > EPSILON : diff < -EPSILON;
  const beyond = margin != null && (lowerIsBetter ? diff > margin + EPSILON : diff < -margin - EPSILON);
  const cls = beyond ? "ml-delta ml-bad" : worse ? "ml-delta ml-worse" : better ? "ml-delta ml-better" : "ml-delta";
  const sign = diff > EPSILON ? "+" : diff < -EPSILON ? "−" : "±";
  return h("span", { class: cls, title: t(beyond ? "ml.delta_beyond" : worse ? "ml.delta_worse" : better ? "ml.delta_better" : "ml.delta_same") },
    `${sign}${Math.abs(diff).toFixed(4)}`);
}

function checkName(categories, name) {
  const m = /^(language|category) (.+) ROC-AUC$/.exec(name);
  if (m) return t(`ml.check_${m[1]}`, { name: m[1] === "language" ? languageName(m[2]) : categoryName(categories, m[2]) });
  if (name === "overall ROC-AUC") return t("ml.check_overall");
  if (name === "overall Brier score") return t("ml.check_brier");
  return name;
}

function checkResult(check) {
  if (check.passed) return h("span", { class: "ml-pass" }, "✓ ", t("ml.check_passed"));
  const brier = check.name === "overall Brier score";
  const reason = check.candidate == null ? t("ml.reason_missing")
    : t(brier ? "ml.reason_above" : "ml.reason_below", { value: fmtNum(check.candidate, 4), limit: fmtNum(check.limit, 4) });
  return h("span", { class: "ml-fail" }, "✗ ", t("ml.check_failed"), ": ", reason);
}

// Why the gate refuses a candidate, one line per failed check, in the reader's language.
export function failureReasons(report, categories) {
  return (report.checks || []).filter((c) => !c.passed).map((c) => `${checkName(categories, c.name)}: ${
    c.candidate == null ? t("ml.reason_missing") : t(c.name === "overall Brier score" ? "ml.reason_above" : "ml.reason_below",
      { value: fmtNum(c.candidate, 4), limit: fmtNum(c.limit, 4) })}`);
}

function aucTable(rows, nameOf, margin, label, testid) {
  return scrollBox(table([
    { label: label, render: (r) => nameOf(r.name) },
    { label: t("ml.metric.n"), render: (r) => r.n ?? "—" },
    { label: t("ml.metric.positives"), render: (r) => r.positives ?? "—" },
    { label: t("ml.candidate_auc"), render: (r) => fmtNum(r.candidate, 4) },
    { label: t("ml.production_auc"), render: (r) => fmtNum(r.production, 4) },
    { label: t("ml.delta"), render: (r) => delta(r.candidate, r.production, { margin }) },
  ], rows, { cls: `ml-table ${testid}`, empty: t("common.no_data") }), label);
}

function prCurves(report, categories) {
  const curves = report.pr_curves || {};
  const names = Object.keys(curves).filter((n) => curves[n] && (curves[n].candidate || curves[n].production));
  if (!names.length) return h("p", { class: "muted" }, t("ml.no_curves"));
  const holder = h("div", { class: "ml-pr-chart" });
  const points = (c) => (c && Array.isArray(c.recall) ? c.recall.map((r, i) => [Number(r), Number(c.precision[i])]) : []);
  const draw = (name) => {
    append(clear(holder), [lineChart([
      { name: t("ml.candidate"), points: points(curves[name].candidate) },
      { name: t("ml.production"), points: points(curves[name].production) },
    ], { xLabel: t("ml.metric.recall"), yLabel: t("ml.metric.precision"), testid: "ml-gate-pr-chart" })]);
  };
  const pick = h("select", { "data-testid": "ml-pr-output", on: { change: (e) => draw(e.currentTarget.value) } },
    names.map((n) => h("option", { value: n }, outputName(categories, n))));
  draw(names[0]);
  return h("div", null, field(t("ml.pr_output"), pick), holder);
}

function flipsSection(flips, categories) {
  const now = flips.filter((f) => f.now_flagged).length;
  const head = h("p", { "data-testid": "ml-flips-count" }, t("ml.flips_count", { n: flips.length, up: now, down: flips.length - now }));
  if (!flips.length) return h("div", null, head);
  return h("div", null, head, h("details", { class: "ml-flips" }, h("summary", null, t("ml.flips_show")),
    scrollBox(table([
      { label: t("ml.flip_id"), key: "id" },
      { label: t("ml.language"), render: (f) => languageName(f.lang) },
      { label: t("ml.flip_labels"), render: (f) => ((f.labels || []).length ? f.labels.map((c) => categoryName(categories, c)).join(", ") : t("ml.flip_legal")) },
      { label: t("ml.candidate"), render: (f) => fmtNum(f.candidate, 3) },
      { label: t("ml.production"), render: (f) => fmtNum(f.production, 3) },
      { label: t("ml.flip_change"), render: (f) => t(f.now_flagged ? "ml.flip_now_flagged" : "ml.flip_now_cleared") },
    ], flips, { cls: "ml-table" }), t("ml.flips"))));
}

export function gateComparison(report, categories) {
  const box = h("div", { class: "ml-compare", "data-testid": "ml-compare" });
  const heldout = report.heldout || {};
  const margins = report.margins || {};
  box.append(h("p", { class: `ml-verdict ${report.passed ? "ml-pass" : "ml-fail"}`, "data-testid": "ml-verdict" },
    report.passed ? t("ml.gate_passed") : t("ml.gate_failed", { n: (report.failures || []).length })));
  if (!report.production) {
    box.append(h("p", { class: "muted" }, t("ml.gate_no_production")));
    return box;
  }
  box.append(h("p", { class: "muted" }, t("ml.gate_against", {
    production: report.production, n: heldout.examples ?? "—", dataset: heldout.dataset || "—",
  })));
  const overall = report.overall || {};
  const brier = overall.brier || {};
  box.append(h("h3", null, t("ml.overall_title")), scrollBox(table([
    { label: t("ml.metric_col"), key: "label" },
    { label: t("ml.candidate"), render: (r) => fmtNum(r.candidate, 4) },
    { label: t("ml.production"), render: (r) => fmtNum(r.production, 4) },
    { label: t("ml.delta"), render: (r) => delta(r.candidate, r.production, r.opts) },
  ], [
    { label: t("ml.metric.roc_auc"), candidate: overall.candidate, production: overall.production, opts: { margin: 0 } },
    { label: t("ml.calibration"), candidate: brier.candidate, production: brier.production, opts: { lowerIsBetter: true, margin: margins.brier } },
  ], { cls: "ml-table ml-overall" }), t("ml.overall_title")));
  box.append(h("h3", null, t("ml.checks")), scrollBox(table([
    { label: t("ml.check"), render: (c) => checkName(categories, c.name) },
    { label: t("ml.candidate"), render: (c) => fmtNum(c.candidate, 4) },
    { label: t("ml.production"), render: (c) => fmtNum(c.production, 4) },
    { label: t("ml.limit"), render: (c) => fmtNum(c.limit, 4) },
    { label: t("ml.result"), render: checkResult },
  ], report.checks || [], { cls: "ml-table ml-checks", rowAttrs: (c) => ({ class: c.passed ? null : "ml-row-fail" }) }), t("ml.checks")));
  const rows = (tableOf) => Object.entries(tableOf || {}).map(([name, r]) => ({ name, ...r }));
  box.append(h("div", { class: "ml-cols" },
    h("div", null, h("h3", null, t("ml.per_language")),
      aucTable(rows(report.per_language), languageName, margins.roc_auc, t("ml.language"), "ml-per-language")),
    h("div", null, h("h3", null, t("ml.per_category")),
      aucTable(rows(report.per_category), (n) => categoryName(categories, n), margins.roc_auc, t("ml.category"), "ml-per-category"))));
  box.append(h("h3", null, t("ml.pr_curves")), prCurves(report, categories));
  box.append(h("h3", null, t("ml.flips")), flipsSection(report.flips || [], categories));
  return box;
}

// --- Promotion and rollback --------------------------------------------------------------------

// A modal confirmation of a production change, with a reason (required for a forced promotion);
// the request runs from the dialog, which shows a refusal and stays open so the reader sees why.
export function confirmChange({ title, text, details = [], reasonRequired = false, confirmText, refusedText, danger = false, testid, run, onDone, onRefused }) {
  const reason = h("textarea", { rows: 3, maxlength: 2000, required: reasonRequired, "data-testid": `${testid}-reason` });
  const problem = h("p", { class: "ml-fail", role: "alert", "data-testid": `${testid}-error`, hidden: true });
  const detail = h("p", { class: "muted ml-detail-text", hidden: true });
  const busy = h("p", { class: "muted", role: "status", hidden: true }, t("ml.working"));
  const confirm = h("button", { type: "button", class: danger ? "danger" : "primary", disabled: reasonRequired, "data-testid": `${testid}-confirm` }, confirmText);
  const cancel = h("button", { type: "button", "data-testid": `${testid}-cancel` }, t("common.cancel"));
  let refused = false;
  const dialog = modal({ class: "dialog ml-dialog", "aria-label": title, "data-testid": testid }, [
    h("h2", null, title), h("p", null, text),
    details.length ? h("ul", { class: "ml-reasons" }, details.map((d) => h("li", null, d))) : null,
    field(reasonRequired ? t("ml.reason_required") : t("ml.reason_optional"), reason),
    problem, detail, busy, h("div", { class: "actions" }, cancel, confirm)], { onClose: () => { if (refused && onRefused) onRefused(); } });
  reason.addEventListener("input", () => { confirm.disabled = reasonRequired && !reason.value.trim(); });
  cancel.addEventListener("click", () => dialog.close());
  confirm.addEventListener("click", async () => {
    if (reasonRequired && !reason.value.trim()) return;
    confirm.disabled = true; cancel.disabled = true; busy.hidden = false; problem.hidden = true; detail.hidden = true;
    try {
      const result = await run(reason.value.trim() || null);
      dialog.close();
      onDone(result);
    } catch (err) {
      refused = err instanceof ApiError && err.status === 409;
      problem.textContent = refused ? refusedText : t("ml.change_failed", { detail: errorText(err) });
      problem.hidden = false;
      detail.textContent = refused ? err.message : "";  // the server's own words, for the record
      detail.hidden = !refused;
      cancel.disabled = false;
      confirm.disabled = reasonRequired && !reason.value.trim();
      cancel.focus();
    } finally {
      busy.hidden = true;
    }
  });
  return dialog;
}

export function changeSummary(change) {
  const lines = [change.action === "rollback"
    ? t("ml.rolled_back", { version: change.version, previous: change.previous || "—" })
    : t("ml.promoted", { version: change.version, previous: change.previous || "—" })];
  if (change.forced) lines.push(t("ml.promoted_forced", { n: (change.gate_failures || []).length }));
  if (change.rescore_job) lines.push(t("ml.rescore_started", { key: change.rescore_job }));
  return lines.join(" ");
}
