// Volunteer queue: claim, read, decide by key or button, next item without a page reload.
import { api, ApiError } from "../api.js";
import { h, append, clear, fmtDate, fmtPct, isLocalPath, modal } from "../dom.js";
import { t, label, locale, languageName } from "../i18n.js";
import { state, toast, showError } from "../app.js";
import { wellbeingBar, BreakReminder } from "./wellbeing.js";

// Commands by physical key (event.code), so they work on any layout (Russian "ы" is KeyS, Kazakh
// "ә" is Digit2); the character (event.key) as a fallback for keyboards that send no code.
const COMMANDS_BY_CODE = {
  Digit1: "illegal", Digit2: "legal", Digit3: "unsure", Numpad1: "illegal", Numpad2: "legal", Numpad3: "unsure",
  KeyS: "skip", KeyN: "note", KeyM: "media", KeyU: "undo",
};
const COMMANDS_BY_KEY = { "1": "illegal", "2": "legal", "3": "unsure", s: "skip", n: "note", m: "media", u: "undo" };
const VERDICTS = new Set(["illegal", "legal", "unsure"]);
// A freshly shown item takes no decision this long: a double click or a bouncing key meant for the
// previous item must not decide the next one.
const FRESH_ITEM_GUARD_MS = 300;
// The undo offer ends this much before the server's window, so the button never offers a late undo.
const UNDO_MARGIN_MS = 1_000;
const DRAFT_KEY = "saqshy.queue.draft";
const FILTER_KEY = "saqshy.queue.filter";
const FILTER_LANGUAGES = ["ru", "kk", "en"];
const EXTEND_EVERY_MS = 20_000;
const ACTIVE_WINDOW_MS = 90_000;
const WELLBEING_REFRESH_EVERY = 10;

// Normalise a claimed task whatever its exact envelope (task with nested item, or flat).
export function normaliseTask(raw) {
  if (!raw) return null;
  const task = raw.task && typeof raw.task === "object" ? { ...raw.task, ...raw } : raw;
  const item = task.item || {};
  const score = (task.score && typeof task.score === "object" ? task.score : null) || task.score_detail || item.score || {};
  return {
    id: task.id ?? task.task_id,
    itemId: item.id ?? task.item_id,
    title: item.title ?? task.title ?? "",
    text: item.text ?? task.text ?? "",
    url: item.url ?? task.url ?? "",
    source: (item.source && (item.source.name || item.source.url)) || item.source_name || task.source_name || "—",
    sourceKind: (item.source && item.source.kind) || item.source_kind || null,
    language: item.language ?? task.language ?? "—",
    author: item.author ?? null,
    fetchedAt: item.fetched_at ?? task.fetched_at,
    category: task.category ?? task.suggested_category ?? score.top_category ?? null,
    score: typeof task.score === "number" ? task.score : (score.score ?? null),
    clusterSize: task.cluster_size ?? (task.duplicate_count != null ? task.duplicate_count + 1 : 1),
    explanation: task.explanation ?? score.explanation ?? item.explanation ?? null,
    leaseExpiresAt: task.lease_expires_at ?? task.lease?.expires_at ?? null,
    media: item.media ?? (item.extra && item.extra.media) ?? task.media ?? [],
    isBinary: Boolean(item.is_binary),
  };
}

// Code point -> UTF-16 offset: the server counts characters as Python does (code points), the DOM
// counts UTF-16 units (an emoji is one of the first and two of the second).
function utf16Offsets(text) {
  const at = [0];
  let unit = 0;
  for (const ch of text) { unit += ch.length; at.push(unit); }
  return at;
}

