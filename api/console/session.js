// The bearer token lives in sessionStorage only: it survives a reload of this tab, never reaches
// a URL, and is gone when the tab closes or the user signs out.
const KEY = "certmap.token";

let listeners = [];
let reason = "";

export function token() {
  return sessionStorage.getItem(KEY);
}

// Claims are read only to hide controls the role may not use; the server decides every request.
export function claims() {
  const t = token();
  if (!t) return null;
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

export function role() {
  return (claims() || {}).role || "reader";
}

export const canWrite = () => ["admin", "editor"].includes(role());
export const isAdmin = () => role() === "admin";

export function signIn(t) {
  sessionStorage.setItem(KEY, t.trim());
  reason = "";
  notify();
}

// `why` is the server's own explanation (e.g. "the token has expired"), shown on the sign-in form.
export function signOut(why = "") {
  sessionStorage.removeItem(KEY);
  reason = why;
  notify();
}

export function signOutReason() {
  return reason;
}

export function onChange(fn) {
  listeners.push(fn);
  return () => {
    listeners = listeners.filter((l) => l !== fn);
  };
}

function notify() {
  for (const l of listeners) l();
}
