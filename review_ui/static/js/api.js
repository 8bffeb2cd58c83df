// The only module that talks to the server: every path of the public triage API the UI uses is here.
// The browser session is an HTTP-only cookie set by the API; state-changing calls echo the CSRF token
// (readable cookie or login response) in a header, as the API asks.

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// Kept for the tab's life so a reload keeps working; the session cookie itself stays HTTP-only.
let csrfToken = null;
try { csrfToken = sessionStorage.getItem("saqshy.csrf"); } catch { /* storage disabled */ }

export function rememberCsrf(token) {
  csrfToken = token || null;
  try {
    if (token) sessionStorage.setItem("saqshy.csrf", token); else sessionStorage.removeItem("saqshy.csrf");
  } catch { /* storage disabled */ }
}
const CSRF_HEADER = "X-CSRF-Token";

function csrfFromCookie() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name && name.toLowerCase().includes("csrf")) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function detailOf(body, status) {
  if (!body) return `HTTP ${status}`;
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return `HTTP ${status}`;
}

export async function request(method, path, { json, query, form, raw } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "") continue;
      params.append(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = new URLSearchParams(form);
  }
  if (method !== "GET" && method !== "HEAD") {
    const token = csrfFromCookie() || csrfToken;
    if (token) headers[CSRF_HEADER] = token;
  }
  const res = await fetch(url, init);
  if (raw) {
    if (!res.ok) throw new ApiError(res.status, `HTTP ${res.status}`, null);
    return res;
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, detailOf(body, res.status), body);
  return body;
}

const get = (path, query) => request("GET", path, { query });
const post = (path, json) => request("POST", path, { json: json ?? {} });
const patch = (path, json) => request("PATCH", path, { json });
const put = (path, json) => request("PUT", path, { json });
const del = (path, query) => request("DELETE", path, { query });

// Which operations the server offers ("PATCH /sources/{source_id}"), read once from its OpenAPI
// schema, so a view can leave out a control whose endpoint this deployment does not have.
let operations = null;
export async function supports(method, path) {
  if (!operations) {
    operations = (async () => {
      const spec = await request("GET", "/openapi.json");
      const found = new Set();
      for (const [p, item] of Object.entries((spec && spec.paths) || {})) {
        for (const m of Object.keys(item)) found.add(`${m.toUpperCase()} ${p}`);
      }
      return found;
    })().catch(() => new Set());
  }
  return (await operations).has(`${method} ${path}`);
}
const id = (value) => encodeURIComponent(value);