// Spans that drove the score, for one field ("title" or "text"): [{field, start, end, weight}] with
// code-point offsets into that field (no field: the text), or [{text|token, weight}] found by search.
export function highlightSpans(text, explanation, field = "text") {
  const spans = [];
  const list = Array.isArray(explanation) ? explanation : (explanation && (explanation.spans || explanation.tokens)) || [];
  let offsets = null;
  for (const entry of list) {
    if (!entry || typeof entry !== "object") continue;
    const weight = Number(entry.weight ?? entry.score ?? entry.attribution ?? 0);
    if (Number.isInteger(entry.start) && Number.isInteger(entry.end) && entry.end > entry.start) {
      if ((entry.field ?? "text") !== field) continue;
      offsets = offsets || utf16Offsets(text);
      const last = offsets.length - 1;
      spans.push({ start: offsets[Math.min(Math.max(0, entry.start), last)], end: offsets[Math.min(entry.end, last)], weight });
    } else {
      const needle = entry.text ?? entry.token ?? entry.span;
      if (typeof needle !== "string" || needle.trim().length < 2) continue;
      let from = 0;
      for (let found = text.indexOf(needle, from); found !== -1 && spans.length < 500; found = text.indexOf(needle, from)) {
        spans.push({ start: found, end: found + needle.length, weight });
        from = found + needle.length;
      }
    }
  }
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged = [];
  for (const s of spans) {
    if (s.start >= s.end) continue;
    const last = merged[merged.length - 1];
    if (last && s.start < last.end) { last.end = Math.max(last.end, s.end); last.weight = Math.max(last.weight, s.weight); }
    else merged.push({ ...s });
  }
  return merged;
}

function markedText(el, text, explanation, field) {
  let at = 0;
  for (const span of highlightSpans(text, explanation, field)) {
    if (span.start > at) el.append(document.createTextNode(text.slice(at, span.start)));
    const strength = span.weight >= 0.66 ? "hi3" : span.weight >= 0.33 ? "hi2" : "hi1";
    el.append(h("mark", { class: strength, title: span.weight ? span.weight.toFixed(2) : null }, text.slice(span.start, span.end)));
    at = span.end;
  }
  if (at < text.length) el.append(document.createTextNode(text.slice(at)));
  return el;
}

export function renderText(text, explanation) {
  return markedText(h("div", { class: "item-text", "data-testid": "item-text", lang: "" }), text, explanation, "text");
}

export function renderTitle(title, explanation) {
  return markedText(h("h2", { class: "item-title", "data-testid": "item-title", lang: "" }), title, explanation, "title");
}

// Media is blurred until clicked (or `m`), and only media Saqshy itself serves is ever shown:
// the API's re-encoded thumbnails (same origin). A crawled image URL stays text (the CSP would
// block it anyway); images the crawler did not keep (SVG, not an image, too big...) are counted.
export const GREYSCALE_KEY = "saqshy.media.greyscale";

export function greyscalePreferred() {
  try { return localStorage.getItem(GREYSCALE_KEY) === "1"; } catch { return false; }
}

export function renderMedia(media) {
  const list = Array.isArray(media) ? media : [];
  if (!list.length) return null;
  let hidden = 0;
  const figures = [];
  for (const m of list.slice(0, 12)) {
    if (m && typeof m === "object" && m.status && m.status !== "stored") { hidden += 1; continue; }
    const src = typeof m === "string" ? m : (m && (m.thumbnail_url || m.local_url || m.src || m.url)) || "";
    if (isLocalPath(src)) {
      const img = h("img", { src, alt: t("item.media"), class: "blurred", tabindex: 0, "data-testid": "media" });
      const toggle = () => setBlurred(img, !img.classList.contains("blurred"));
      img.addEventListener("click", toggle);
      img.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
      figures.push(h("figure", null, h("div", { class: "frame" }, img),
        h("figcaption", { class: "muted", "data-testid": "media-caption" }, t("item.media_click"))));
    } else {
      figures.push(h("div", { class: "media-placeholder", title: String(src).slice(0, 300) }, t("item.media_remote")));
    }
  }
  return h("div", { class: greyscalePreferred() ? "media greyscale" : "media", "data-testid": "media-list" }, figures,
    hidden ? h("p", { class: "muted media-hidden", "data-testid": "media-hidden" }, t("item.media_hidden", { n: hidden })) : null);
}

function setBlurred(img, blurred) {
  img.classList.toggle("blurred", blurred);
  const caption = img.closest("figure") && img.closest("figure").querySelector("figcaption");
  if (caption) caption.textContent = t(blurred ? "item.media_click" : "queue.media_shown");
}

