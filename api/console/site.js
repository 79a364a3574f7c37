// One site: its settings and directories, mappings, rules, health and rendered config, as tabs.
import { html, useState, useAction, useLoad, Loading, ConfirmButton, siteHref } from "./widgets.js";
import { call } from "./api.js";
import * as session from "./session.js";
import { SiteForm } from "./sites.js";
import { Directories } from "./directories.js";
import { MappingsTab } from "./mappings.js";
import { RulesTab } from "./rules.js";
import { HealthTab } from "./health.js";
import { ConfigTab } from "./config.js";

const TABS = [
  ["settings", "Settings and directories"],
  ["mappings", "One-to-one mappings"],
  ["rules", "Many-to-one rules"],
  ["health", "Health"],
  ["config", "Config"],
];

function Settings({ site, etag, reload }) {
  const { busy, problem, run } = useAction();
  const [saved, setSaved] = useState("");
  const save = (body) =>
    run(async () => {
      setSaved("");
      await call("PATCH", `/sites/${site.id}`, { json: body, headers: { "If-Match": etag } });
      setSaved("Saved.");
      reload();
    });
  const remove = () =>
    run(async () => {
      await call("DELETE", `/sites/${site.id}`, { headers: { "If-Match": etag } });
      location.hash = "#/sites";
    });
  return html`<section class="panel" aria-labelledby="settings-h">
    <h2 id="settings-h">Site settings</h2>
    <${SiteForm} key=${etag} initial=${site} submitLabel="Save site" onSubmit=${save} problem=${problem} busy=${busy} readOnly=${!session.canWrite()} />
    <p role="status">${saved}</p>
    ${session.canWrite() && html`<${ConfirmButton} label="Delete site" question=${`Delete ${site.name} with all its directories and mappings?`} onConfirm=${remove} busy=${busy} />`}
  </section>`;
}

export function SitePage({ id, tab }) {
  const [state, reload] = useLoad(() => call("GET", `/sites/${id}`), [id]);
  return html`<${Loading} state=${state}>
    ${(res) => {
      const site = res.body;
      let body;
      if (tab === "mappings") body = html`<${MappingsTab} site=${site} />`;
      else if (tab === "rules") body = html`<${RulesTab} site=${site} />`;
      else if (tab === "health") body = html`<${HealthTab} site=${site} />`;
      else if (tab === "config") body = html`<${ConfigTab} site=${site} />`;
      else body = html`<${Settings} site=${site} etag=${res.etag} reload=${reload} /><${Directories} site=${site} onChange=${reload} />`;
      return html`<h1>${site.name}</h1>
        <p class="crumbs"><a href="#/sites">All sites</a> · ${site.hostnames.join(", ") || "no host names"} · mapping ${site.certificate_mapping.enabled ? "enabled" : "off"}</p>
        <nav class="tabs" aria-label="Site sections">
          <ul>${TABS.map(([t, label]) => html`<li><a href=${siteHref(site.id, t)} aria-current=${tab === t ? "page" : undefined}>${label}</a></li>`)}</ul>
        </nav>
        ${body}`;
    }}
  <//>`;
}
