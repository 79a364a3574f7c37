// The only way the console reaches the server: the public /api/v1 with the bearer token.
import * as session from "./session.js";

export const API = "/api/v1";

// An RFC 9457 answer, kept whole: the code, the fields and the IIS symptom are what the forms show.
export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || "";
    this.title = body.title || "";
    this.detail = body.detail || "";
    this.iis_symptom = body.iis_symptom || "";
    this.errors = Array.isArray(body.errors) ? body.errors : [];
  }

  // The refusals that name this field (or one inside it, e.g. `rules[0].match_criteria`).
  forField(field) {
    return this.errors.filter((e) => e.field === field || (e.field || "").startsWith(field + "[") || (e.field || "").startsWith(field + "."));
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// Answers {status, etag, body}; throws Problem for every error answer. A 401 signs the user out
// with the server's reason, so an expired token lands on the sign-in form saying so.
// `token` tries a token that is not signed in yet (the sign-in form), without signing anyone out.
export async function call(method, path, { json, body, headers = {}, text = false, token } = {}) {
  const h = { Accept: "application/json, application/problem+json", ...headers };
  const t = token || session.token();
  if (t) h.Authorization = "Bearer " + t;
  let payload = body;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(API + path, { method, headers: h, body: payload, cache: "no-store" });
  } catch (e) {
    throw new Problem(0, { title: "The server cannot be reached", detail: String(e.message || e) });
  }
  const type = res.headers.get("Content-Type") || "";
  if (!res.ok) {
    let problem = { title: res.statusText };
    if (type.includes("json")) problem = await res.json().catch(() => problem);
    const p = new Problem(res.status, problem);
    if (res.status === 401 && !token) session.signOut(p.detail || "the server refused the token");
    throw p;
  }
  let out = null;
  if (res.status !== 204) out = text || !type.includes("json") ? await res.text() : await res.json();
  return { status: res.status, etag: res.headers.get("ETag"), type, body: out };
}

export const get = (path, opts) => call("GET", path, opts);