// `m`: reveal every image of the item (and its text, when blurred by a setting), or blur them all again.
export function toggleMedia(root) {
  const images = [...root.querySelectorAll(".media img, .item-text.text-blur")];
  const reveal = images.some((img) => img.classList.contains("blurred"));
  for (const img of images) setBlurred(img, !reveal);
}

// --- Item text: its language for assistive technology, and blur for the categories the reviewer chose
// in Settings (revealed by a click, the button or `m`, like the images).
const LANG_TAG = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

export function itemLang(language) {
  return typeof language === "string" && LANG_TAG.test(language) ? language : null;
}

export function withItemLang(el, task) {
  const lang = itemLang(task.language);
  if (lang) el.lang = lang;
  return el;
}

// `task` needs only its language and category; without `wellbeing` (staff views) the text is never blurred.
export function dressItemText(textEl, task, wellbeing) {
  const lang = itemLang(task.language);
  if (lang) textEl.lang = lang; else textEl.removeAttribute("lang");
  const cat = wellbeing && (wellbeing.categories || []).find((c) => c.name === task.category);
  if (!cat || !cat.blur_text) return textEl;
  textEl.classList.add("text-blur", "blurred");
  textEl.addEventListener("click", () => textEl.classList.remove("blurred"));
  const reveal = h("button", { type: "button", class: "link", "data-testid": "reveal-text", on: { click: () => textEl.classList.toggle("blurred") } },
    h("kbd", null, "m"), " ", t("exposure.reveal_text"));
  return h("div", { class: "text-blur-wrap" }, h("p", { class: "muted text-blur-hint" }, t("exposure.text_blurred"), " ", reveal), textEl);
}

export function openOriginalDialog(url) {
  let safe = null;
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") safe = parsed.href;
  } catch { /* not a URL */ }
  const dialog = modal({ "aria-label": t("item.open_original"), "data-testid": "open-original-dialog" }, [
    h("h2", null, t("item.open_original")),
    h("p", { class: "warning" }, t("item.open_warning")),
    h("p", { class: "url" }, url),
    h("div", { class: "actions" },
      h("button", { type: "button", on: { click: () => dialog.close() } }, t("common.cancel")),
      h("button", {
        type: "button", class: "danger", disabled: !safe, "data-testid": "open-original-confirm",
        on: { click: () => { window.open(safe, "_blank", "noopener,noreferrer"); dialog.close(); } },
      }, t("item.open_anyway")))]);
  return dialog;
}

function helpDialog() {
  const rows = [["1", "vote.illegal"], ["2", "vote.legal"], ["3", "vote.unsure"], ["s", "vote.skip"], ["u", "queue.undo_last"],
    ["n", "vote.note"], ["m", "item.media_reveal"], ["?", "queue.help"], ["Esc", "common.close"]];
  const dialog = modal({ "aria-label": t("queue.help"), "data-testid": "help" }, [
    h("h2", null, t("queue.help")),
    h("table", { class: "grid" }, h("tbody", null, rows.map(([k, key]) => h("tr", null, h("td", null, h("kbd", null, k)), h("td", null, t(key)))))),
    h("div", { class: "actions" }, h("button", { type: "button", on: { click: () => dialog.close() } }, t("common.close")))]);
  // A click on the backdrop (outside the dialog's box) closes it too.
  dialog.addEventListener("click", (e) => {
    const box = dialog.getBoundingClientRect();
    if (e.target === dialog && (e.clientX < box.left || e.clientX > box.right || e.clientY < box.top || e.clientY > box.bottom)) dialog.close();
  });
  return dialog;
}

function commandOf(e) {
  if (e.key === "?") return "help";
  if (e.shiftKey) return null;
  return COMMANDS_BY_CODE[e.code] || COMMANDS_BY_KEY[e.key] || null;
}

function readFilter() {
  try {
    const saved = JSON.parse(localStorage.getItem(FILTER_KEY) || "null");
    return { category: (saved && saved.category) || "", language: (saved && saved.language) || "" };
  } catch { return { category: "", language: "" }; }
}

function readDraft(taskId) {
  try {
    const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
    return draft && draft.taskId === taskId ? draft : null;
  } catch { return null; }
}

function writeDraft(draft) {
  try {
    if (draft) sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); else sessionStorage.removeItem(DRAFT_KEY);
  } catch { /* private mode: the draft lives as long as the view */ }
}

