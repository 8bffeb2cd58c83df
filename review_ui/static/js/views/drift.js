// Score drift in the ML view: the production model's daily score distributions per language and
// per source, each group's PSI against the model's held-out scores, and an alert past the threshold.
import { api } from "../api.js";
import { h, clear, fmtNum, table } from "../dom.js";
import { t, languageName } from "../i18n.js";
import { showError } from "../app.js";
import { dailyHeat } from "../charts.js";
import { scrollBox } from "./staff.js";

const WINDOWS = [7, 30, 90];

function groupName(group) {
  if (group.kind === "source") return group.key ? group.name : t("drift.no_source");
  return languageName(group.key);
}

function status(group, report) {
  if (group.psi === null || group.psi === undefined) return h("span", { class: "muted" }, "—");
  if (group.alert) return h("span", { class: "badge drift-alert", "data-testid": "drift-flag" }, t("drift.status.alert"));
  if (group.count < report.min_count) return h("span", { class: "muted" }, t("drift.status.few", { n: group.count, min: report.min_count }));
  return h("span", { class: "badge outcome" }, t("drift.status.ok"));
}

function groupTable(groups, report, kind) {
  const rows = groups.map((g) => ({ ...g, label: groupName(g) }));
  return scrollBox(table([
    { label: t(`drift.col.${kind}`), cls: "drift-name", render: (g) => g.label },
    { label: t("drift.col.psi"), cls: "num", render: (g) => h("span", { class: g.alert ? "drift-psi ml-fail" : "drift-psi" }, fmtNum(g.psi, 2)) },
    { label: t("drift.col.status"), render: (g) => status(g, report) },
    { label: t("drift.col.count"), cls: "num", render: (g) => String(g.count) },
    { label: t("drift.col.mean"), cls: "num", render: (g) => fmtNum(g.mean, 2) },
    { label: t("drift.col.daily"), render: (g) => dailyHeat(report.days, g.daily, { testid: `drift-chart-${kind}`, label: t("drift.chart", { name: g.label }) }) },
    { label: t("drift.col.reference"), render: (g) => (g.reference ? t(`drift.ref.${g.reference}`) : "—") },
  ], rows, {
    empty: t("drift.no_scores", { version: report.model_version || "—" }), cls: "ml-table drift-table",
    rowAttrs: (g) => ({ "data-testid": `drift-row-${kind}`, "data-key": g.key, class: g.alert ? "drift-row-alert" : null }),
  }), t(`drift.by_${kind}`));
}

function alertBox(report) {
  const flagged = [...report.languages, ...report.sources].filter((g) => g.alert);
  if (!flagged.length) return null;
  return h("div", { class: "drift-alert-box", role: "alert", "data-testid": "drift-alert" },
    h("p", null, h("strong", null, t("drift.alert_title")), " ", t("drift.alert", { threshold: fmtNum(report.threshold, 2) })),
    h("ul", null, flagged.map((g) => h("li", null, t(`drift.alert_${g.kind}`, { name: groupName(g), psi: fmtNum(g.psi, 2), n: g.count })))));
}

function referenceNote(report) {
  const version = report.model_version || "—";
  if (report.reference_status === "ready") {
    const key = report.reference_source === "heldout" ? "drift.reference_heldout" : "drift.reference_test_split";
    return h("p", { class: "muted", "data-testid": "drift-reference" }, t(key, { n: report.reference_count ?? "—" }));
  }
  const text = report.reference_status === "failed" ? t("drift.failed", { version, error: report.reference_error || "—" }) : t("drift.computing", { version });
  return h("p", { class: report.reference_status === "failed" ? "ml-fail" : "muted", role: "status", "data-testid": "drift-reference" }, text);
}

export function driftPanel() {
  const body = h("div", { "data-testid": "drift-body" });
  const windowSelect = h("select", { "data-testid": "drift-days", on: { change: () => load() } },
    WINDOWS.map((n) => h("option", { value: n, selected: n === 30 }, t("drift.days_option", { n }))));
  const windowField = h("label", { class: "drift-window" }, t("drift.days"), " ", windowSelect);
  const section = h("section", { class: "card ml-panel", "data-testid": "drift" },
    h("h2", null, t("drift.title")), windowField, body);

  async function load() {
    let report;
    try { report = await api.drift({ days: windowSelect.value }); } catch (err) {
      clear(body).append(h("p", { class: "muted" }, t("common.unavailable")));
      showError(err);
      return;
    }
    clear(body);
    if (report.reference_status === "no_model") {
      body.append(h("p", { class: "muted", "data-testid": "drift-status" }, t("drift.no_model")));
      return;
    }
    body.append(
      h("p", { class: "muted", "data-testid": "drift-status" }, t("drift.summary", { version: report.model_version, days: report.days.length, threshold: fmtNum(report.threshold, 2), min: report.min_count })),
      referenceNote(report),
      alertBox(report),
      h("h3", null, t("drift.by_language")), groupTable(report.languages, report, "language"),
      h("h3", null, t("drift.by_source")), groupTable(report.sources, report, "source"),
      h("p", { class: "muted drift-help" }, t("drift.chart_help")),
      h("p", { class: "muted drift-help" }, t("drift.psi_help")));
  }

  return { element: section, load };
}
