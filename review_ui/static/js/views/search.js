// Search for moderators and police: full text with filters, the server's highlighted snippets,
// and each hit's item with its review task or police case.
import { api, ApiError } from "../api.js";
import { h, clear, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale, languageName } from "../i18n.js";
import { errorMessage, showError, state } from "../app.js";
import { categoryName, categoryOptions, field, highlight, isoFromInput, loadCategories, pager, scrollBox } from "./staff.js";

const TASK_STATUSES = ["open", "needs_moderator", "decided", "cancelled"];
const LANGUAGES = ["ru", "kk", "en"];
const PAGE = 20;
const MODERATORS = ["moderator", "admin"];

function scoreInput(id) {
  return h("input", { id, type: "number", min: 0, max: 100, step: 1, class: "narrow", placeholder: "%" });
}

export async function searchView(main) {
  const cats = await loadCategories();
  const role = state.user && state.user.role;
  main.append(h("h1", null, t("search.title")));

  const q = h("input", { id: "search-q", type: "search", name: "q", maxlength: 1000, placeholder: t("search.placeholder"), "data-testid": "search-q" });
  const category = h("select", { id: "search-category", "data-testid": "search-category" }, categoryOptions(cats, t("common.all")));
  const language = h("select", { id: "search-language" }, h("option", { value: "" }, t("common.all")),
    LANGUAGES.map((code) => h("option", { value: code }, languageName(code))));
  const source = h("select", { id: "search-source" }, h("option", { value: "" }, t("common.all")));
  const status = h("select", { id: "search-status", "data-testid": "search-status" }, h("option", { value: "" }, t("common.all")),
    TASK_STATUSES.map((s) => h("option", { value: s }, t(`search.status.${s}`))));
  const decision = h("select", { id: "search-decision", "data-testid": "search-decision" }, h("option", { value: "" }, t("common.all")),
    ["illegal", "legal"].map((v) => h("option", { value: v }, t(`vote.${v}`))));
  const from = h("input", { id: "search-from", type: "date" });
  const to = h("input", { id: "search-to", type: "date" });
  const minScore = scoreInput("search-min");
  const maxScore = scoreInput("search-max");
  const sourceField = field(t("search.source"), source);
  const form = h("form", { class: "card staff-filters", role: "search", "data-testid": "search-form" },
    h("div", { class: "field wide" }, h("label", { for: "search-q" }, t("search.words")), q),
    field(t("case.category"), category), field(t("search.language"), language), sourceField,
    field(t("search.review_status"), status), field(t("search.decision"), decision), field(t("search.from"), from), field(t("search.to"), to),
    field(t("search.min_score"), minScore), field(t("search.max_score"), maxScore),
    h("div", { class: "field submit" }, h("button", { type: "submit", class: "primary", "data-testid": "search-submit" }, t("common.search"))));
  // Only the one-line count is announced when a search ends, not the whole list.
  const count = h("h2", { role: "status", "data-testid": "search-count" });
  const results = h("div");
  main.append(form, h("section", { class: "card", "data-testid": "search-results" }, count, results));

  // Police do not list sources (GET /sources is for moderators): their form goes without the filter.
  try {
    for (const s of listOf(await api.sources({ limit: 200 }))) source.append(h("option", { value: s.id }, s.name));
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) sourceField.hidden = true; else showError(err);
  }

  const percent = (input) => (input.value === "" ? null : Math.min(100, Math.max(0, Number(input.value))) / 100);

  async function run(offset = 0) {
    const query = {
      q: q.value.trim() || null, category: category.value || null, language: language.value || null,
      source_id: source.value || null, status: status.value || null, decision: decision.value || null,
      min_score: percent(minScore), max_score: percent(maxScore),
      fetched_from: isoFromInput(from.value), fetched_to: isoFromInput(to.value, true), offset, limit: PAGE,
    };
    count.textContent = t("search.searching");
    clear(results);
    let page;
    try {
      page = await api.search(query);
    } catch (err) {
      count.textContent = t("search.failed");
      results.append(h("p", { class: "error", role: "alert", "data-testid": "search-error" }, `${t("error.prefix")}: ${errorMessage(err)}`));
      return;
    }
    const hits = listOf(page);
    count.textContent = t("search.results", { n: page.total ?? hits.length });
    if (!hits.length) {
      results.append(h("p", { class: "muted empty", "data-testid": "search-empty" }, t("search.none")));
      return;
    }
    results.append(h("ol", { class: "hits" }, hits.map((hit) => renderHit(hit, cats, role))));
    results.append(pager({ offset, limit: PAGE }, page.total ?? hits.length, run, {
      prev: t("search.prev"), next: t("search.next"), range: (a, b, n) => t("search.range", { a, b, n }),
    }));
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); run(0); });
  q.focus();
  await run(0);
}

