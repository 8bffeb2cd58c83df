// One of the volunteer's own decisions, read-only: the item as the queue showed it (same text, spans
// and blur), their vote, and how the task stands now. The crawled URL stays text: nothing here opens it.
import { api, ApiError } from "../api.js";
import { h, fmtDate, fmtPct } from "../dom.js";
import { t, has, locale } from "../i18n.js";
import { showError } from "../app.js";
import { categoryLabel, loadCategories } from "../categories.js";
import { normaliseTask, renderTitle, renderText, renderMedia, dressItemText, withItemLang, toggleMedia } from "./queue.js";

const labelOr = (key, value) => (value && has(`${key}.${value}`) ? t(`${key}.${value}`) : value || "—");

export async function decisionView(main, taskId) {
  main.append(h("p", null, h("a", { href: "#/me", class: "back-link", "data-testid": "decision-back" }, "← ", t("mydecision.back"))));
  main.append(h("h1", { "data-testid": "decision-title" }, t("mydecision.title", { id: taskId })));
  let found;
  let wellbeing = null;
  try {
    [found, wellbeing] = await Promise.all([api.myDecision(taskId), api.wellbeing().catch(() => null), loadCategories()]);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 422)) {
      main.append(h("p", { class: "muted", "data-testid": "decision-missing" }, t("mydecision.not_found")));
    } else showError(err);
    return;
  }
  const task = normaliseTask(found.task);
  const item = itemCard(task, wellbeing);
  main.append(h("p", { class: "muted" }, t("mydecision.read_only")), yourVote(found.vote), taskNow(found), item);
  // `m` reveals or blurs the images and the blurred text, as in the queue.
  const onKey = (e) => {
    if (e.repeat || e.ctrlKey || e.metaKey || e.altKey || (e.target instanceof Element && e.target.closest("input, textarea, select"))) return;
    if (e.code === "KeyM" || e.key === "m") toggleMedia(item);
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

function yourVote(vote) {
  const section = h("section", { class: "card", "data-testid": "decision-vote", "aria-labelledby": "decision-vote-title" },
    h("h2", { id: "decision-vote-title" }, t("mydecision.yours")));
  if (!vote) {
    section.append(h("p", { class: "muted" }, t("mydecision.no_vote")));
    return section;
  }
  section.append(h("dl", { class: "facts" },
    h("dt", null, t("case.verdict")), h("dd", null, h("b", { class: `badge decision-${vote.verdict}`, "data-testid": "decision-verdict" }, t(`vote.${vote.verdict}`))),
    h("dt", null, t("case.category")), h("dd", { "data-testid": "decision-category" }, vote.category ? categoryLabel(vote.category) : "—"),
    h("dt", null, t("vote.note")), h("dd", { class: "decision-note", "data-testid": "decision-note" }, vote.note || "—"),
    h("dt", null, t("case.when")), h("dd", null, fmtDate(vote.created_at, locale()))));
  return section;
}

function taskNow(found) {
  const status = found.task.status;
  const decided = found.task_decision;
  return h("section", { class: "card", "data-testid": "decision-task", "aria-labelledby": "decision-task-title" },
    h("h2", { id: "decision-task-title" }, t("mydecision.task_now")),
    h("dl", { class: "facts" },
      h("dt", null, t("case.status")), h("dd", { "data-testid": "decision-status" }, labelOr("search.status", status)),
      h("dt", null, t("me.decision")), h("dd", { "data-testid": "decision-outcome" }, decided
        ? `${t(`vote.${decided}`)}${found.decided_category ? ` · ${categoryLabel(found.decided_category)}` : ""}`
        : t("me.pending")),
      decided ? [h("dt", null, t("mydecision.decided_at")), h("dd", null, fmtDate(found.decided_at, locale()))] : null));
}

function itemCard(task, wellbeing) {
  const mediaSlot = h("div", { class: "media-slot", "data-testid": "media-slot" });
  if (task.itemId != null) {
    api.itemMedia(task.itemId).then((media) => { const shown = renderMedia(media); if (shown) mediaSlot.append(shown); }).catch(() => {});
  }
  const kind = task.sourceKind ? ` (${labelOr("source_kind", task.sourceKind)})` : "";
  return h("section", { class: "card item", "data-testid": "decision-item", "aria-label": t("mydecision.item") },
    h("div", { class: "meta" },
      h("span", { class: "badge category", "data-testid": "item-category" }, categoryLabel(task.category)),
      h("span", { class: "badge score", title: t("item.score") }, task.score == null ? "—" : fmtPct(task.score)),
      h("span", null, t("item.source"), ": ", h("b", null, task.source, kind)),
      h("span", null, t("item.language"), ": ", h("b", null, labelOr("lang", task.language))),
      task.author ? h("span", null, t("item.author"), ": ", h("b", null, task.author)) : null,
      h("span", null, t("item.fetched"), ": ", h("b", null, fmtDate(task.fetchedAt, locale())))),
    task.title ? withItemLang(renderTitle(task.title, task.explanation), task) : null,
    dressItemText(renderText(task.text || "", task.explanation), task, wellbeing),
    mediaSlot,
    h("div", { class: "url-row" }, h("span", { class: "muted" }, "URL: "), h("code", { class: "url", "data-testid": "item-url" }, task.url)));
}
