// ML view: registry versions with their metrics, PR curves, per-language / per-category tables
// drawn as charts, score drift per language and source (views/drift.js), the retraining loop
// (train a candidate, compare it with production, promote it or roll back; views/retrain.js), and the
// labels per category and language against their target (views/label_coverage.js).
import { api, ApiError } from "../api.js";
import { h, append, clear, fmtDate, fmtNum, listOf, table } from "../dom.js";
import { t, has, locale, languageName } from "../i18n.js";
import { showError } from "../app.js";
import { lineChart, barChart } from "../charts.js";
import { loadCategories, categoryName, scrollBox } from "./staff.js";
import { driftPanel } from "./drift.js";
import { trainPanel, gateComparison, failureReasons, confirmChange, changeSummary } from "./retrain.js";
import { labelCoverageSection } from "./label_coverage.js";

function metricsOf(v) {
  return v.metrics || {};
}

function breakdownRows(breakdown) {
  // {name: {precision, recall, f1, ...}} or [{name, ...}]
  if (Array.isArray(breakdown)) return breakdown.map((r) => ({ name: r.name ?? r.key ?? r.category ?? r.language, ...r }));
  if (breakdown && typeof breakdown === "object") return Object.entries(breakdown).map(([name, m]) => ({ name, ...(m || {}) }));
  return [];
}

function prSeries(curves) {
  // {category: {precision: [...], recall: [...]}} or [{category, precision, recall}] or {category: [[r, p], ...]}
  const out = [];
  const entries = Array.isArray(curves) ? curves.map((c) => [c.category ?? c.name, c]) : Object.entries(curves || {});
  for (const [name, c] of entries) {
    if (Array.isArray(c)) out.push({ name, points: c.map((p) => Array.isArray(p) ? [Number(p[0]), Number(p[1])] : [Number(p.recall), Number(p.precision)]) });
    else if (c && Array.isArray(c.precision) && Array.isArray(c.recall)) out.push({ name, points: c.recall.map((r, i) => [Number(r), Number(c.precision[i])]) });
  }
  return out;
}

const METRIC_KEYS = ["roc_auc", "pr_auc", "recall_at_5fpr", "ece", "precision", "recall", "f1", "n", "positives"];
const COUNT_KEYS = new Set(["n", "positives"]);
const CHART_KEYS = ["roc_auc", "pr_auc", "recall_at_5fpr", "precision", "recall", "f1"];

function metricTable(rows) {
  const keys = METRIC_KEYS.filter((k) => rows.some((r) => r[k] !== undefined));
  return table([{ label: "", key: "name" }, ...keys.map((k) => ({ label: t(`ml.metric.${k}`), render: (r) => (COUNT_KEYS.has(k) ? r[k] ?? "—" : fmtNum(r[k], 3)) }))], rows);
}

function metricChart(rows, testid) {
  const keys = CHART_KEYS.filter((k) => rows.some((r) => r[k] !== undefined && r[k] !== null));
  return barChart(rows.map((r) => ({ name: r.name, values: Object.fromEntries(keys.map((k) => [k, r[k]])) })), keys.map((k) => t(`ml.metric.${k}`)), { testid, keys });
}

const modeLabel = (mode) => (mode && has(`ml.mode.${mode}`) ? t(`ml.mode.${mode}`) : mode || "—");

// The training headline, rebuilt from the metrics in the interface language (the registry's is English).
function headline(v, perLanguage) {
  const m = metricsOf(v);
  if (m.roc_auc === undefined) return null;
  const kk = perLanguage.find((r) => r.name === "kk") || {};
  const text = t("ml.headline", { roc: fmtNum(m.roc_auc, 3), kk: fmtNum(kk.roc_auc, 3), pr: fmtNum(m.pr_auc, 3), recall: fmtNum(m.recall_at_5fpr, 3) });
  return v.test_examples ? `${text} · ${t("ml.test_examples", { n: v.test_examples })}` : text;
}