function renderHit(hit, cats, role) {
  const fragments = Object.values(hit.highlights || {}).flat();
  // <details>: opened and closed by keyboard and announced as expanded without any script.
  const body = h("div", { class: "hit-detail" });
  const detail = h("details", { "data-testid": "hit-details" }, h("summary", { "data-testid": "hit-open" }, t("search.open")), body);
  detail.addEventListener("toggle", () => {
    if (detail.open && !body.childElementCount) renderDetail(body, hit, cats, role);
  });
  const category = hit.decided_category || hit.top_category;
  return h("li", { class: "hit", "data-testid": "hit", "data-id": hit.item_id },
    h("div", { class: "hit-title" }, hit.title || t("search.untitled")),
    h("div", { class: "meta" },
      h("span", { class: "badge category" }, categoryName(cats, category)),
      h("span", { class: "badge score" }, fmtPct(hit.score)),
      hit.task_status ? h("span", { class: "badge" }, t(`search.status.${hit.task_status}`)) : null,
      hit.decision ? h("span", { class: `badge decision-${hit.decision}` }, t(`vote.${hit.decision}`)) : null,
      hit.inherited_decision ? h("span", { class: `badge decision-${hit.inherited_decision}`, "data-testid": "hit-inherited" },
        t("repost.inherited", { decision: t(`vote.${hit.inherited_decision}`), id: hit.inherited_from_task_id })) : null,
      hit.case_id ? h("span", { class: `badge status-${hit.case_status}` }, `${t("search.case")} #${hit.case_id}`) : null,
      h("span", null, hit.source_name || "—"), h("span", null, (hit.language || "").toUpperCase()),
      h("span", null, fmtDate(hit.fetched_at, locale()))),
    fragments.length
      ? fragments.slice(0, 3).map((f) => h("p", { class: "snippet", "data-testid": "snippet" }, highlight(f)))
      : null,
    h("code", { class: "url" }, hit.url),
    detail,
    h("div", { class: "actions" },
      hit.case_id ? h("a", { class: "button", href: `#/cases/${hit.case_id}`, "data-testid": "hit-case" }, t("search.open_case")) : null,
      MODERATORS.includes(role) && !hit.case_id ? h("a", { class: "button", href: `#/gold/${hit.item_id}`, "data-testid": "hit-gold" }, t("search.make_gold")) : null));
}

async function renderDetail(box, hit, cats, role) {
  box.append(h("dl", { class: "facts" },
    h("dt", null, t("search.item")), h("dd", null, `#${hit.item_id}`),
    h("dt", null, t("search.source")), h("dd", null, hit.source_name || "—"),
    h("dt", null, t("search.published")), h("dd", null, fmtDate(hit.published_at, locale())),
    h("dt", null, t("search.model")), h("dd", null, hit.model_version || "—"),
    h("dt", null, t("search.task")), h("dd", null, hit.task_id ? `#${hit.task_id} · ${t(`search.status.${hit.task_status}`)}` : t("search.no_task")),
    h("dt", null, t("search.case")), h("dd", null, hit.case_id ? `#${hit.case_id} · ${t(`case.status.${hit.case_status}`)}` : "—")));
  if (!hit.task_id || !MODERATORS.includes(role)) return;
  try {
    const task = await api.moderationTask(hit.task_id);
    const item = task.item || task;
    box.append(h("h3", null, t("search.text")), h("div", { class: "item-text", "data-testid": "hit-text" }, item.text || "—"));
    const votes = listOf(task.votes || []);
    box.append(h("h3", null, t("search.votes")), scrollBox(table([
      { label: t("case.who"), render: (v) => v.display_name || v.pseudonym || "—" },
      { label: t("case.verdict"), render: (v) => t(`vote.${v.verdict}`) },
      { label: t("case.category"), render: (v) => categoryName(cats, v.category) },
      { label: t("vote.note"), render: (v) => v.note || "" },
    ], votes, { empty: t("search.no_votes") }), t("search.votes")));
  } catch (err) { showError(err); }
}
