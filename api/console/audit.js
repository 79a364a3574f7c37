// The audit log, for admins: recent changes, filtered by site and actor, newest first.
import { html, useState, useLoad, Loading, usePager, Pager, TableBox, when, siteHref } from "./widgets.js";
import { call, query } from "./api.js";

function Json({ label, value }) {
  if (!value) return null;
  return html`<details><summary>${label}</summary><pre>${JSON.stringify(value, null, 2)}</pre></details>`;
}

export function AuditPage() {
  const pager = usePager();
  const [filter, setFilter] = useState({ site_id: "", actor: "" });
  const [draft, setDraft] = useState(filter);
  const [sites] = useLoad(() => call("GET", "/sites?limit=500").then((r) => r.body.items), []);
  const [state] = useLoad(() => call("GET", "/audit" + query({ ...filter, limit: 50, cursor: pager.cursor })).then((r) => r.body), [pager.cursor, filter.site_id, filter.actor]);
  const names = Object.fromEntries((sites.data || []).map((s) => [s.id, s.name]));
  const apply = (e) => {
    e.preventDefault();
    pager.reset();
    setFilter({ ...draft, actor: draft.actor.trim() });
  };
  return html`<h1>Audit log</h1>
    <form class="filters" onSubmit=${apply} role="search" aria-label="Filter the audit log">
      <div class="field"><label for="a-site">Site</label>
        <select id="a-site" value=${draft.site_id} onChange=${(e) => setDraft({ ...draft, site_id: e.target.value })}>
          <option value="">every site</option>
          ${(sites.data || []).map((s) => html`<option value=${String(s.id)}>${s.name}</option>`)}
        </select></div>
      <div class="field"><label for="a-actor">Actor (e.g. token:alice)</label><input id="a-actor" value=${draft.actor} onInput=${(e) => setDraft({ ...draft, actor: e.target.value })} /></div>
      <button type="submit">Filter</button>
    </form>
    <${Loading} state=${state}>
      ${(page) => html`<${TableBox} label="Audit events">
          <table>
            <caption>${page.items.length} event(s), newest first</caption>
            <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Role</th><th scope="col">Action</th><th scope="col">Site</th><th scope="col">Resource</th><th scope="col">Change</th></tr></thead>
            <tbody>
              ${page.items.map(
                (e) => html`<tr>
                  <td>${when(e.at)}</td>
                  <td>${e.actor}${e.remote_addr ? html`<br /><small>${e.remote_addr}</small>` : ""}</td>
                  <td>${e.role}</td>
                  <td><code>${e.action}</code></td>
                  <td>${e.site_id ? html`<a href=${siteHref(e.site_id)}>${names[e.site_id] || "site " + e.site_id}</a>` : "—"}</td>
                  <td>${e.resource}${e.resource_id ? " " + e.resource_id : ""}</td>
                  <td><${Json} label="Before" value=${e.before} /><${Json} label="After" value=${e.after} /></td>
                </tr>`,
              )}
            </tbody>
          </table>
        <//>
        <${Pager} pager=${pager} nextCursor=${page.next_cursor} label="Audit pages" />`}
    <//>`;
}