export async function mlView(main) {
  main.append(h("h1", null, t("ml.title")));
  const categories = await loadCategories();
  let versions = [];
  let selected = null;
  const list = h("div", { class: "ml-list" });
  const result = h("div", { class: "ml-result", role: "status", "data-testid": "ml-result" });
  const rollback = h("button", { type: "button", "data-testid": "ml-rollback", on: { click: askRollback } }, t("ml.rollback"));
  const detail = h("div", { class: "ml-detail" });
  const training = trainPanel({ onTrained: async (version) => { await refresh(); await show(version, { compare: true }); } });
  const summaryKeys = ["roc_auc", "pr_auc", "recall_at_5fpr", "ece"];
  main.append(training.element,
    h("section", { class: "card ml-panel" }, h("h2", null, t("ml.versions")), list,
      h("div", { class: "actions" }, rollback), result), detail);

  async function refresh() {
    try {
      versions = listOf(await api.models());
    } catch (err) {
      versions = [];
      if (err instanceof ApiError && err.status === 404) { clear(list).append(h("p", { class: "muted" }, t("ml.no_registry"))); return; }
      showError(err);
    }
    rollback.disabled = !versions.some((v) => v.is_current);
    clear(list).append(scrollBox(table([
      { label: t("ml.version"), render: (v) => h("button", { type: "button", class: "link", "data-testid": `model-${v.version}`, on: { click: () => show(v.version) } }, v.version) },
      { label: t("ml.created"), render: (v) => fmtDate(v.created_at, locale()) },
      { label: t("ml.status"), render: (v) => (v.is_current ? h("span", { class: "badge outcome" }, t("ml.current")) : "") },
      { label: t("ml.mode"), render: (v) => modeLabel(v.mode) },
      ...summaryKeys.map((k) => ({ label: t(`ml.metric.${k}`), render: (v) => fmtNum(metricsOf(v)[k], 3) })),
    ], versions, { empty: t("ml.no_versions") }), t("ml.versions")));
  }

  function production() {
    const current = versions.find((v) => v.is_current);
    return current ? current.version : null;
  }

  function announce(change) {
    append(clear(result), [h("p", { class: "ml-pass", "data-testid": "ml-result-text" }, changeSummary(change))]);
  }

  async function changed(change) {
    announce(change);
    await refresh();
    await show(selected && versions.some((v) => v.version === selected) ? selected : change.version);
  }

  function askRollback() {
    confirmChange({
      title: t("ml.rollback_title"), text: t("ml.rollback_text", { version: production() || "—" }),
      confirmText: t("ml.rollback_confirm"), refusedText: t("ml.refused_rollback"), danger: true, testid: "ml-rollback-dialog",
      run: (reason) => api.rollbackModel({ reason }), onDone: changed,
    });
  }

  // Promote, Compare and (when the gate refuses) Force, for a version that is not production.
  async function candidateActions(v, section) {
    let report = null;
    try { report = await api.gateReport(v.version); } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) showError(err);
    }
    // A report against an older production is stale: the promotion runs the gate again.
    const stale = report && report.production !== production();
    const refused = report && !stale && !report.passed;
    const reasons = refused ? failureReasons(report, categories) : [];
    const comparison = h("div", { id: `ml-compare-${section.dataset.n}`, hidden: true });
    const compare = h("button", {
      type: "button", "data-testid": "ml-compare-toggle", "aria-expanded": "false", "aria-controls": comparison.id,
      disabled: !report, on: { click: () => toggle() },
    }, t("ml.compare"));
    const why = h("div", { id: `ml-why-${section.dataset.n}`, class: "ml-why", "data-testid": "ml-promote-blocked" },
      !report ? h("p", { class: "muted" }, t("ml.no_gate_report")) : null,
      stale ? h("p", { class: "muted" }, t("ml.gate_stale", { production: report.production || "—" })) : null,
      refused ? [h("p", { class: "ml-fail" }, t("ml.promote_blocked")), h("ul", { class: "ml-reasons" }, reasons.map((r) => h("li", null, r)))] : null);
    const promote = h("button", {
      type: "button", class: "primary", "data-testid": "ml-promote", disabled: Boolean(refused),
      "aria-describedby": why.id, on: { click: () => askPromote(false) },
    }, t("ml.promote"));
    const force = refused ? h("button", { type: "button", class: "danger", "data-testid": "ml-force", on: { click: () => askPromote(true) } }, t("ml.force")) : null;

    function toggle(open = comparison.hidden) {
      if (open && !comparison.childElementCount) comparison.append(gateComparison(report, categories));
      comparison.hidden = !open;
      compare.setAttribute("aria-expanded", String(open));
      compare.textContent = t(open ? "ml.compare_hide" : "ml.compare");
    }

    function askPromote(forced) {
      confirmChange({
        title: t(forced ? "ml.force_title" : "ml.promote_title", { version: v.version }),
        text: t(forced ? "ml.force_text" : "ml.promote_text", { version: v.version, production: production() || "—" }),
        details: reasons, reasonRequired: forced, danger: forced, testid: forced ? "ml-force-dialog" : "ml-promote-dialog",
        confirmText: t(forced ? "ml.force_confirm" : "ml.promote_confirm"), refusedText: t("ml.refused_gate"),
        run: (reason) => api.promoteModel(v.version, { force: forced, reason }),
        onDone: changed,
        // The gate refused it and saved its report: show the version again with the reasons.
        onRefused: () => show(v.version, { compare: true }),
      });
    }

    section.append(h("div", { class: "actions ml-actions" }, compare, promote, force), why, comparison);
    return { open: () => report && toggle(true) };
  }

  let shown = 0;
  async function show(version, { compare = false } = {}) {
    selected = version;
    const n = ++shown;
    clear(detail);
    let v;
    try { v = await api.model(version); } catch (err) { showError(err); return; }
    if (n !== shown) return;  // a later show() (a click during the first one) draws the detail
    const m = metricsOf(v);
    const curves = prSeries(v.pr_curves || m.pr_curves || {}).map((s) => ({ ...s, name: categoryName(categories, s.name) }));
    const perCategory = breakdownRows(v.per_category || m.per_category).map((r) => ({ ...r, name: categoryName(categories, r.name) }));
    const byLanguage = breakdownRows(v.per_language || m.per_language);
    const perLanguage = byLanguage.map((r) => ({ ...r, name: languageName(r.name) }));
    const summary = headline(v, byLanguage);
    const section = h("section", { class: "card ml-panel", "data-testid": "model-detail", "data-n": n },
      h("h2", null, t("ml.version"), " ", v.version, v.is_current ? h("span", { class: "badge outcome ml-badge" }, t("ml.current")) : null),
      summary ? h("p", { class: "muted", "data-testid": "ml-headline" }, summary) : null);
    detail.append(section);
    const actions = v.is_current ? null : await candidateActions(v, section);
    if (n !== shown) return;
    section.append(
      h("h3", null, t("ml.pr_curves")),
      curves.length ? lineChart(curves, { xLabel: t("ml.metric.recall"), yLabel: t("ml.metric.precision"), testid: "pr-chart", label: t("ml.pr_curves") })
        : v.pr_curves_png ? h("figure", { class: "chart-box" }, h("img", { src: v.pr_curves_png, alt: t("ml.pr_curves"), class: "pr-image" }),
          h("figcaption", { class: "muted" }, t("ml.pr_image_note"))) : h("p", { class: "muted" }, t("ml.no_curves")),
      h("div", { class: "ml-cols" },
        h("div", null, h("h3", null, t("ml.per_category")), perCategory.length ? metricChart(perCategory, "per-category-chart") : null, scrollBox(metricTable(perCategory), t("ml.per_category"))),
        h("div", null, h("h3", null, t("ml.per_language")), perLanguage.length ? metricChart(perLanguage, "per-language-chart") : null, scrollBox(metricTable(perLanguage), t("ml.per_language")))));
    if (compare && actions) actions.open();
  }

  await refresh();
  const drift = driftPanel();
  detail.before(drift.element);
  const driftLoaded = drift.load();
  main.append(labelCoverageSection(categories));
  if (versions.length) await show(versions[0].version);
  await driftLoaded;
  return () => training.stop();
}