// The server holds one lease per reviewer, so a queue opened again claims only once the queue before
// it has given its task back: a late give-back would otherwise take the task from under the new one.
let previousQueue = Promise.resolve();

export async function queueView(main) {
  const previous = previousQueue;
  let givenBack;
  previousQueue = new Promise((resolve) => { givenBack = resolve; });
  let task = null;
  let busy = false;
  let filterChanged = false;
  let lastActivity = Date.now();
  let lastExtend = Date.now();
  let categories = [];
  let wellbeing = null;
  let decided = 0;
  let armedAt = 0;
  let armTimer = null;
  let lastVote = null;
  let undoTimer = null;

  const header = h("div", { class: "queue-head" });
  const card = h("section", { class: "card item", id: "item", tabindex: -1, "aria-live": "polite" });
  const note = h("textarea", { id: "note", rows: 2, maxlength: 2000, placeholder: t("vote.note_placeholder"), "data-testid": "note" });
  const categorySelect = h("select", { id: "vote-category", "data-testid": "vote-category" });
  const timer = h("span", { class: "lease", "data-testid": "lease-timer" }, "");
  const decisionButtons = [
    h("button", { type: "button", class: "illegal", "data-key": "1", on: { click: () => decide("illegal") } }, h("kbd", null, "1"), " ", t("vote.illegal")),
    h("button", { type: "button", class: "legal", "data-key": "2", on: { click: () => decide("legal") } }, h("kbd", null, "2"), " ", t("vote.legal")),
    h("button", { type: "button", class: "unsure", "data-key": "3", on: { click: () => decide("unsure") } }, h("kbd", null, "3"), " ", t("vote.unsure")),
    h("button", { type: "button", "data-key": "s", on: { click: skip } }, h("kbd", null, "s"), " ", t("vote.skip"))];
  const buttons = h("div", { class: "decide" }, decisionButtons,
    h("button", { type: "button", "data-key": "?", on: { click: helpDialog } }, h("kbd", null, "?"), " ", t("queue.help")));
  const undoBar = h("div", { class: "undo-toast", role: "status", "data-testid": "undo-toast", hidden: true });
  let only = readFilter();
  const filterCategory = h("select", { id: "filter-category", "data-testid": "filter-category" });
  const filterLanguage = h("select", { id: "filter-language", "data-testid": "filter-language" },
    ["", ...FILTER_LANGUAGES].map((code) => h("option", { value: code, selected: code === only.language }, code ? languageName(code) : t("queue.filter_all"))));
  const leftToday = h("span", { class: "muted", "data-testid": "left-today" });
  const inQueue = h("span", { class: "muted", "data-testid": "in-queue", "aria-live": "polite" });
  const filters = h("div", { class: "queue-filters" },
    h("label", { for: "filter-category" }, t("queue.filter_category")), filterCategory,
    h("label", { for: "filter-language" }, t("queue.filter_language")), filterLanguage, leftToday, inQueue);
  const controls = h("section", { class: "card controls" },
    h("label", { for: "vote-category" }, t("vote.category")), categorySelect,
    h("label", { for: "note" }, h("kbd", null, "n"), " ", t("vote.note")), note, buttons, timer);
  main.append(h("h1", null, t("queue.title")), header, filters, card, controls, undoBar);

  const breaks = new BreakReminder();
  const saveDraft = () => { if (task) writeDraft({ taskId: task.id, note: note.value, category: categorySelect.value }); };
  note.addEventListener("input", saveDraft);
  categorySelect.addEventListener("change", saveDraft);

  function fillFilters() {
    append(clear(filterCategory), [h("option", { value: "" }, t("queue.filter_all")),
      categories.map((c) => h("option", { value: c.name, selected: c.name === only.category }, label(c.label, c.name)))]);
  }

  function showProgress() {
    clear(header).append(wellbeingBar(wellbeing));
    const cap = wellbeing && wellbeing.daily_cap;
    leftToday.textContent = cap ? t("queue.left_today", { n: Math.max(0, cap - (wellbeing.reviewed_today || 0)) }) : "";
  }

  // How many more a claim could give now (after the item on screen): fetched after the item is painted.
  async function countQueue() {
    try { inQueue.textContent = t("queue.in_queue", { n: (await api.available(only)).available }); }
    catch { inQueue.textContent = ""; }
  }

  // Another category or language: the item held goes back to the queue and one that fits is claimed.
  async function changeFilter() {
    // A change made while a claim is in flight is applied when that claim ends, never dropped.
    if (busy) { filterChanged = true; return; }
    filterChanged = false;
    only = { category: filterCategory.value, language: filterLanguage.value };
    try { localStorage.setItem(FILTER_KEY, JSON.stringify(only)); } catch { /* private mode */ }
    if (task) {
      busy = true;
      try { await api.releaseLease(task.id); } catch (err) { showError(err); }
      busy = false;
      task = null;
      writeDraft(null);
    }
    await next();
  }
  // The end of any work in flight: a filter changed meanwhile takes effect now.
  function settle() {
    busy = false;
    if (filterChanged) changeFilter();
  }
  filterCategory.addEventListener("change", changeFilter);
  filterLanguage.addEventListener("change", changeFilter);

  async function loadWellbeing() {
    try {
      wellbeing = await api.wellbeing();
      categories = wellbeing.categories || [];
    } catch (err) {
      wellbeing = null;
      if (!(err instanceof ApiError) || err.status !== 404) showError(err);
    }
    showProgress();
    fillFilters();
    if (wellbeing && wellbeing.break_every_minutes) breaks.every = wellbeing.break_every_minutes;
  }

  function fillCategories(selected) {
    clear(categorySelect);
    const names = categories.length ? categories.map((c) => c.name) : (selected ? [selected] : []);
    for (const c of (categories.length ? categories : names.map((name) => ({ name })))) {
      categorySelect.append(h("option", { value: c.name, selected: c.name === selected }, label(c.label, c.name)));
    }
  }

  // No item (empty queue, daily cap): nothing to decide, so the decision buttons are off.
  function setDecisionsEnabled(enabled) {
    for (const button of decisionButtons) button.disabled = !enabled;
  }

  // Focus on the item itself: no button keeps it across items (Space would click it again).
  function focusItem() {
    card.focus({ preventScroll: true });
    if (card.getBoundingClientRect().top < 0) card.scrollIntoView({ block: "start" });
  }

  function arm() {
    armedAt = Date.now() + FRESH_ITEM_GUARD_MS;
    delete card.dataset.armed;
    clearTimeout(armTimer);
    armTimer = setTimeout(() => { card.dataset.armed = "1"; }, FRESH_ITEM_GUARD_MS);
  }

  function renderEmpty(message) {
    task = null;
    card.dataset.taskId = "";
    delete card.dataset.armed;
    clear(card).append(h("p", { class: "empty", "data-testid": "queue-empty" }, message),
      h("button", { type: "button", "data-testid": "claim", on: { click: next } }, t("queue.next")));
    timer.textContent = "";
    setDecisionsEnabled(false);
    if (card.contains(document.activeElement) || decisionButtons.includes(document.activeElement)) focusItem();
  }

  function render() {
    const cat = categories.find((c) => c.name === task.category);
    append(clear(card), [
      h("div", { class: "meta" },
        h("span", { class: "badge category", "data-testid": "item-category" }, label(cat && cat.label, task.category || "—")),
        h("span", { class: "badge score", title: t("item.score") }, task.score == null ? "—" : fmtPct(task.score)),
        task.clusterSize > 1 ? h("span", { class: "badge cluster", "data-testid": "cluster-size" }, t("item.cluster", { n: task.clusterSize })) : null,
        h("span", null, t("item.source"), ": ", h("b", null, task.source)),
        h("span", null, t("item.language"), ": ", h("b", null, task.language)),
        task.author ? h("span", null, t("item.author"), ": ", h("b", { "data-testid": "item-author" }, task.author)) : null,
        h("span", null, t("item.fetched"), ": ", h("b", null, fmtDate(task.fetchedAt, locale())))),
      task.title ? withItemLang(renderTitle(task.title, task.explanation), task) : null,
      dressItemText(renderText(task.text || "", task.explanation), task, wellbeing),
      renderMedia(task.media),
      h("div", { class: "media-slot", "data-testid": "media-slot" }),
      h("div", { class: "url-row" },
        h("span", { class: "muted" }, "URL: "), h("code", { class: "url", "data-testid": "item-url" }, task.url),
        h("button", { type: "button", class: "link", "data-testid": "open-original", on: { click: () => openOriginalDialog(task.url) } }, t("item.open_original")))]);
    card.dataset.taskId = String(task.id);
    arm();
    setDecisionsEnabled(true);
    // A note or category chosen for this item survives a re-render (a language switch); another item starts clean.
    const draft = readDraft(task.id);
    fillCategories(draft && draft.category ? draft.category : task.category);
    note.value = draft ? draft.note || "" : "";
    if (!draft) writeDraft(null);
    tick();
    loadMedia(task);
    // The new item takes the keyboard (on the queue the item is the page's content), unless the
    // reviewer moved it elsewhere: the navigation or a filter keeps it.
    const active = document.activeElement;
    if (!active || active === document.body || active.id === "main" || card.contains(active) || controls.contains(active)) focusItem();
  }

  // Off the critical path: the item shows at once, its thumbnails follow when the API answers.
  async function loadMedia(shown) {
    if (shown.itemId == null || (shown.media && shown.media.length)) return;
    let media;
    try { media = await api.itemMedia(shown.itemId); } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) showError(err);
      return;
    }
    const slot = card.querySelector(".media-slot");
    if (task !== shown || !slot) return;  // the volunteer has moved on meanwhile
    const rendered = renderMedia(media);
    if (rendered) slot.append(rendered);
  }

  async function next() {
    if (busy) return;
    if (wellbeing && wellbeing.daily_cap && wellbeing.reviewed_today >= wellbeing.daily_cap) {
      renderEmpty(t("wellbeing.cap_reached"));
      return;
    }
    busy = true;
    try {
      task = normaliseTask(await api.claimNext(only));
      if (!task || task.id == null) renderEmpty(t(only.category || only.language ? "queue.filter_empty" : "queue.empty"));
      else { lastExtend = Date.now(); render(); }
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 204)) renderEmpty(t(only.category || only.language ? "queue.filter_empty" : "queue.empty"));
      else { renderEmpty(t("queue.error")); showError(err); }
    } finally {
      settle();
    }
    countQueue();
  }

  function countDecision(category, step) {
    decided += step;
    if (!wellbeing) return;
    // Count locally; the server's figures are fetched again every few decisions.
    wellbeing.reviewed_today = Math.max(0, (wellbeing.reviewed_today || 0) + step);
    const cat = (wellbeing.categories || []).find((c) => c.name === category);
    if (cat) cat.shift_count = Math.max(0, (cat.shift_count || 0) + step);
    if (cat) cat.today_count = Math.max(0, (cat.today_count || 0) + step);
  }

  async function decide(verdict) {
    if (!task || busy || Date.now() < armedAt) return;
    if (decisionButtons.includes(document.activeElement)) focusItem();
    busy = true;
    const done = task;
    const fields = { verdict, category: categorySelect.value || done.category, note: note.value.trim() || null };
    let cast;
    try {
      cast = await api.vote(done.id, fields);
      breaks.count();
      countDecision(done.category, 1);
    } catch (err) {
      busy = false;
      showError(err);
      if (err instanceof ApiError && err.status === 409) { await next(); }
      return;
    }
    busy = false;
    writeDraft(null);
    offerUndo(cast, done, fields);
    await next();
    if (breaks.due()) breaks.show();
    // Off the critical path: redraw the counters now, re-read the server's every few decisions
    // (moderators may have changed the cap meanwhile).
    if (decided % WELLBEING_REFRESH_EVERY === 0) loadWellbeing().then(() => fillCategories(task && task.category));
    else showProgress();
  }

  function hideUndo() {
    clearTimeout(undoTimer);
    undoBar.hidden = true;
    clear(undoBar);
  }

  // "Voted: legal — Undo (u)" while the server still takes the vote back.
  function offerUndo(cast, done, fields) {
    hideUndo();
    const windowMs = cast && cast.id != null ? Number(cast.undo_seconds || 0) * 1000 - UNDO_MARGIN_MS : 0;
    if (windowMs <= 0) { lastVote = null; return; }
    lastVote = { id: cast.id, task: done, fields, until: Date.now() + windowMs };
    undoBar.append(h("span", null, t("queue.voted", { verdict: t(`vote.${fields.verdict}`) })),
      h("button", { type: "button", "data-testid": "undo", on: { click: undo } }, t("queue.undo"), " ", h("kbd", null, "u")));
    undoBar.hidden = false;
    undoTimer = setTimeout(() => { lastVote = null; hideUndo(); }, windowMs);
  }

  async function undo() {
    const vote = lastVote;
    if (!vote || busy || Date.now() > vote.until) return;
    busy = true;
    lastVote = null;
    hideUndo();
    try {
      // The server gives the task back to this volunteer (and the one shown meanwhile back to the queue).
      const back = normaliseTask(await api.undoVote(vote.id));
      countDecision(vote.task.category, -1);
      task = back;
      writeDraft({ taskId: task.id, note: vote.fields.note || "", category: vote.fields.category });
      lastExtend = Date.now();
      render();
      showProgress();
      toast(t("queue.undo_done"));
    } catch (err) {
      showError(err);
    } finally {
      settle();
    }
  }

  async function skip() {
    if (!task || busy || Date.now() < armedAt) return;
    busy = true;
    const skipped = task.id;
    try { await api.releaseLease(skipped, true); } catch (err) { showError(err); }
    busy = false;
    writeDraft(null);
    await next();
    // A skipped task is not served again to this volunteer (an older server may still do so: say so rather than seem stuck).
    if (task && task.id === skipped) toast(t("queue.skip_same"));
  }

  const COMMANDS = {
    skip, undo, help: helpDialog,
    note: () => note.focus(),
    media: () => toggleMedia(card),
  };

  function onKey(e) {
    lastActivity = Date.now();
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;  // a modal dialog has the keyboard
    const command = commandOf(e);
    if (!command) return;
    e.preventDefault();
    if (e.repeat) return;  // a held key is one command, not one per auto-repeat
    if (VERDICTS.has(command)) decide(command);
    else COMMANDS[command]();
  }
  const activity = () => { lastActivity = Date.now(); };

  function tick() {
    if (!task || !task.leaseExpiresAt) { timer.textContent = ""; return; }
    const left = Math.max(0, Math.round((new Date(task.leaseExpiresAt).getTime() - Date.now()) / 1000));
    timer.textContent = `${t("queue.lease")} ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    timer.classList.toggle("low", left < 60);
    if (left === 0) timer.textContent = t("queue.lease_expired");
  }

  async function maybeExtend() {
    if (!task || busy) return;
    const active = Date.now() - lastActivity < ACTIVE_WINDOW_MS;
    if (active && Date.now() - lastExtend >= EXTEND_EVERY_MS) {
      lastExtend = Date.now();
      try {
        const res = normaliseTask(await api.extendLease(task.id));
        if (res && res.leaseExpiresAt) task.leaseExpiresAt = res.leaseExpiresAt;
      } catch (err) { showError(err); }
    }
  }

  document.addEventListener("keydown", onKey);
  for (const ev of ["mousemove", "scroll", "click"]) document.addEventListener(ev, activity, { passive: true });
  const ticker = setInterval(() => { tick(); maybeExtend(); }, 1000);

  setDecisionsEnabled(false);
  try {
    await loadWellbeing();
    fillCategories(null);
    await previous;
    // A queue left before it claimed takes nothing: the task would only go back at once.
    if (main.isConnected) await next();
  } catch (err) {
    givenBack();
    throw err;
  }

  return () => {
    document.removeEventListener("keydown", onKey);
    for (const ev of ["mousemove", "scroll", "click"]) document.removeEventListener(ev, activity);
    clearInterval(ticker);
    clearTimeout(armTimer);
    clearTimeout(undoTimer);
    breaks.stop();
    // Give the task back at once rather than letting the lease run out.
    (task && state.user ? api.releaseLease(task.id).catch(() => {}) : Promise.resolve()).then(givenBack);
    document.querySelectorAll("dialog[open]").forEach((d) => d.close());
  };
}

export { toast };
