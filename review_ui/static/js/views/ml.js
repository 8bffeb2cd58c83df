// ML view: registry versions with their metrics, PR curves, per-language / per-category tables
// drawn as charts, and the score distribution per source over time.
import { api, ApiError } from "../api.js";
import { h, clear, fmtDate, fmtNum, listOf, table } from "../dom.js";
import { t, has, locale } from "../i18n.js";
import { showError } from "../app.js";
import { categoryLabel, loadCategories } from "../categories.js";
import { lineChart, barChart, heatStrip } from "../charts.js";

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
const languageLabel = (code) => (has(`lang.${code}`) ? t(`lang.${code}`) : code);

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
  await loadCategories();
  let versions = [];
  try {
    versions = listOf(await api.models());
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) { main.append(h("p", { class: "muted" }, t("ml.no_registry"))); }
    else showError(err);
  }
  const detail = h("div", { class: "ml-detail" });
  const summaryKeys = ["roc_auc", "pr_auc", "recall_at_5fpr", "ece"];
  main.append(h("section", { class: "card" }, h("h2", null, t("ml.versions")),
    table([
      { label: t("ml.version"), render: (v) => h("button", { type: "button", class: "link", "data-testid": `model-${v.version}`, on: { click: () => show(v.version) } }, v.version) },
      { label: t("ml.created"), render: (v) => fmtDate(v.created_at, locale()) },
      { label: t("ml.status"), render: (v) => (v.is_current ? h("span", { class: "badge outcome" }, t("ml.current")) : "") },
      { label: t("ml.mode"), render: (v) => modeLabel(v.mode) },
      ...summaryKeys.map((k) => ({ label: t(`ml.metric.${k}`), render: (v) => fmtNum(metricsOf(v)[k], 3) })),
    ], versions, { empty: t("ml.no_versions") })), detail);

  async function show(version) {
    clear(detail);
    let v;
    try { v = await api.model(version); } catch (err) { showError(err); return; }
    const m = metricsOf(v);
    const curves = prSeries(v.pr_curves || m.pr_curves || {}).map((s) => ({ ...s, name: categoryLabel(s.name) }));
    const perCategory = breakdownRows(v.per_category || m.per_category).map((r) => ({ ...r, name: categoryLabel(r.name) }));
    const perLanguage = breakdownRows(v.per_language || m.per_language);
    const summary = headline(v, perLanguage);
    const languages = perLanguage.map((r) => ({ ...r, name: languageLabel(r.name) }));
    detail.append(h("section", { class: "card", "data-testid": "model-detail" },
      h("h2", null, t("ml.version"), " ", v.version),
      summary ? h("p", { class: "muted", "data-testid": "ml-headline" }, summary) : null,
      h("h3", null, t("ml.pr_curves")),
      curves.length ? lineChart(curves, { xLabel: t("ml.metric.recall"), yLabel: t("ml.metric.precision"), testid: "pr-chart", label: t("ml.pr_curves") })
        : v.pr_curves_png ? h("figure", { class: "chart-box" }, h("img", { src: v.pr_curves_png, alt: t("ml.pr_curves"), class: "pr-image" }),
          h("figcaption", { class: "muted" }, t("ml.pr_image_note"))) : h("p", { class: "muted" }, t("ml.no_curves")),
      h("div", { class: "cols" },
        h("div", null, h("h3", null, t("ml.per_category")), perCategory.length ? metricChart(perCategory, "per-category-chart") : null, metricTable(perCategory)),
        h("div", null, h("h3", null, t("ml.per_language")), languages.length ? metricChart(languages, "per-language-chart") : null, metricTable(languages)))));
  }

  const dist = h("section", { class: "card" }, h("h2", null, t("ml.score_distribution")));
  main.append(dist);
  try {
    const data = await api.scoreDistribution({ days: 30 });
    const rows = listOf(data).map((r) => ({ label: `${r.source_name ?? r.source_id ?? "—"} · ${r.day ?? r.date ?? ""}`, bins: r.histogram || r.bins || [] }));
    dist.append(rows.length ? heatStrip(rows, { binCount: (rows[0].bins || []).length || 10, testid: "score-distribution", label: t("ml.score_distribution") }) : h("p", { class: "muted" }, t("common.no_data")));
  } catch (err) {
    dist.append(h("p", { class: "muted" }, t("common.unavailable")));
    if (!(err instanceof ApiError) || err.status !== 404) showError(err);
  }
  if (versions.length) await show(versions[0].version);
}
