// The console's shell: sign-in, navigation and a hash router (the server serves one page).
import { html, render, useState, useEffect } from "./vendor/htm-preact-standalone.module.js";
import * as session from "./session.js";
import { call, Problem } from "./api.js";
import { ProblemBox } from "./widgets.js";
import { SitesPage } from "./sites.js";
import { SitePage } from "./site.js";
import { MappingEditPage } from "./mappings.js";
import { ExpiryPage } from "./health.js";
import { ImportPage } from "./import.js";
import { AuditPage } from "./audit.js";

function useHash() {
  const [hash, setHash] = useState(location.hash || "#/sites");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/sites");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function useSession() {
  const [, set] = useState(0);
  useEffect(() => session.onChange(() => set((n) => n + 1)), []);
  return session.token();
}

function SignIn() {
  const [value, setValue] = useState("");
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const reason = session.signOutReason();
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      // One cheap call proves the token before the console shows anything.
      await call("GET", "/sites?limit=1", { token: value.trim() });
      session.signIn(value);
    } catch (p) {
      setProblem(p.status === 403 ? new Problem(403, { title: "This token cannot use the console", detail: `${p.detail}. Use an admin, editor or reader token.` }) : p);
    } finally {
      setBusy(false);
    }
  }
  return html`<main id="main" class="signin">
    <h1>Sign in to certmap</h1>
    ${reason && html`<p class="problem" role="alert">You were signed out: ${reason}. Sign in again with a valid token.</p>`}
    <form onSubmit=${submit}>
      <label for="token">Bearer token</label>
      <p class="hint" id="token-hint">Paste a token from <code>certmap token issue --role admin|editor|reader</code>. It is kept in this tab only (session storage) and never put in a URL.</p>
      <input id="token" type="password" autocomplete="off" spellcheck="false" required aria-describedby="token-hint" value=${value} onInput=${(e) => setValue(e.target.value)} />
      <button type="submit" disabled=${busy || !value.trim()}>Sign in</button>
    </form>
    ${problem && html`<${ProblemBox} problem=${problem} />`}
  </main>`;
}

function route(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "sites" && parts[1] && parts[2] === "mappings" && parts[3]) {
    return { page: "mapping", site: Number(parts[1]), mapping: Number(parts[3]) };
  }
  if (parts[0] === "sites" && parts[1]) return { page: "site", site: Number(parts[1]), tab: parts[2] || "settings" };
  if (["health", "import", "audit"].includes(parts[0])) return { page: parts[0] };
  return { page: "sites" };
}

function Shell() {
  const hash = useHash();
  const r = route(hash);
  // A new page moves focus to its heading, so keyboard and screen reader users know where they are.
  useEffect(() => {
    const h = document.querySelector("main h1");
    if (h) {
      h.setAttribute("tabindex", "-1");
      h.focus();
    }
  }, [hash]);
  const claims = session.claims() || {};
  const nav = [
    ["sites", "#/sites", "Sites"],
    ["health", "#/health", "Expiring certificates"],
    ...(session.canWrite() ? [["import", "#/import", "Import IIS config"]] : []),
    ...(session.isAdmin() ? [["audit", "#/audit", "Audit log"]] : []),
  ];
  const current = r.page === "site" || r.page === "mapping" ? "sites" : r.page;
  let page;
  if (r.page === "site") page = html`<${SitePage} key=${r.site} id=${r.site} tab=${r.tab} />`;
  else if (r.page === "mapping") page = html`<${MappingEditPage} key=${hash} site=${r.site} id=${r.mapping} />`;
  else if (r.page === "health") page = html`<${ExpiryPage} />`;
  else if (r.page === "import") page = html`<${ImportPage} />`;
  else if (r.page === "audit") page = html`<${AuditPage} />`;
  else page = html`<${SitesPage} />`;
  return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand">certmap</span>
      <nav aria-label="Main">
        <ul>
          ${nav.map(([id, href, label]) => html`<li><a href=${href} aria-current=${current === id ? "page" : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <span class="who">${claims.sub || "token"} · ${session.role()}${claims.sites ? ` · ${claims.sites.length} site(s)` : ""}</span>
      <button type="button" onClick=${() => session.signOut()}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">${page}</main>`;
}

function App() {
  const token = useSession();
  return token ? html`<${Shell} />` : html`<${SignIn} />`;
}

render(html`<${App} />`, document.getElementById("app"));
