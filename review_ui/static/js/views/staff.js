// Pieces shared by the staff screens (search, audit log, gold tasks, sources): labelled fields,
// tables that scroll inside their card, category names in the reader's language, safe highlights.
import { api } from "../api.js";
import { h } from "../dom.js";
import { label } from "../i18n.js";

let fieldCount = 0;

// A control with its visible <label>; the label names the control for assistive technology.
export function field(text, control) {
  if (!control.id) { fieldCount += 1; control.id = `sf-${fieldCount}`; }
  return h("div", { class: "field" }, h("label", { for: control.id }, text), control);
}

// A wide table scrolls inside its own box, never the page (390 px phones).
export function scrollBox(content, name) {
  return h("div", { class: "table-scroll", tabindex: 0, role: "region", "aria-label": name }, content);
}

// The taxonomy with its {ru, kk, en} labels, as the queue shows it (GET /wellbeing/me serves every role).
let categories = null;
export async function loadCategories() {
  if (!categories) {
    categories = api.wellbeing().then((w) => (w && w.categories) || []).catch(() => []);
  }
  return categories;
}

export function categoryName(list, name) {
  if (!name) return "—";
  const found = list.find((c) => c.name === name);
  return label(found && found.label, name);
}

export function categoryOptions(list, anyText, selected) {
  return [h("option", { value: "" }, anyText),
    ...list.map((c) => h("option", { value: c.name, selected: c.name === selected }, label(c.label, c.name)))];
}

const ENTITIES = { "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#x27;": "'", "&#39;": "'", "&amp;": "&" };

function unescapeText(text) {
  return text.replace(/&(?:lt|gt|quot|amp|#x27|#39);/g, (entity) => ENTITIES[entity]);
}

// A server highlight is escaped text with <mark> tags around the matches: split on the tags and
// append text nodes, so nothing of the crawled page is ever parsed as HTML.
export function highlight(fragment) {
  const parts = String(fragment).split(/(<mark>|<\/mark>)/);
  const out = [];
  let marked = false;
  for (const part of parts) {
    if (part === "<mark>") { marked = true; continue; }
    if (part === "</mark>") { marked = false; continue; }
    if (!part) continue;
    const text = unescapeText(part);
    out.push(marked ? h("mark", null, text) : text);
  }
  return out;
}

// A datetime-local or date input's value as an ISO instant in the reader's time zone (or null).
export function isoFromInput(value, endOfDay = false) {
  if (!value) return null;
  const when = new Date(value.length === 10 ? `${value}T00:00:00` : value);
  if (Number.isNaN(when.getTime())) return null;
  if (endOfDay && value.length === 10) when.setDate(when.getDate() + 1);
  return when.toISOString();
}

// Previous / next buttons under a paged list.
export function pager(page, total, onPage, texts) {
  const { offset, limit } = page;
  const prev = h("button", { type: "button", disabled: offset <= 0, on: { click: () => onPage(Math.max(0, offset - limit)) } }, texts.prev);
  const next = h("button", { type: "button", disabled: offset + limit >= total, on: { click: () => onPage(offset + limit) } }, texts.next);
  return h("div", { class: "actions pager" }, prev,
    h("span", { class: "muted" }, texts.range(total ? offset + 1 : 0, Math.min(total, offset + limit), total)), next);
}
