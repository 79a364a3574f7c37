// One-to-one mappings: a server-side paged, filtered table; adding by file drop or paste; and
// an edit page that sends If-Match and, when someone else changed the mapping meanwhile, shows
// what changed instead of overwriting it.
import { html, useState, ProblemBox, FieldProblems, useAction, certificateType, useLoad, Loading, usePager, Pager, TableBox, ConfirmButton, when, siteHref } from "./widgets.js";
import { call, query } from "./api.js";
import * as session from "./session.js";

const PAGE_SIZE = 50;

// Revocation is shown when the server knows it; older servers send nothing.
function revocation(m) {
  const r = m.revocation_status ?? m.revocation;
  if (!r) return "unknown";
  return typeof r === "string" ? r : r.status || "unknown";
}

function short(hex) {
  return hex ? hex.slice(0, 16) + "…" : "";
}

function Filters({ onApply }) {
  const [user, setUser] = useState("");
  const [fp, setFp] = useState("");
  const [enabled, setEnabled] = useState("");
  const apply = (e) => {
    e.preventDefault();
    onApply({ user_name: user.trim(), fingerprint: fp.trim(), enabled });
  };
  return html`<form class="filters" onSubmit=${apply} role="search" aria-label="Filter mappings">
    <div class="field"><label for="f-user">User (full account, e.g. CONTOSO\\alice)</label><input id="f-user" value=${user} onInput=${(e) => setUser(e.target.value)} /></div>
    <div class="field"><label for="f-fp">SHA-1 or SHA-256 fingerprint</label><input id="f-fp" value=${fp} onInput=${(e) => setFp(e.target.value)} /></div>
    <div class="field"><label for="f-enabled">Enabled</label>
      <select id="f-enabled" value=${enabled} onChange=${(e) => setEnabled(e.target.value)}>
        <option value="">any</option><option value="true">enabled</option><option value="false">disabled</option>
      </select>
    </div>
    <button type="submit">Filter</button>
  </form>`;
}

