// Directories laid out like IIS Manager's SSL Settings and Authentication panes. The server's
// scoping refusals appear next to the field they name, with what IIS would have answered.
import { html, useState, ProblemBox, FieldProblems, useAction, useLoad, Loading, ConfirmButton } from "./widgets.js";
import { call } from "./api.js";
import * as session from "./session.js";

const SCHEMES = [
  ["anonymous_auth", "Anonymous Authentication"],
  ["basic_auth", "Basic Authentication"],
  ["windows_auth", "Windows Authentication"],
  ["digest_auth", "Digest Authentication"],
];

const IIS_DEFAULTS = { path: "", require_ssl: false, client_certificates: "ignore", anonymous_auth: true, basic_auth: false, windows_auth: false, digest_auth: false };

// `prefix` keeps ids unique when several directories are on one page.
function Panes({ value, onChange, problem, prefix, readOnly, offerSiteMapping }) {
  const set = (k, v) => onChange({ ...value, [k]: v });
  const pid = (f) => `${prefix}-${f}-problem`;
  return html`<div class="panes">
    <fieldset class="pane" disabled=${readOnly}>
      <legend>SSL Settings</legend>
      <div class="check">
        <input type="checkbox" id=${prefix + "-ssl"} checked=${value.require_ssl} onChange=${(e) => set("require_ssl", e.target.checked)} aria-describedby=${pid("require_ssl")} />
        <label for=${prefix + "-ssl"}>Require SSL</label>
      </div>
      <${FieldProblems} problem=${problem} field="require_ssl" id=${pid("require_ssl")} />
      <fieldset class="radios" aria-describedby=${pid("client_certificates")}>
        <legend>Client certificates</legend>
        ${["ignore", "accept", "require"].map(
          (c) => html`<div class="check">
            <input type="radio" name=${prefix + "-cc"} id=${prefix + "-cc-" + c} value=${c} checked=${value.client_certificates === c} onChange=${() => set("client_certificates", c)} />
            <label for=${prefix + "-cc-" + c}>${c[0].toUpperCase() + c.slice(1)}</label>
          </div>`,
        )}
      </fieldset>
      <${FieldProblems} problem=${problem} field="client_certificates" id=${pid("client_certificates")} />
    </fieldset>
    <fieldset class="pane" disabled=${readOnly}>
      <legend>Authentication</legend>
      ${SCHEMES.map(
        ([k, label]) => html`<div class="check">
            <input type="checkbox" id=${prefix + "-" + k} checked=${value[k]} onChange=${(e) => set(k, e.target.checked)} aria-describedby=${pid(k)} />
            <label for=${prefix + "-" + k}>${label}</label>
          </div>
          <${FieldProblems} problem=${problem} field=${k} id=${pid(k)} />`,
      )}
      ${offerSiteMapping &&
      html`<div class="check">
          <input type="checkbox" id=${prefix + "-cm"} checked=${!!value.certificate_mapping} onChange=${(e) => set("certificate_mapping", e.target.checked ? { enabled: true } : undefined)} aria-describedby=${prefix + "-cm-hint " + pid("certificate_mapping")} />
          <label for=${prefix + "-cm"}>IIS Client Certificate Mapping Authentication on this directory</label>
        </div>
        <p class="hint" id=${prefix + "-cm-hint"}>IIS Manager lets you set this on a directory; IIS only honours it at the site root (see the site settings above).</p>
        <${FieldProblems} problem=${problem} field="certificate_mapping" id=${pid("certificate_mapping")} />`}
    </fieldset>
  </div>`;
}

const PANE_FIELDS = ["require_ssl", "client_certificates", "certificate_mapping", "path", ...SCHEMES.map(([k]) => k)];

function pick(d) {
  const out = {};
  for (const k of Object.keys(IIS_DEFAULTS)) if (k !== "path") out[k] = d[k];
  return out;
}

function Directory({ site, dir, onChange }) {
  const [value, setValue] = useState(pick(dir));
  const { busy, problem, run } = useAction();
  const [saved, setSaved] = useState("");
  const url = `/sites/${site.id}/directories/${dir.id}`;
  const ifMatch = { "If-Match": `"${dir.revision}"` };
  const save = (e) => {
    e.preventDefault();
    run(async () => {
      setSaved("");
      await call("PATCH", url, { json: value, headers: ifMatch });
      setSaved(`${dir.path} saved.`);
      onChange();
    });
  };
  const remove = () =>
    run(async () => {
      await call("DELETE", url, { headers: ifMatch });
      onChange();
    });
  const prefix = "dir" + dir.id;
  return html`<form class="directory" onSubmit=${save} aria-labelledby=${prefix + "-h"}>
    <h3 id=${prefix + "-h"}>${dir.path} <span class="flags">sslFlags: ${dir.ssl_flags || "None"}</span></h3>
    <${Panes} value=${value} onChange=${setValue} problem=${problem} prefix=${prefix} readOnly=${!session.canWrite()} />
    ${session.canWrite() &&
    html`<div class="actions">
      <button type="submit" disabled=${busy}>Save ${dir.path}</button>
      <${ConfirmButton} label="Delete directory" question=${`Delete ${dir.path}?`} onConfirm=${remove} />
    </div>`}
    <p role="status">${saved}</p>
    <${ProblemBox} problem=${problem} skipFields=${PANE_FIELDS} />
  </form>`;
}

function NewDirectory({ site, onCreated }) {
  const [value, setValue] = useState({ ...IIS_DEFAULTS, path: "/secure", require_ssl: true, client_certificates: "require", anonymous_auth: false });
  const { busy, problem, run } = useAction();
  const create = (e) => {
    e.preventDefault();
    run(async () => {
      await call("POST", `/sites/${site.id}/directories`, { json: value });
      setValue({ ...IIS_DEFAULTS, path: "" });
      onCreated();
    });
  };
  return html`<form class="directory new" onSubmit=${create} aria-labelledby="newdir-h">
    <h3 id="newdir-h">Add a directory</h3>
    <div class="field">
      <label for="newdir-path">Path</label>
      <input id="newdir-path" required value=${value.path} onInput=${(e) => setValue({ ...value, path: e.target.value })} aria-describedby="newdir-path-problem" />
      <${FieldProblems} problem=${problem} field="path" id="newdir-path-problem" />
    </div>
    <${Panes} value=${value} onChange=${setValue} problem=${problem} prefix="newdir" offerSiteMapping=${true} />
    <button type="submit" disabled=${busy}>Add directory</button>
    <${ProblemBox} problem=${problem} skipFields=${PANE_FIELDS} />
  </form>`;
}

export function Directories({ site, onChange }) {
  const [state, reload] = useLoad(() => call("GET", `/sites/${site.id}/directories?limit=500`).then((r) => r.body), [site.id, site.revision]);
  const changed = () => {
    reload();
    onChange();
  };
  return html`<section class="panel" aria-labelledby="dirs-h">
    <h2 id="dirs-h">Directories</h2>
    <${Loading} state=${state}>
      ${(page) =>
        page.items.length
          ? page.items.map((d) => html`<${Directory} key=${d.id + ":" + d.revision} site=${site} dir=${d} onChange=${changed} />`)
          : html`<p>No directories yet: the site root only.</p>`}
    <//>
    ${session.canWrite() && html`<${NewDirectory} site=${site} onCreated=${changed} />`}
  </section>`;
}
