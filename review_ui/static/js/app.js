// Saqshy review UI: a hash-routed single-page app. No framework, no build step, no remote resource.
import { api, ApiError } from "./api.js";
import { h, clear } from "./dom.js";
import { loadLocale, t, has, LOCALES, locale } from "./i18n.js";
import { categoryLabel } from "./categories.js";
import { queueView } from "./views/queue.js";
import { meView } from "./views/me.js";
import { decisionView } from "./views/decision.js";
import { moderationView } from "./views/moderation.js";
import { policeView, caseView } from "./views/police.js";
import { mlView } from "./views/ml.js";
import { adminView } from "./views/admin.js";
import { loginView, inviteView } from "./views/login.js";
import { settingsView } from "./views/settings.js";
import { searchView } from "./views/search.js";
import { auditView } from "./views/audit.js";
import { goldView } from "./views/gold.js";
import { sourcesView } from "./views/sources.js";

export const state = { user: null, teardown: null };
let routeCount = 0;

const NAV = [
  { route: "queue", key: "nav.queue", roles: ["volunteer", "moderator", "admin"] },
  { route: "me", key: "nav.me", roles: ["volunteer", "moderator", "admin"] },
  { route: "moderation", key: "nav.moderation", roles: ["moderator", "admin"] },
  { route: "police", key: "nav.police", roles: ["police", "admin"] },
  { route: "ml", key: "nav.ml", roles: ["ml_engineer", "admin"] },
  { route: "admin", key: "nav.admin", roles: ["admin"] },
  { route: "search", key: "nav.search", roles: ["moderator", "police", "ml_engineer", "admin"] },
  { route: "gold", key: "nav.gold", roles: ["moderator", "admin"] },
  { route: "sources", key: "nav.sources", roles: ["moderator", "admin"] },
  { route: "audit", key: "nav.audit", roles: ["admin"] },
  { route: "settings", key: "nav.settings", roles: ["volunteer", "moderator", "police", "ml_engineer", "admin"] },
];

const VIEWS = {
  queue: queueView, me: meView, decision: decisionView, moderation: moderationView, police: policeView, case: caseView,
  ml: mlView, admin: adminView, settings: settingsView,
  search: searchView, gold: goldView, sources: sourcesView, audit: auditView,
};

export function homeRoute(role) {
  return { police: "police", ml_engineer: "ml", admin: "admin" }[role] || "queue";
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 6000 : 2500);
}

export function showError(err) {
  if (err instanceof ApiError && err.status === 401) {
    state.user = null;
    location.hash = "#/login";
    return;
  }
  toast(`${t("error.prefix")}: ${errorMessage(err)}`, "error");
}

// Params of an error body shown as a person reads them: a field, role or category by its label.
function readableParams(params) {
  const out = { ...(params || {}) };
  if (out.field) {
    const last = String(out.field).split(".").pop();
    out.field = has(`field.${last}`) ? t(`field.${last}`) : last;
  }
  if (out.role && has(`role.${out.role}`)) out.role = t(`role.${out.role}`);
  if (out.category) out.category = categoryLabel(out.category);
  return out;
}

// The server's stable error code translated (errors.<code>), else a message per HTTP status:
// the English ``detail`` of the server is never shown.
export function errorMessage(err) {
  if (err instanceof ApiError) {
    const body = err.body && typeof err.body === "object" ? err.body : {};
    if (body.code && has(`errors.${body.code}`)) return t(`errors.${body.code}`, readableParams(body.params));
    if (has(`errors.http_${err.status}`)) return t(`errors.http_${err.status}`);
    return t(err.status >= 500 ? "errors.http_500" : "errors.error");
  }
  if (err instanceof TypeError) return t("errors.network");  // fetch found no server
  console.error(err);  // eslint-disable-line no-console
  return t("errors.error");
}

export async function setLocale(next) {
  // The language already shown (and saved): a redraw would only drop what the user was doing.
  if (next === locale() && (!state.user || state.user.locale === next)) return;
  await loadLocale(next);
  if (state.user) {
    try { await api.updateMe({ locale: next }); state.user.locale = next; } catch (err) { showError(err); }
  }
  try { localStorage.setItem("saqshy.locale", next); } catch { /* private mode */ }
  // Redrawing the navigation removes the button just used: keep a keyboard user's place.
  const fromLangButton = Boolean(document.activeElement && document.activeElement.closest(".langs"));
  renderChrome();
  if (fromLangButton) document.querySelector(`[data-testid=lang-${locale()}]`)?.focus();
  route();
}

