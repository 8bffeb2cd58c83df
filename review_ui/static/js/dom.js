// DOM helpers. Every string becomes a text node: nothing the server sends is ever parsed as HTML
// (the page's Trusted Types policy would refuse it anyway).

const SAFE_ATTRS = new Set([
  "class", "id", "type", "name", "value", "placeholder", "title", "role", "for", "min", "max", "step",
  "rows", "cols", "colspan", "disabled", "checked", "selected", "readonly", "required", "autocomplete",
  "tabindex", "lang", "hidden", "download", "href", "src", "alt", "width", "height", "maxlength",
  "viewBox", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "d", "points", "fill", "stroke",
  "stroke-width", "text-anchor", "dominant-baseline", "transform", "opacity", "font-size", "rx",
  "data-testid", "data-key", "data-route", "data-id", "data-category", "aria-label", "aria-live",
  "aria-hidden", "aria-pressed", "aria-current", "open", "multiple", "size", "accept", "spellcheck", "list",
  "scope", "aria-modal", "aria-labelledby", "aria-describedby", "aria-expanded", "aria-controls",
]);
const SVG_NS = "http://www.w3.org/2000/svg";
const SVG_TAGS = new Set(["svg", "g", "path", "line", "rect", "circle", "text", "polyline", "title", "tspan"]);

// Only our own same-origin paths may become a link or an image source: a crawled URL never does.
export function isLocalPath(value) {
  return typeof value === "string" && value.startsWith("/") && !value.startsWith("//") && !value.includes("\\");
}

function setAttr(el, key, value) {
  if (value === undefined || value === null || value === false) return;
  if (key === "href" || key === "src") {
    if (!isLocalPath(String(value)) && !String(value).startsWith("#")) throw new Error(`refusing non-local ${key}`);
  }
  if (key.startsWith("data-") || SAFE_ATTRS.has(key)) {
    el.setAttribute(key, value === true ? "" : String(value));
  } else {
    throw new Error(`attribute not allowed: ${key}`);
  }
}

export function h(tag, attrs, ...children) {
  const svg = SVG_TAGS.has(tag);
  const el = svg ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "on") {
        for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
      } else if (key === "text") {
        el.textContent = value == null ? "" : String(value);
      } else {
        setAttr(el, key, value);
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function fmtDate(value, locale) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(locale === "kk" ? "kk-KZ" : locale === "en" ? "en-GB" : "ru-RU", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

export function fmtPct(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return `${(Number(value) * 100).toFixed(1)}%`;
}

export function fmtNum(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return Number(value).toFixed(digits);
}

// Accept a bare list or any of the usual pagination envelopes.
export function listOf(payload) {
  if (Array.isArray(payload)) return payload;
  if (!payload || typeof payload !== "object") return [];
  for (const key of ["items", "data", "results", "cases", "users", "sources", "versions", "tasks", "votes", "invites"]) {
    if (Array.isArray(payload[key])) return payload[key];
  }
  return [];
}

export function table(columns, rows, opts = {}) {
  const head = h("tr", null, columns.map((c) => h("th", null, c.label)));
  const body = rows.length
    ? rows.map((row) => h("tr", opts.rowAttrs ? opts.rowAttrs(row) : null,
      columns.map((c) => h("td", c.cls ? { class: c.cls } : null, c.render ? c.render(row) : (row[c.key] ?? "—")))))
    : [h("tr", null, h("td", { colspan: columns.length, class: "muted" }, opts.empty || "—"))];
  return h("table", { class: "grid" + (opts.cls ? " " + opts.cls : "") }, h("thead", null, head), h("tbody", null, body));
}

// A modal <dialog>: the page behind it is inert (no Tab, click or key reaches it) until it closes;
// focus goes to its first control and back to where it was. Esc closes it (``onCancel`` first).
export function modal(attrs, children, { onCancel, onClose } = {}) {
  const returnTo = document.activeElement;
  const dialog = h("dialog", { class: "dialog", ...attrs }, children);
  if (onCancel) dialog.addEventListener("cancel", onCancel);
  // Tab cycles through the dialog's own controls (the browser would otherwise leave the page).
  dialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const controls = [...dialog.querySelectorAll("button:not([disabled]), a[href], input, select, textarea, [tabindex]:not([tabindex='-1'])")];
    if (!controls.length) return;
    const [first, last] = [controls[0], controls[controls.length - 1]];
    if (e.shiftKey ? document.activeElement === first : document.activeElement === last) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose();
    if (returnTo && returnTo.isConnected && typeof returnTo.focus === "function") returnTo.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
