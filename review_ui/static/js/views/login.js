// Sign-in and invitation acceptance.
import { api } from "../api.js";
import { h } from "../dom.js";
import { t, locale } from "../i18n.js";
import { showError, signedIn, homeRoute, errorMessage } from "../app.js";

export async function loginView(main) {
  const email = h("input", { id: "email", type: "email", autocomplete: "username", required: true, "data-testid": "email" });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "password" });
  const error = h("p", { class: "error", "aria-live": "polite" });
  const form = h("form", { class: "card login", "data-testid": "login-form", on: { submit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      await api.login(email.value.trim(), password.value);
      const user = await api.me();
      await signedIn(user);
      location.hash = `#/${homeRoute(user.role)}`;
    } catch (err) {
      error.textContent = errorMessage(err);
    }
  } } },
  h("h1", null, t("login.title")),
  h("label", { for: "email" }, t("login.email")), email,
  h("label", { for: "password" }, t("login.password")), password,
  h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, t("login.submit")), error);
  main.append(form);
  email.focus();
}

export async function inviteView(main, token) {
  let info = null;
  try { info = await api.inviteInfo(token); } catch (err) { main.append(h("p", { class: "error" }, t("invite.invalid"))); showError(err); return; }
  const name = h("input", { id: "name", maxlength: 200, autocomplete: "nickname" });
  const email = h("input", { id: "email", type: "email", required: true, autocomplete: "username", value: info.email || "" });
  const password = h("input", { id: "password", type: "password", required: true, autocomplete: "new-password" });
  // The server's rule (SAQSHY_TRIAGE_PASSWORD_MIN_CHARS), told with the invitation: one number for both.
  const least = Number(info.password_min_chars) || 12;
  password.minLength = least;
  const form = h("form", { class: "card login", on: { submit: async (e) => {
    e.preventDefault();
    try {
      await api.register({ token, display_name: name.value.trim() || null, email: email.value.trim(), password: password.value, locale: locale() });
      history.replaceState(null, "", "/#/login");
      location.reload();
    } catch (err) { showError(err); }
  } } },
  h("h1", null, t("invite.title")), h("p", { class: "muted" }, t("invite.role", { role: t(`role.${info.role}`) })),
  h("label", { for: "name" }, t("invite.name")), name,
  h("label", { for: "email" }, t("login.email")), email,
  h("label", { for: "password" }, t("invite.password", { n: least })), password,
  h("button", { type: "submit", class: "primary" }, t("invite.submit")));
  main.append(form);
}