function renderChrome() {
  document.title = t("app.title");
  const nav = clear(document.getElementById("nav"));
  const user = state.user;
  nav.setAttribute("aria-label", t("a11y.nav"));
  nav.append(skipLink(), h("a", { href: "#/", class: "brand" }, "Saqshy"));
  if (user) {
    for (const item of NAV) {
      if (item.roles.includes(user.role)) {
        nav.append(h("a", { href: `#/${item.route}`, "data-route": item.route, "data-testid": `nav-${item.route}` }, t(item.key)));
      }
    }
  }
  const spacer = h("span", { class: "spacer" });
  const langs = h("span", { class: "langs", role: "group", "aria-label": t("nav.language") },
    LOCALES.map((code) => h("button", {
      type: "button", class: code === locale() ? "lang active" : "lang", "aria-pressed": String(code === locale()),
      "data-testid": `lang-${code}`, on: { click: () => setLocale(code) },
    }, code.toUpperCase())));
  nav.append(spacer, langs);
  if (user) {
    nav.append(h("span", { class: "who", title: user.role }, user.display_name || user.email || ""),
      h("button", { type: "button", class: "link", "data-testid": "logout", on: { click: logout } }, t("nav.logout")));
  }
  highlightNav();
}

// Keyboard users jump past the navigation; a plain #main link would be taken for a route.
function skipLink() {
  return h("a", { href: "#/", class: "skip", "data-testid": "skip", on: { click: (e) => { e.preventDefault(); focusMain(); } } }, t("a11y.skip"));
}

function focusMain() {
  const main = document.getElementById("main");
  main.setAttribute("tabindex", "-1");
  main.focus();
}

// After a route change the focus would stay on the link just used (or fall to the body): take it
// to the new page, unless the view has put it somewhere itself.
function focusNewPage() {
  const active = document.activeElement;
  if (!active || active === document.body || document.getElementById("nav").contains(active)) focusMain();
}

function highlightNav() {
  const current = (location.hash.replace(/^#\/?/, "").split("/")[0]) || "";
  for (const a of document.querySelectorAll("#nav a[data-route]")) {
    if (a.dataset.route === current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

async function logout() {
  try { await api.logout(); } catch { /* the session may already be gone */ }
  state.user = null;
  renderChrome();
  location.hash = "#/login";
}

export async function signedIn(user) {
  state.user = user;
  if (user.locale && LOCALES.includes(user.locale) && user.locale !== locale()) await loadLocale(user.locale);
  renderChrome();
}

// A view's teardown, unless the user has moved on while it loaded (a queue's claim still in
// flight): then it runs at once, so the task goes back and the view's keys stop.
function adopt(current, teardown) {
  if (current === routeCount) state.teardown = teardown || null;
  else if (teardown) teardown();
}

async function route() {
  const current = ++routeCount;
  if (state.teardown) { try { state.teardown(); } catch { /* ignore */ } state.teardown = null; }
  // A fresh container a route: a view still loading for the page just left draws into a detached one.
  const main = h("div", { class: "page" });
  clear(document.getElementById("main")).append(main);
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  let [name, ...args] = parts; // eslint-disable-line prefer-const
  highlightNav();
  // Invite links are server paths (/invite/TOKEN, as the API hands them out) or #/invite/TOKEN.
  if (location.pathname.startsWith("/invite/")) { name = "invite"; args = [decodeURIComponent(location.pathname.slice(8))]; }
  if (name === "invite") { adopt(current, await inviteView(main, args[0])); return; }
  if (!state.user) {
    if (name !== "login") { location.hash = "#/login"; return; }
    adopt(current, await loginView(main));
    return;
  }
  if (!name || name === "login") { location.hash = `#/${homeRoute(state.user.role)}`; return; }
  if (name === "cases" && args.length) { name = "case"; }
  if (name === "me" && args[0] === "decision") { name = "decision"; args = args.slice(1); }
  const view = VIEWS[name];
  if (!view) { main.append(h("p", { class: "muted" }, t("error.not_found"))); return; }
  try {
    adopt(current, await view(main, ...args));
  } catch (err) {
    showError(err);
  }
}

async function start() {
  let preferred = "ru";
  try { preferred = localStorage.getItem("saqshy.locale") || "ru"; } catch { /* ignore */ }
  await loadLocale(preferred);
  try {
    const user = await api.me();
    await signedIn(user);
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 403)) showError(err);
    renderChrome();
  }
  window.addEventListener("hashchange", () => route().then(focusNewPage));
  await route();
  document.body.dataset.ready = "1";
}

start();
