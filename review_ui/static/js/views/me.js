// The volunteer's own page: decisions, accuracy on gold tasks, police outcomes of confirmed cases.
import { api, ApiError } from "../api.js";
import { h, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale } from "../i18n.js";
import { showError } from "../app.js";
import { categoryLabel, loadCategories } from "../categories.js";

export async function meView(main) {
  main.append(h("h1", null, t("me.title")));
  await loadCategories();
  let me = {};
  let votes = [];
  let total = null;
  let outcomes = [];
  // Gold accuracy comes with the account when the API provides it (UserWithAccuracy fields).
  try { me = await api.me(); } catch (err) { showError(err); }
  // Roles that do not review (admin) have no votes: the API answers 403, the page shows none.
  try { const page = await api.myVotes({ limit: 200 }); votes = listOf(page); total = page && page.total; } catch (err) { if (!(err instanceof ApiError) || err.status !== 403) showError(err); }
  try { outcomes = listOf(await api.myOutcomes({ limit: 200 })); } catch (err) { if (!(err instanceof ApiError) || err.status !== 404) showError(err); }
  const byTask = new Map(outcomes.map((o) => [o.task_id, o]));
  for (const v of votes) { const o = byTask.get(v.task_id); if (o) { v.case_outcome = o.outcome; v.case_id = o.case_id; v.case_status = o.status; } }
  const s = { votes: total ?? votes.length, gold_accuracy: me.accuracy ?? me.gold_accuracy, gold_votes: me.gold_votes, cases: outcomes.length };
  main.append(h("section", { class: "card stats" },
    h("div", { class: "stat" }, h("b", { "data-testid": "vote-count" }, String(s.votes ?? s.vote_count ?? votes.length)), h("span", null, t("me.votes"))),
    h("div", { class: "stat" }, h("b", { "data-testid": "gold-accuracy" }, fmtPct(s.gold_accuracy ?? s.accuracy)), h("span", null, t("me.gold_accuracy"), s.gold_votes != null ? ` (${s.gold_votes})` : "")),
    h("div", { class: "stat" }, h("b", { "data-testid": "case-count" }, String(s.cases)), h("span", null, t("me.cases"))),
    h("div", { class: "stat" }, h("b", null, String(outcomes.filter((o) => o.outcome).length)), h("span", null, t("me.outcomes")))));
  if (outcomes.length) {
    main.append(h("section", { class: "card" }, h("h2", null, t("me.outcomes_title")), table([
      { label: "#", render: (o) => String(o.case_id) },
      { label: t("case.category"), render: (o) => categoryLabel(o.category) },
      { label: t("case.created"), render: (o) => fmtDate(o.opened_at, locale()) },
      { label: t("case.status"), render: (o) => t(`case.status.${o.status}`) },
      { label: t("case.outcome"), render: (o) => (o.outcome ? h("span", { class: "badge outcome", "data-testid": "case-outcome" }, t(`case.outcome.${o.outcome}`)) : "—") },
      { label: t("case.offline"), render: (o) => (o.offline_at ? fmtDate(o.offline_at, locale()) : "—") },
    ], outcomes)));
  }
  main.append(h("section", { class: "card" }, h("h2", null, t("me.decisions")), table([
    { label: t("case.when"), render: (v) => fmtDate(v.created_at, locale()) },
    { label: t("me.item"), render: (v) => h("a", {
      href: `#/me/decision/${encodeURIComponent(v.task_id)}`, class: "decision-link", "data-testid": "decision-link",
      "aria-label": t("mydecision.open", { id: v.task_id }),
    }, `#${v.task_id}`) },
    { label: t("case.verdict"), render: (v) => t(`vote.${v.verdict}`) },
    { label: t("case.category"), render: (v) => categoryLabel(v.category) },
    { label: t("me.decision"), render: (v) => (v.decision || v.task_decision ? t(`vote.${v.decision || v.task_decision}`) : t("me.pending")) },
    { label: t("case.outcome"), render: (v) => {
      const outcome = v.case_outcome || v.outcome || (v.case && v.case.outcome);
      return outcome ? h("span", { class: "badge outcome", "data-testid": "my-outcome" }, t(`case.outcome.${outcome}`)) : "—";
    } },
  ], votes, { empty: t("me.no_votes") })));
}