export const api = {
  // auth, users, invites (triage_api/routes/auth.py, users.py, invites.py)
  async login(email, password) {
    // POST /auth/session: the browser login (HTTP-only cookie + CSRF token); /auth/login is for bearer clients.
    const body = await request("POST", "/auth/session", { json: { email, password } });
    if (body && body.csrf_token) rememberCsrf(body.csrf_token);
    return body;
  },
  logout: () => post("/auth/logout").finally(() => rememberCsrf(null)),
  me: () => get("/users/me"),
  updateMe: (fields) => patch("/users/me", fields),
  users: (query) => get("/users", query),
  user: (userId) => get(`/users/${id(userId)}`),
  updateUser: (userId, fields) => patch(`/users/${id(userId)}`, fields),
  createInvite: (fields) => post("/invites", fields),
  invites: (query) => get("/invites", query),
  inviteInfo: (token) => get(`/auth/invites/${id(token)}`),
  register: (fields) => post("/auth/register", fields),

  // queue and votes (tasks.py, votes.py)
  // only: { category, language } narrows the claim (empty: any).
  claimNext: (only) => request("POST", "/tasks/claim", { json: {}, query: only }),
  available: (only) => get("/tasks/available", only),
  // an item's images: our own re-encoded thumbnails only (thumbnail_url), never the crawled URL
  itemMedia: (itemId) => get(`/items/${id(itemId)}/media`),
  extendLease: (taskId) => post(`/tasks/${id(taskId)}/lease`),
  // skip: the API does not serve the task to this volunteer again for the shift.
  releaseLease: (taskId, skip = false) => del(`/tasks/${id(taskId)}/lease`, skip ? { skip: "true" } : undefined),
  vote: (taskId, fields) => post(`/tasks/${id(taskId)}/votes`, fields),
  undoVote: (voteId) => post(`/votes/${id(voteId)}/undo`),
  myVotes: (query) => get("/votes/mine", query),
  myDecision: (taskId) => get(`/votes/mine/${id(taskId)}`),

  // moderation (moderation.py)
  moderationQueue: (query) => get("/moderation/queue", query),
  moderationTask: (taskId) => get(`/moderation/tasks/${id(taskId)}`),
  resolve: (taskId, fields) => post(`/moderation/tasks/${id(taskId)}/resolve`, fields),
  thresholds: () => get("/moderation/thresholds"),
  setThreshold: (category, threshold) => put(`/moderation/thresholds/${id(category)}`, { threshold }),
  // items that joined a decided near-duplicate cluster (reposts): acknowledge the decision or reopen
  reposts: (query) => get("/moderation/reposts", query),
  acknowledgeRepost: (repostId) => post(`/moderation/reposts/${id(repostId)}/acknowledge`),
  reopenRepost: (repostId) => post(`/moderation/reposts/${id(repostId)}/reopen`),
  audit: (query) => get("/audit", query),

  // cases, search, statistics, sources (cases.py, search.py, stats.py, sources.py)
  cases: (query) => get("/cases", query),
  case: (caseId) => get(`/cases/${id(caseId)}`),
  evidenceUrl: (caseId) => `/cases/${id(caseId)}/evidence`,
  evidence: (caseId) => request("GET", `/cases/${id(caseId)}/evidence`, { raw: true }),
  acknowledge: (caseId) => post(`/cases/${id(caseId)}/acknowledge`),
  setOutcome: (caseId, outcome, note) => put(`/cases/${id(caseId)}/outcome`, { outcome, note: note || null }),
  myOutcomes: (query) => get("/cases/outcomes/mine", query),
  search: (query) => get("/search", query),
  stats: (query) => get("/stats", query),
  sources: (query) => get("/sources", query),
  updateSource: (sourceId, fields) => patch(`/sources/${id(sourceId)}`, fields),
  crawlStatus: () => get("/sources/crawl-status"),

  // staff screens: search, audit log, gold tasks, sources (search.py, audit.py, moderation.py, sources.py)
  auditActions: () => get("/audit/actions"),
  auditVerify: () => get("/audit/verify"),
  tasks: (query) => get("/tasks", query),
  goldFromItem: (itemId, fields) => post(`/moderation/items/${id(itemId)}/gold`, fields),
  sourceCandidates: (query) => get("/sources/candidates", query),
  createSource: (fields) => post("/sources", fields),
  crawlSourceNow: (sourceId) => post(`/sources/${id(sourceId)}/crawl`),
  acceptSource: (sourceId) => post(`/sources/${id(sourceId)}/accept`),
  rejectSource: (sourceId) => post(`/sources/${id(sourceId)}/reject`),

  // model registry and score distribution (models.py, written with the UI)
  models: () => get("/models"),
  model: (version) => get(`/models/${id(version)}`),
  drift: (query) => get("/models/drift", query),
  // the retraining loop (models.py): train a candidate as a job, its gate report, promotion, rollback
  startRetrain: (fields) => post("/models/retrain", fields),
  retrainJob: (key) => get(`/models/retrain/${id(key)}`),
  cancelRetrain: (key) => post(`/models/retrain/${id(key)}/cancel`),
  gateReport: (version) => get(`/models/${id(version)}/gate`),
  promoteModel: (version, fields) => post(`/models/${id(version)}/promote`, fields),
  rollbackModel: (fields) => post("/models/rollback", fields),
  // decided labels per category and language against their target (cases.py, active learning)
  labelCoverage: () => get("/labels/coverage"),

  // reviewer wellbeing (wellbeing.py, written with the UI)
  wellbeing: () => get("/wellbeing/me"),
  updateWellbeing: (fields) => put("/wellbeing/me", fields),
  userWellbeing: (userId) => get(`/wellbeing/users/${id(userId)}`),
  setUserWellbeing: (userId, fields) => put(`/wellbeing/users/${id(userId)}`, fields),
};
