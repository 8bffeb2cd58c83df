// Reviewer wellbeing: today's count against the daily cap, this shift's exposure per category,
// and a reminder to take a break after a stretch of reviewing.
import { h, modal } from "../dom.js";
import { t, label } from "../i18n.js";

export function wellbeingBar(wb) {
  if (!wb) return h("div", { class: "wellbeing muted" }, t("wellbeing.unavailable"));
  const cap = wb.daily_cap;
  const parts = [h("span", { class: "badge", "data-testid": "reviewed-today" },
    cap ? t("wellbeing.today_cap", { n: wb.reviewed_today ?? 0, cap }) : t("wellbeing.today", { n: wb.reviewed_today ?? 0 }))];
  for (const c of wb.categories || []) {
    if (c.budget == null) continue;
    const used = c.shift_count ?? 0;
    const exhausted = used >= c.budget;
    parts.push(h("span", { class: exhausted ? "badge budget exhausted" : "badge budget", title: t("wellbeing.budget_hint") },
      `${label(c.label, c.name)} ${used}/${c.budget}`));
  }
  const hidden = (wb.categories || []).filter((c) => c.requires_opt_in && !c.opted_in);
  if (hidden.length) {
    parts.push(h("span", { class: "muted" }, t("wellbeing.not_opted", { list: hidden.map((c) => label(c.label, c.name)).join(", ") })));
  }
  return h("div", { class: "wellbeing", "data-testid": "wellbeing" }, parts);
}

export class BreakReminder {
  constructor(everyMinutes = 50) {
    this.every = everyMinutes;
    this.idleResetMs = 10 * 60_000;
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem("saqshy.stretch") || "null"); } catch { /* ignore */ }
    this.start = saved && saved.start ? saved.start : Date.now();
    this.last = saved && saved.last ? saved.last : Date.now();
    this.dismissedAt = 0;
  }

  count() {
    const now = Date.now();
    if (now - this.last > this.idleResetMs) this.start = now; // a long pause was a break
    this.last = now;
    try { sessionStorage.setItem("saqshy.stretch", JSON.stringify({ start: this.start, last: this.last })); } catch { /* ignore */ }
  }

  due() {
    return this.every > 0 && Date.now() - this.start >= this.every * 60_000 && Date.now() - this.dismissedAt > 10 * 60_000;
  }

  // A modal dialog: nothing behind it takes a key or a click until it is answered. Esc means "later".
  show() {
    if (document.querySelector("dialog.break[open]")) return;
    const minutes = Math.round((Date.now() - this.start) / 60_000);
    const later = () => { this.dismissedAt = Date.now(); };
    const dialog = modal({ class: "dialog break", "aria-label": t("wellbeing.break_title"), "data-testid": "break-reminder" }, [
      h("h2", null, t("wellbeing.break_title")),
      h("p", null, t("wellbeing.break_text", { n: minutes })),
      h("div", { class: "actions" },
        h("button", { type: "button", "data-testid": "break-taken", on: { click: () => { this.start = Date.now(); dialog.close(); } } }, t("wellbeing.break_taken")),
        h("button", { type: "button", class: "link", "data-testid": "break-later", on: { click: () => { later(); dialog.close(); } } }, t("wellbeing.break_later")))],
    { onCancel: later });
  }

  stop() {}
}
