// Active learning in the ML view: decided labels per category and language (a near-duplicate
// cluster counted once, as training counts it) against their target, and how many more each needs.
// The queue's exploration share leans the same way (triage_api/services/label_coverage.py).
import { api, ApiError } from "../api.js";
import { h, listOf } from "../dom.js";
import { t, languageName } from "../i18n.js";
import { showError } from "../app.js";
import { categoryName, scrollBox } from "./staff.js";

const LEGAL = "legal";

function rowName(categories, category) {
  return category === LEGAL ? t("ml_labels.legal") : categoryName(categories, category);
}

// Cells carry their language's name (``data-lang``): a phone shows each category as a block of
// labelled cells. The explicit roles keep the table's semantics when CSS changes its display.
function cell(count, language) {
  if (!count) return h("td", { role: "cell", "data-lang": language }, "—");
  const need = !count.target ? t("ml_labels.no_target")
    : count.missing ? t("ml_labels.needs", { n: count.missing }) : t("ml_labels.reached");
  return h("td", { role: "cell", "data-lang": language, "data-testid": `ml-labels-${count.category}-${count.language}` },
    h("span", { class: "ml-labels-count" }, t("ml_labels.of_target", { n: count.labels, target: count.target })),
    h("span", { class: `ml-labels-need${count.target && !count.missing ? " ml-pass" : ""}` }, need));
}

// One row per category (then the negatives), one column per language: the first-seen orders of the API's rows.
function coverageTable(counts, categories) {
  const rows = [...new Set(counts.map((c) => c.category))];
  const languages = [...new Set(counts.map((c) => c.language))];
  const at = new Map(counts.map((c) => [`${c.category}\u0000${c.language}`, c]));
  return h("table", { class: "grid ml-labels", role: "table", "data-testid": "ml-labels-table" },
    h("thead", { role: "rowgroup" }, h("tr", { role: "row" },
      h("th", { scope: "col", role: "columnheader" }, t("ml_labels.category")),
      languages.map((code) => h("th", { scope: "col", role: "columnheader" }, languageName(code))))),
    h("tbody", { role: "rowgroup" }, rows.map((category) => h("tr", { role: "row" },
      h("th", { scope: "row", role: "rowheader" }, rowName(categories, category)),
      languages.map((code) => cell(at.get(`${category}\u0000${code}`), languageName(code)))))));
}

function summary(counts) {
  const targeted = counts.filter((c) => c.target > 0);
  const short = targeted.filter((c) => c.missing > 0);
  if (!short.length) return t("ml_labels.all_reached");
  const missing = short.reduce((sum, c) => sum + c.missing, 0);
  return t("ml_labels.summary", { n: missing, short: short.length, pairs: targeted.length });
}

// The section at once, its table when the counts arrive (the rest of the view does not wait for them).
export function labelCoverageSection(categories) {
  const section = h("section", { class: "card ml-panel", "data-testid": "ml-labels" },
    h("h2", null, t("ml_labels.title")), h("p", { class: "muted" }, t("ml_labels.help")));
  fill(section, categories);
  return section;
}

async function fill(section, categories) {
  try {
    const counts = listOf(await api.labelCoverage());
    section.append(h("p", { "data-testid": "ml-labels-summary" }, summary(counts)),
      scrollBox(coverageTable(counts, categories), t("ml_labels.title")));
  } catch (err) {
    section.append(h("p", { class: "muted" }, t("common.unavailable")));
    if (!(err instanceof ApiError) || err.status !== 404) showError(err);
  }
}