function Row({ site, m, onChange }) {
  const { problem, run } = useAction();
  const url = `/sites/${site.id}/mappings/${m.id}`;
  const ifMatch = { "If-Match": `"${m.revision}"` };
  const act = (method, json) =>
    run(async () => {
      await call(method, url, { json, headers: ifMatch });
      onChange();
    });
  return html`<tr class=${m.enabled ? "" : "disabled"}>
    <td>${m.user_name}</td>
    <td>${m.subject}</td>
    <td>${m.issuer}</td>
    <td><code title=${m.sha1}>${short(m.sha1)}</code></td>
    <td>${when(m.not_after)}${m.expired ? html` <strong>(expired)</strong>` : ""}</td>
    <td>${revocation(m)}</td>
    <td>${m.enabled ? "yes" : "no"}</td>
    <td class="actions">
      <a href=${`#/sites/${site.id}/mappings/${m.id}`}>${session.canWrite() ? "Edit" : "View"}<span class="sr-only"> ${m.user_name}</span></a>
      ${session.canWrite() &&
      html`<button type="button" onClick=${() => act("PATCH", { enabled: !m.enabled })}>${m.enabled ? "Disable" : "Enable"}<span class="sr-only"> ${m.user_name}</span></button>
        <${ConfirmButton} label="Delete" question=${`Delete the mapping of ${m.user_name}?`} onConfirm=${() => act("DELETE")} />`}
      ${problem && html`<${ProblemBox} problem=${problem} />`}
    </td>
  </tr>`;
}

function AddMapping({ site, onAdded }) {
  const [file, setFile] = useState(null);
  const [pasted, setPasted] = useState("");
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [description, setDescription] = useState("");
  const [allowExpired, setAllowExpired] = useState(false);
  const { busy, problem, run } = useAction();
  const [over, setOver] = useState(false);
  const [done, setDone] = useState("");
  const drop = (e) => {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]);
  };
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      setDone("");
      let res;
      const headers = password ? { "X-Certmap-Password": password } : {};
      if (file) {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const params = query({ user_name: user.trim(), description: description || undefined, allow_expired: allowExpired || undefined });
        res = await call("POST", `/sites/${site.id}/mappings${params}`, { body: bytes, headers: { ...headers, "Content-Type": certificateType(bytes) } });
      } else {
        res = await call("POST", `/sites/${site.id}/mappings`, {
          json: { certificate: pasted, user_name: user.trim(), password: password || undefined, description: description || undefined, allow_expired: allowExpired },
        });
      }
      const warnings = (res.body.warnings || []).join(" ");
      setDone(`Mapped ${res.body.subject} to ${res.body.user_name}.${warnings ? " " + warnings : ""}`);
      setFile(null);
      setPasted("");
      setPassword("");
      onAdded();
    });
  };
  return html`<form class="panel add-mapping" onSubmit=${submit} aria-labelledby="add-h">
    <h2 id="add-h">Add a one-to-one mapping</h2>
    <div class=${"drop" + (over ? " over" : "")} onDragOver=${(e) => { e.preventDefault(); setOver(true); }} onDragLeave=${() => setOver(false)} onDrop=${drop} data-testid="drop-zone">
      <label for="cert-file">Drop a certificate here (.cer, .crt, .pem, .der) or choose a file</label>
      <input id="cert-file" type="file" accept=".cer,.crt,.pem,.der,.txt" onChange=${(e) => setFile(e.target.files[0] || null)} aria-describedby="cert-problem" />
      ${file && html`<p>Selected: <strong>${file.name}</strong> <button type="button" onClick=${() => setFile(null)}>Clear file</button></p>`}
    </div>
    ${!file &&
    html`<div class="field">
      <label for="cert-paste">…or paste the certificate (PEM, base64 or the one-line IIS form)</label>
      <textarea id="cert-paste" rows="4" spellcheck="false" value=${pasted} onInput=${(e) => setPasted(e.target.value)} aria-describedby="cert-problem"></textarea>
    </div>`}
    <${FieldProblems} problem=${problem} field="certificate" id="cert-problem" />
    <div class="field"><label for="m-user">Windows account (DOMAIN\\user)</label><input id="m-user" required value=${user} onInput=${(e) => setUser(e.target.value)} aria-describedby="m-user-problem" />
      <${FieldProblems} problem=${problem} field="user_name" id="m-user-problem" /></div>
    <div class="field"><label for="m-password">Password (optional; IIS needs it, gateways do not; never shown again)</label><input id="m-password" type="password" autocomplete="new-password" value=${password} onInput=${(e) => setPassword(e.target.value)} /></div>
    <div class="field"><label for="m-desc">Description</label><input id="m-desc" value=${description} onInput=${(e) => setDescription(e.target.value)} /></div>
    <div class="check"><input type="checkbox" id="m-expired" checked=${allowExpired} onChange=${(e) => setAllowExpired(e.target.checked)} /><label for="m-expired">Store it even if the certificate has expired</label></div>
    <button type="submit" disabled=${busy || (!file && !pasted.trim())}>Add mapping</button>
    <p role="status">${done}</p>
    <${ProblemBox} problem=${problem} skipFields=${["certificate", "user_name"]} />
  </form>`;
}

export function MappingsTab({ site }) {
  const pager = usePager();
  const [filter, setFilter] = useState({});
  const [state, reload] = useLoad(
    () => call("GET", `/sites/${site.id}/mappings` + query({ ...filter, limit: PAGE_SIZE, cursor: pager.cursor })).then((r) => r.body),
    [site.id, pager.cursor, JSON.stringify(filter)],
  );
  return html`${session.canWrite() && html`<${AddMapping} site=${site} onAdded=${reload} />`}
    <section class="panel" aria-labelledby="maps-h">
      <h2 id="maps-h">One-to-one mappings</h2>
      <${Filters} onApply=${(f) => { pager.reset(); setFilter(f); }} />
      <${Loading} state=${state}>
        ${(page) => html`<${TableBox} label="One-to-one mappings">
            <table>
              <caption>${page.items.length ? `${page.items.length} mapping(s) on page ${pager.page}` : "No mapping matches"}</caption>
              <thead><tr><th scope="col">User</th><th scope="col">Subject</th><th scope="col">Issuer</th><th scope="col">SHA-1</th><th scope="col">Valid until</th><th scope="col">Revocation</th><th scope="col">Enabled</th><th scope="col">Actions</th></tr></thead>
              <tbody>${page.items.map((m) => html`<${Row} key=${m.id + ":" + m.revision} site=${site} m=${m} onChange=${reload} />`)}</tbody>
            </table>
          <//>
          <${Pager} pager=${pager} nextCursor=${page.next_cursor} label="Mapping pages" />`}
      <//>
    </section>`;
}

const EDITABLE = [
  ["user_name", "Account"],
  ["description", "Description"],
  ["enabled", "Enabled"],
  ["has_password", "Password set"],
  ["expires_at", "Mapping expires"],
];

const show = (v) => (v === null || v === undefined || v === "" ? "—" : typeof v === "boolean" ? (v ? "yes" : "no") : String(v));

// Someone saved this mapping after it was opened here: what they changed, beside what you meant.
function Conflict({ opened, current, mine, onKeepTheirs, onOverwrite }) {
  const changed = EDITABLE.filter(([k]) => JSON.stringify(opened[k]) !== JSON.stringify(current[k]));
  return html`<section class="conflict" role="alert" aria-labelledby="conflict-h">
    <h2 id="conflict-h">Someone else changed this mapping after you opened it</h2>
    <p>Nothing was saved. Their change is now current (revision ${current.revision}); yours is below.</p>
    <${TableBox} label="What changed">
      <table>
        <caption>What changed since you opened it</caption>
        <thead><tr><th scope="col">Field</th><th scope="col">When you opened it</th><th scope="col">Now</th><th scope="col">Your edit</th></tr></thead>
        <tbody>
          ${(changed.length ? changed : EDITABLE).map(
            ([k, label]) => html`<tr><th scope="row">${label}</th><td>${show(opened[k])}</td><td>${show(current[k])}</td><td>${k in mine ? (k === "password" ? "new password" : show(mine[k])) : "unchanged"}</td></tr>`,
          )}
        </tbody>
      </table>
    <//>
    <div class="actions">
      <button type="button" onClick=${onKeepTheirs}>Keep their version</button>
      <button type="button" class="danger" onClick=${onOverwrite}>Save mine over theirs</button>
    </div>
  </section>`;
}

export function MappingEditPage({ site, id }) {
  const url = `/sites/${site}/mappings/${id}`;
  const [state, reload] = useLoad(() => call("GET", url), [url]);
  // Outside the form, which is rebuilt from the saved mapping, so the confirmation stays.
  const [flash, setFlash] = useState("");
  const saved = () => {
    setFlash("Saved.");
    reload();
  };
  return html`<${Loading} state=${state}>
      ${(res) => html`<${MappingForm} key=${res.etag} site=${site} url=${url} loaded=${res.body} etag=${res.etag} reload=${reload} onSaved=${saved} onEdit=${() => setFlash("")} />`}
    <//>
    <p role="status" class="flash">${flash}</p>`;
}

function MappingForm({ site, url, loaded, etag, reload, onSaved, onEdit }) {
  const [user, setUser] = useState(loaded.user_name);
  const [description, setDescription] = useState(loaded.description || "");
  const [enabled, setEnabled] = useState(loaded.enabled);
  const [pwMode, setPwMode] = useState("keep");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState(null);
  const [conflict, setConflict] = useState(null);
  const ro = !session.canWrite();
  function changes() {
    const body = {};
    if (user !== loaded.user_name) body.user_name = user.trim();
    if (description !== (loaded.description || "")) body.description = description;
    if (enabled !== loaded.enabled) body.enabled = enabled;
    if (pwMode === "set") body.password = password;
    if (pwMode === "remove") body.password = null;
    return body;
  }
  async function save(ifMatch) {
    setProblem(null);
    onEdit();
    const body = changes();
    try {
      await call("PATCH", url, { json: body, headers: { "If-Match": ifMatch } });
      onSaved();
    } catch (p) {
      if (p.status === 412) {
        const now = await call("GET", url);
        setConflict({ current: now.body, etag: now.etag, mine: body });
      } else setProblem(p);
    }
  }
  const submit = (e) => {
    e.preventDefault();
    save(etag);
  };
  const m = loaded;
  return html`<h1>Mapping of ${m.user_name}</h1>
    <p class="crumbs"><a href=${siteHref(site, "mappings")}>Back to the site's mappings</a></p>
    <dl class="cert">
      <dt>Subject</dt><dd>${m.subject}</dd>
      <dt>Issuer</dt><dd>${m.issuer}</dd>
      <dt>Serial</dt><dd><code>${m.serial}</code></dd>
      <dt>SHA-1</dt><dd><code>${m.sha1}</code></dd>
      <dt>SHA-256</dt><dd><code>${m.sha256}</code></dd>
      <dt>Valid</dt><dd>${when(m.not_before)} to ${when(m.not_after)}${m.expired ? " (expired)" : ""}</dd>
      <dt>Revocation</dt><dd>${revocation(m)}</dd>
      <dt>Password</dt><dd>${m.has_password ? "set (never shown)" : "not set"}</dd>
      <dt>Revision</dt><dd>${m.revision}</dd>
    </dl>
    ${conflict &&
    html`<${Conflict} opened=${loaded} current=${conflict.current} mine=${conflict.mine} onKeepTheirs=${reload} onOverwrite=${() => save(conflict.etag)} />`}
    <form class="panel" onSubmit=${submit} aria-labelledby="edit-h">
      <h2 id="edit-h">${ro ? "Details" : "Edit"}</h2>
      <fieldset disabled=${ro}>
        <legend class="sr-only">Mapping</legend>
        <div class="field"><label for="e-user">Windows account</label><input id="e-user" value=${user} onInput=${(e) => setUser(e.target.value)} aria-describedby="e-user-problem" />
          <${FieldProblems} problem=${problem} field="user_name" id="e-user-problem" /></div>
        <div class="field"><label for="e-desc">Description</label><input id="e-desc" value=${description} onInput=${(e) => setDescription(e.target.value)} /></div>
        <div class="check"><input type="checkbox" id="e-enabled" checked=${enabled} onChange=${(e) => setEnabled(e.target.checked)} /><label for="e-enabled">Enabled</label></div>
        <fieldset class="radios">
          <legend>Password</legend>
          <div class="check"><input type="radio" name="pw" id="pw-keep" checked=${pwMode === "keep"} onChange=${() => setPwMode("keep")} /><label for="pw-keep">Keep ${m.has_password ? "the current password" : "without a password"}</label></div>
          <div class="check"><input type="radio" name="pw" id="pw-set" checked=${pwMode === "set"} onChange=${() => setPwMode("set")} /><label for="pw-set">${m.has_password ? "Replace the password" : "Set a password"}</label></div>
          ${m.has_password && html`<div class="check"><input type="radio" name="pw" id="pw-remove" checked=${pwMode === "remove"} onChange=${() => setPwMode("remove")} /><label for="pw-remove">Remove the password</label></div>`}
        </fieldset>
        ${pwMode === "set" && html`<div class="field"><label for="e-password">New password</label><input id="e-password" type="password" autocomplete="new-password" required value=${password} onInput=${(e) => setPassword(e.target.value)} /></div>`}
      </fieldset>
      ${!ro && html`<button type="submit">Save mapping</button>`}
      <${ProblemBox} problem=${problem} skipFields=${["user_name"]} />
    </form>`;
}
