// The site list, with search and the create form; `SiteForm` is also the site's settings pane.
import { html, useState, ProblemBox, FieldProblems, useAction, useLoad, Loading, usePager, Pager, TableBox, siteHref } from "./widgets.js";
import { call, query } from "./api.js";
import * as session from "./session.js";

const LOGON_METHODS = ["ClearText", "Network", "Interactive", "Batch"];

export const emptySettings = { enabled: true, one_to_one_enabled: true, many_to_one_enabled: true, logon_method: "ClearText", default_logon_domain: "" };

export function hostnamesText(list) {
  return (list || []).join(", ");
}

function splitHostnames(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

// Name, host names and the site-level mapping settings: the only place IIS honours them.
export function SiteForm({ initial, submitLabel, onSubmit, problem, busy, readOnly }) {
  const [name, setName] = useState(initial.name || "");
  const [hosts, setHosts] = useState(hostnamesText(initial.hostnames));
  const [cm, setCm] = useState({ ...emptySettings, ...(initial.certificate_mapping || {}) });
  const set = (k) => (e) => setCm({ ...cm, [k]: e.target.type === "checkbox" ? e.target.checked : e.target.value });
  const submit = (e) => {
    e.preventDefault();
    onSubmit({ name: name.trim(), hostnames: splitHostnames(hosts), certificate_mapping: cm });
  };
  const f = (field) => `site-${field}-problem`;
  return html`<form class="site-form" onSubmit=${submit}>
    <fieldset disabled=${readOnly}>
      <legend>Site</legend>
      <div class="field">
        <label for="site-name">Site name (as in IIS)</label>
        <input id="site-name" required value=${name} onInput=${(e) => setName(e.target.value)} aria-describedby=${f("name")} />
        <${FieldProblems} problem=${problem} field="name" id=${f("name")} />
      </div>
      <div class="field">
        <label for="site-hostnames">Host names</label>
        <input id="site-hostnames" value=${hosts} onInput=${(e) => setHosts(e.target.value)} aria-describedby="site-hostnames-hint ${f("hostnames")}" />
        <p class="hint" id="site-hostnames-hint">Separated by commas or spaces, e.g. www.contoso.com</p>
        <${FieldProblems} problem=${problem} field="hostnames" id=${f("hostnames")} />
      </div>
    </fieldset>
    <fieldset disabled=${readOnly}>
      <legend>Client certificate mapping (site root)</legend>
      <div class="check"><input type="checkbox" id="cm-enabled" checked=${cm.enabled} onChange=${set("enabled")} /><label for="cm-enabled">Certificate mapping enabled</label></div>
      <div class="check"><input type="checkbox" id="cm-one" checked=${cm.one_to_one_enabled} onChange=${set("one_to_one_enabled")} /><label for="cm-one">One-to-one mappings enabled</label></div>
      <div class="check"><input type="checkbox" id="cm-many" checked=${cm.many_to_one_enabled} onChange=${set("many_to_one_enabled")} /><label for="cm-many">Many-to-one mappings enabled</label></div>
      <div class="field">
        <label for="cm-logon">Logon method</label>
        <select id="cm-logon" value=${cm.logon_method} onChange=${set("logon_method")}>
          ${LOGON_METHODS.map((m) => html`<option value=${m}>${m}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="cm-domain">Default logon domain</label>
        <input id="cm-domain" value=${cm.default_logon_domain} onInput=${set("default_logon_domain")} aria-describedby=${f("cm")} />
        <${FieldProblems} problem=${problem} field="certificate_mapping" id=${f("cm")} />
      </div>
    </fieldset>
    ${!readOnly && html`<button type="submit" disabled=${busy}>${submitLabel}</button>`}
    <${ProblemBox} problem=${problem} skipFields=${["name", "hostnames", "certificate_mapping"]} />
  </form>`;
}

function CreateSite({ onCreated }) {
  const [open, setOpen] = useState(false);
  const { busy, problem, run } = useAction();
  if (!open) return html`<button type="button" onClick=${() => setOpen(true)}>New site</button>`;
  const create = (body) => run(async () => onCreated((await call("POST", "/sites", { json: body })).body));
  return html`<section class="panel" aria-labelledby="new-site">
    <h2 id="new-site">New site</h2>
    <${SiteForm} initial=${{}} submitLabel="Create site" onSubmit=${create} problem=${problem} busy=${busy} />
    <button type="button" onClick=${() => setOpen(false)}>Cancel</button>
  </section>`;
}

export function SitesPage() {
  const pager = usePager();
  const [search, setSearch] = useState("");
  const [state] = useLoad(() => call("GET", "/sites" + query({ limit: 100, cursor: pager.cursor })).then((r) => r.body), [pager.cursor]);
  const needle = search.trim().toLowerCase();
  const matches = (s) => !needle || s.name.toLowerCase().includes(needle) || s.hostnames.some((h) => h.toLowerCase().includes(needle));
  return html`<h1>Sites</h1>
    ${session.canWrite() && html`<${CreateSite} onCreated=${(s) => (location.hash = siteHref(s.id))} />`}
    <div class="field search">
      <label for="site-search">Search sites by name or host name</label>
      <input id="site-search" type="search" value=${search} onInput=${(e) => setSearch(e.target.value)} />
    </div>
    <${Loading} state=${state}>
      ${(page) => {
        const rows = page.items.filter(matches);
        return html`<${TableBox} label="Sites">
            <table>
              <caption>${rows.length} site(s)${needle ? ` matching “${search.trim()}”` : ""} on this page</caption>
              <thead><tr><th scope="col">Name</th><th scope="col">Host names</th><th scope="col">Mapping</th><th scope="col">Updated</th></tr></thead>
              <tbody>
                ${rows.map(
                  (s) => html`<tr>
                    <td><a href=${siteHref(s.id)}>${s.name}</a></td>
                    <td>${hostnamesText(s.hostnames) || "—"}</td>
                    <td>${s.certificate_mapping.enabled ? "enabled" : "off"}</td>
                    <td>${(s.updated_at || "").slice(0, 10)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          <//>
          <${Pager} pager=${pager} nextCursor=${page.next_cursor} label="Site pages" />`;
      }}
    <//>`;
}
