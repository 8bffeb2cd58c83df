// Police view: cases with status and filters; a case page with evidence, decision trail, the
// evidence ZIP, acknowledge and outcome.
import { api } from "../api.js";
import { h, clear, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale, languageName } from "../i18n.js";
import { showError, toast } from "../app.js";
import { categories, categoryFromText, categoryLabel, loadCategories } from "../categories.js";
import { renderMedia, renderText, dressItemText } from "./queue.js";
import { readZip, json, text } from "../zip.js";

export const CASE_STATUSES = ["new", "acknowledged", "closed"];
export const OUTCOMES = ["takedown_requested", "criminal_case_opened", "not_illegal", "duplicate"];

function select(id, options, value, withAll = true) {
  return h("select", { id, name: id, "data-testid": id },
    withAll ? h("option", { value: "" }, t("common.all")) : null,
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}


export async function policeView(main) {
  await loadCategories();
  const filters = JSON.parse(sessionStorage.getItem("saqshy.caseFilters") || "{}");
  const status = select("f-status", CASE_STATUSES.map((s) => [s, t(`case.status.${s}`)]), filters.status);
  const outcome = select("f-outcome", OUTCOMES.map((o) => [o, t(`case.outcome.${o}`)]), filters.outcome);
  // Typed as a person knows it: the label in any language (or the machine name), with suggestions.
  const category = h("input", { id: "f-category", placeholder: t("case.category"), value: filters.categoryText || "", "data-testid": "f-category", list: "f-category-list", autocomplete: "off" });
  const suggestions = h("datalist", { id: "f-category-list" }, categories().map((c) => h("option", { value: categoryLabel(c.name) })));
  const problem = h("p", { class: "error", "aria-live": "polite", "data-testid": "filter-error" });
  const results = h("div", { "data-testid": "cases" });
  const form = h("form", { class: "filters card", on: { submit: (e) => { e.preventDefault(); load(); } } },
    h("label", null, t("case.status"), " ", status), h("label", null, t("case.outcome"), " ", outcome),
    h("label", null, t("case.category"), " ", category), suggestions,
    h("button", { type: "submit" }, t("common.apply")), problem);
  main.append(h("h1", null, t("police.title")), form, results);

  async function load() {
    const typed = category.value.trim();
    const name = categoryFromText(typed);
    problem.textContent = typed && !name ? t("case.category_unknown", { text: typed }) : "";
    if (typed && !name) return;
    const query = { status: status.value, outcome: outcome.value, category: name };
    sessionStorage.setItem("saqshy.caseFilters", JSON.stringify({ ...query, categoryText: typed }));
    let cases = [];
    try { cases = listOf(await api.cases({ ...query, limit: 100 })); } catch (err) { showError(err); }
    clear(results).append(table([
      { label: "#", render: (c) => h("a", { href: `#/cases/${encodeURIComponent(c.id)}`, "data-testid": `case-${c.id}` }, String(c.id)) },
      { label: t("case.created"), render: (c) => fmtDate(c.created_at, locale()) },
      { label: t("case.category"), render: (c) => categoryLabel(c.category) },
      { label: t("case.status"), render: (c) => h("span", { class: `badge status-${c.status}` }, t(`case.status.${c.status}`)) },
      { label: t("case.outcome"), render: (c) => (c.outcome ? t(`case.outcome.${c.outcome}`) : "—") },
      { label: t("case.offline"), render: (c) => (c.offline_at ? fmtDate(c.offline_at, locale()) : "—") },
    ], cases, { empty: t("police.no_cases") }));
  }
  await load();
}

export async function caseView(main, id) {
  await loadCategories();
  let c;
  try { c = await api.case(id); } catch (err) { showError(err); main.append(h("p", null, t("error.not_found"))); return; }
  // The API's case record has the URL and hashes; the content, scores and decision trail are read
  // from the signed evidence bundle itself, so the police see exactly what they can verify.
  let bundle = {};
  try { bundle = await readZip(await (await api.evidence(c.id)).arrayBuffer()); } catch (err) { showError(err); }
  const item = json(bundle["item.json"]) || {};
  const caseInfo = json(bundle["case.json"]) || {};
  const scores = listOf(json(bundle["scores.json"]) || []);
  const trail = listOf(json(bundle["decisions.json"]) || []);
  // Nothing pre-selected on an open case: the officer chooses, then confirms (every outcome closes it).
  const outcome = h("select", { id: "outcome", "data-testid": "outcome" },
    h("option", { value: "", selected: !c.outcome }, t("case.choose_outcome")),
    OUTCOMES.map((o) => h("option", { value: o, selected: o === c.outcome }, t(`case.outcome.${o}`))));
  const confirmBox = h("div", { class: "confirm", "data-testid": "confirm-close", hidden: true, "aria-live": "polite" });
  const note = h("textarea", { id: "outcome-note", rows: 2, maxlength: 2000, placeholder: t("case.outcome_note") }, c.outcome_note || "");
  const statusBadge = h("span", { class: `badge status-${c.status}`, "data-testid": "case-status" }, t(`case.status.${c.status}`));
  const setStatus = (res) => { c.status = (res && res.status) || c.status; statusBadge.className = `badge status-${c.status}`; statusBadge.textContent = t(`case.status.${c.status}`); };

  async function acknowledge() {
    try { setStatus(await api.acknowledge(c.id)); toast(t("case.acknowledged")); } catch (err) { showError(err); }
  }
  async function saveOutcome() {
    confirmBox.hidden = true;
    try { setStatus(await api.setOutcome(c.id, outcome.value, note.value.trim())); toast(t("case.outcome_saved")); } catch (err) { showError(err); }
  }
  function askToClose() {
    if (!outcome.value) { toast(t("case.outcome_required"), "error"); outcome.focus(); return; }
    const yes = h("button", { type: "button", class: "primary", "data-testid": "confirm-close-yes", on: { click: saveOutcome } }, t("case.confirm_close_yes"));
    clear(confirmBox).append(h("p", null, t("case.confirm_close", { id: c.id, outcome: t(`case.outcome.${outcome.value}`) })),
      h("div", { class: "actions" }, yes, h("button", { type: "button", on: { click: () => { confirmBox.hidden = true; outcome.focus(); } } }, t("common.cancel"))));
    confirmBox.hidden = false;
    yes.focus();
  }

  const task = caseInfo.task || {};
  // The item's images as our blurred thumbnails; the originals are in the bundle (media/).
  const mediaSlot = h("div", { class: "media-slot", "data-testid": "media-slot" });
  if (c.item_id != null) {
    api.itemMedia(c.item_id).then((media) => { const shown = renderMedia(media); if (shown) mediaSlot.append(shown); }).catch(() => {});
  }
  main.append(
    h("p", null, h("a", { href: "#/police" }, "← ", t("police.title"))),
    h("h1", null, t("case.title", { id: c.id }), " ", statusBadge),
    h("section", { class: "card" },
      h("dl", { class: "facts" },
        h("dt", null, t("case.category")), h("dd", null, categoryLabel(c.category)),
        h("dt", null, "URL"), h("dd", null, h("code", { class: "url", "data-testid": "case-url" }, c.url || item.url || "—")),
        h("dt", null, t("item.source")), h("dd", null, (item.source && item.source.name) || "—"),
        h("dt", null, t("item.language")), h("dd", null, languageName(item.language)),
        h("dt", null, t("item.fetched")), h("dd", null, fmtDate(c.fetched_at || item.fetched_at, locale())),
        h("dt", null, "IP"), h("dd", null, item.server_ip || "—"),
        h("dt", null, "SHA-256"), h("dd", null, h("code", null, c.sha256 || item.sha256 || "—")),
        h("dt", null, t("case.evidence_sha256")), h("dd", null, h("code", null, c.evidence_sha256 || "—")),
        h("dt", null, t("case.created")), h("dd", null, fmtDate(c.created_at, locale())),
        h("dt", null, t("me.decision")), h("dd", null, task.decision ? `${t(`vote.${task.decision}`)} · ${task.decided_category ? categoryLabel(task.decided_category) : ""} · ${fmtDate(task.decided_at, locale())}` : "—"),
        h("dt", null, t("case.offline")), h("dd", null, c.offline_at ? fmtDate(c.offline_at, locale()) : t("case.still_online"))),
      h("a", { href: api.evidenceUrl(c.id), download: `saqshy-case-${c.id}.zip`, class: "button", "data-testid": "evidence-zip" }, t("case.download")),
      " ", h("a", { href: "/cases/evidence-public-key", download: "saqshy-evidence-public-key.pem", class: "button" }, t("case.public_key"))),
    h("section", { class: "card" }, h("h2", null, t("case.content")), item.title ? h("h3", null, item.title) : null,
      dressItemText(renderText(text(bundle["text.txt"]), null), item, null), mediaSlot),
    // Near-duplicates of the item in the case (its cluster at the decision, reposts after): URLs as text.
    (c.members || []).length ? h("section", { class: "card", "data-testid": "case-members" }, h("h2", null, t("repost.members")),
      c.members.map((m) => h("dl", { class: "facts member", "data-testid": "case-member" },
        h("dt", null, t("repost.item")), h("dd", null, `#${m.item_id} · ${t(m.repost ? "repost.member_repost" : "repost.member_cluster")}`),
        h("dt", null, t("repost.url")), h("dd", null, h("code", { class: "url" }, m.url || "—")),
        h("dt", null, t("repost.seen")), h("dd", null, fmtDate(m.fetched_at, locale())),
        h("dt", null, "SHA-256"), h("dd", null, h("code", null, m.sha256 || "—")),
        h("dt", null, t("repost.attached")), h("dd", null, fmtDate(m.attached_at, locale()))))) : null,
    h("section", { class: "card" }, h("h2", null, t("case.scores")), table([
      { label: t("ml.version"), key: "model_version" },
      { label: t("item.score"), render: (s) => fmtPct(s.score) },
      { label: t("case.category"), render: (s) => categoryLabel(s.top_category) },
      { label: t("case.when"), render: (s) => fmtDate(s.scored_at, locale()) },
    ], scores)),
    h("section", { class: "card" }, h("h2", null, t("case.trail")), table([
      { label: t("case.when"), render: (d) => fmtDate(d.voted_at, locale()) },
      { label: t("case.who"), render: (d) => `${d.volunteer || "—"}${d.moderator_decision ? ` (${t("role.moderator")})` : ""}` },
      { label: t("case.verdict"), render: (d) => (d.verdict ? t(`vote.${d.verdict}`) : "—") },
      { label: t("case.category"), render: (d) => categoryLabel(d.category) },
      { label: t("vote.note"), render: (d) => d.note || "" },
    ], trail, { cls: "trail" })),
    h("section", { class: "card" }, h("h2", null, t("case.actions")), h("div", { class: "actions" },
      h("button", { type: "button", "data-testid": "acknowledge", disabled: c.status !== "new", on: { click: acknowledge } }, t("case.acknowledge")),
      h("label", { for: "outcome" }, t("case.outcome")), outcome, note,
      h("button", { type: "button", class: "primary", "data-testid": "save-outcome", on: { click: askToClose } }, t("case.set_outcome"))), confirmBox));
}
