// Many-to-one mappings: rules on the certificate's subject or issuer fields, all of which must
// match; a deny that matches wins. "Test a certificate" asks the server what IIS would do.
import { html, useState, ProblemBox, FieldProblems, useAction, certificateType, useLoad, Loading, ConfirmButton, TableBox } from "./widgets.js";
import { call } from "./api.js";
import * as session from "./session.js";

const SUBFIELDS = ["CN", "OU", "O", "L", "S", "C", "E"];
const newRule = () => ({ certificate_field: "subject", certificate_sub_field: "O", match_criteria: "", compare_case_sensitive: true });

function RuleRows({ rules, setRules, problem, prefix }) {
  const put = (i, k, v) => setRules(rules.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const move = (i, by) => {
    const next = [...rules];
    [next[i], next[i + by]] = [next[i + by], next[i]];
    setRules(next);
  };
  return html`<${TableBox} label="Rules">
    <table class="rules">
      <caption>Rules (all must match)</caption>
      <thead><tr><th scope="col">Order</th><th scope="col">Field</th><th scope="col">Sub-field</th><th scope="col">Match</th><th scope="col">Case-sensitive</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${rules.map((r, i) => {
          const id = `${prefix}-r${i}`;
          return html`<tr>
            <td>${i + 1}</td>
            <td><label class="sr-only" for=${id + "-f"}>Rule ${i + 1} field</label>
              <select id=${id + "-f"} value=${r.certificate_field} onChange=${(e) => put(i, "certificate_field", e.target.value)}><option value="subject">Subject</option><option value="issuer">Issuer</option></select></td>
            <td><label class="sr-only" for=${id + "-s"}>Rule ${i + 1} sub-field</label>
              <select id=${id + "-s"} value=${r.certificate_sub_field} onChange=${(e) => put(i, "certificate_sub_field", e.target.value)}>${SUBFIELDS.map((s) => html`<option value=${s}>${s}</option>`)}</select></td>
            <td><label class="sr-only" for=${id + "-m"}>Rule ${i + 1} match criteria</label>
              <input id=${id + "-m"} value=${r.match_criteria} onInput=${(e) => put(i, "match_criteria", e.target.value)} placeholder="e.g. Contoso or *.contoso.com" aria-describedby=${id + "-p"} />
              <${FieldProblems} problem=${problem} field=${`rules[${i}]`} id=${id + "-p"} /></td>
            <td><input type="checkbox" id=${id + "-c"} checked=${r.compare_case_sensitive} onChange=${(e) => put(i, "compare_case_sensitive", e.target.checked)} /><label class="sr-only" for=${id + "-c"}>Rule ${i + 1} case-sensitive</label></td>
            <td class="actions">
              <button type="button" disabled=${i === 0} onClick=${() => move(i, -1)}>Up<span class="sr-only"> rule ${i + 1}</span></button>
              <button type="button" disabled=${i === rules.length - 1} onClick=${() => move(i, 1)}>Down<span class="sr-only"> rule ${i + 1}</span></button>
              <button type="button" disabled=${rules.length === 1} onClick=${() => setRules(rules.filter((_, j) => j !== i))}>Remove<span class="sr-only"> rule ${i + 1}</span></button>
            </td>
          </tr>`;
        })}
      </tbody>
    </table>
  <//>
  <button type="button" onClick=${() => setRules([...rules, newRule()])}>Add a rule</button>`;
}

function RuleEditor({ site, initial, onDone, onCancel }) {
  const editing = !!initial.id;
  const [v, setV] = useState({ name: initial.name || "", user_name: initial.user_name || "", permission_mode: initial.permission_mode || "allow", enabled: initial.enabled ?? true, description: initial.description || "" });
  const [rules, setRules] = useState(initial.rules ? initial.rules.map((r) => ({ ...r })) : [newRule()]);
  const [password, setPassword] = useState("");
  const { problem, run } = useAction();
  const prefix = editing ? `m2o${initial.id}` : "m2onew";
  const set = (k) => (e) => setV({ ...v, [k]: e.target.type === "checkbox" ? e.target.checked : e.target.value });
  const submit = (e) => {
    e.preventDefault();
    const body = { ...v, user_name: v.permission_mode === "deny" && !v.user_name ? null : v.user_name, description: v.description || null, rules };
    if (password) body.password = password;
    run(async () => {
      if (editing) await call("PATCH", `/sites/${site.id}/many-to-one/${initial.id}`, { json: body, headers: { "If-Match": `"${initial.revision}"` } });
      else await call("POST", `/sites/${site.id}/many-to-one`, { json: body });
      onDone();
    });
  };
  return html`<form class="panel" onSubmit=${submit} aria-labelledby=${prefix + "-h"}>
    <h3 id=${prefix + "-h"}>${editing ? `Edit ${initial.name}` : "New many-to-one mapping"}</h3>
    <div class="grid">
      <div class="field"><label for=${prefix + "-name"}>Name</label><input id=${prefix + "-name"} required value=${v.name} onInput=${set("name")} aria-describedby=${prefix + "-name-p"} /><${FieldProblems} problem=${problem} field="name" id=${prefix + "-name-p"} /></div>
      <div class="field"><label for=${prefix + "-mode"}>Permission</label><select id=${prefix + "-mode"} value=${v.permission_mode} onChange=${set("permission_mode")}><option value="allow">Allow</option><option value="deny">Deny</option></select></div>
      <div class="field"><label for=${prefix + "-user"}>Windows account${v.permission_mode === "deny" ? " (not needed to deny)" : ""}</label><input id=${prefix + "-user"} value=${v.user_name} onInput=${set("user_name")} aria-describedby=${prefix + "-user-p"} /><${FieldProblems} problem=${problem} field="user_name" id=${prefix + "-user-p"} /></div>
      <div class="field"><label for=${prefix + "-pw"}>${initial.has_password ? "Replace the password (never shown)" : "Password (never shown)"}</label><input id=${prefix + "-pw"} type="password" autocomplete="new-password" value=${password} onInput=${(e) => setPassword(e.target.value)} /></div>
      <div class="field"><label for=${prefix + "-desc"}>Description</label><input id=${prefix + "-desc"} value=${v.description} onInput=${set("description")} /></div>
      <div class="check"><input type="checkbox" id=${prefix + "-en"} checked=${v.enabled} onChange=${set("enabled")} /><label for=${prefix + "-en"}>Enabled</label></div>
    </div>
    <${RuleRows} rules=${rules} setRules=${setRules} problem=${problem} prefix=${prefix} />
    <div class="actions"><button type="submit">${editing ? "Save rules" : "Create mapping"}</button><button type="button" onClick=${onCancel}>Cancel</button></div>
    <${ProblemBox} problem=${problem} skipFields=${["name", "user_name", "rules"]} />
  </form>`;
}

function TestCertificate({ site }) {
  const [text, setText] = useState("");
  const [file, setFile] = useState(null);
  const [result, setResult] = useState(null);
  const { problem, run } = useAction();
  const submit = (e) => {
    e.preventDefault();
    setResult(null);
    run(async () => {
      const bytes = file ? new Uint8Array(await file.arrayBuffer()) : new TextEncoder().encode(text);
      const res = await call("POST", `/sites/${site.id}/resolve`, { body: bytes, headers: { "Content-Type": certificateType(bytes) } });
      setResult(res.body);
    });
  };
  return html`<form class="panel" onSubmit=${submit} aria-labelledby="test-h">
    <h2 id="test-h">Test a certificate</h2>
    <p class="hint">What IIS would do with this certificate on this site: one-to-one first, then the many-to-one mappings in order, where a matching deny wins.</p>
    <div class="field"><label for="test-file">Certificate file</label><input id="test-file" type="file" accept=".cer,.crt,.pem,.der" onChange=${(e) => setFile(e.target.files[0] || null)} /></div>
    <div class="field"><label for="test-text">…or paste it</label><textarea id="test-text" rows="3" spellcheck="false" value=${text} onInput=${(e) => setText(e.target.value)}></textarea></div>
    <button type="submit" disabled=${!file && !text.trim()}>Test</button>
    <div role="status">
      ${result &&
      html`<dl class="resolution">
        <dt>Outcome</dt><dd><strong>${result.outcome}</strong></dd>
        <dt>Logged on as</dt><dd>${result.user_name || "—"}</dd>
        ${result.many_to_one_name && html`<dt>Decided by</dt><dd>${result.many_to_one_name}</dd>`}
        ${result.reason && html`<dt>Why</dt><dd>${result.reason}</dd>`}
        ${result.iis_symptom && html`<dt>What IIS answers</dt><dd>${result.iis_symptom}</dd>`}
        <dt>Subject</dt><dd>${result.subject}</dd>
        <dt>Issuer</dt><dd>${result.issuer}</dd>
      </dl>`}
    </div>
    <${ProblemBox} problem=${problem} />
  </form>`;
}

export function RulesTab({ site }) {
  const [state, reload] = useLoad(() => call("GET", `/sites/${site.id}/many-to-one?limit=500`).then((r) => r.body), [site.id]);
  const [editing, setEditing] = useState(null);
  const done = () => {
    setEditing(null);
    reload();
  };
  const { problem, run } = useAction();
  const remove = (m) =>
    run(async () => {
      await call("DELETE", `/sites/${site.id}/many-to-one/${m.id}`, { headers: { "If-Match": `"${m.revision}"` } });
      reload();
    });
  return html`<section class="panel" aria-labelledby="m2o-h">
      <h2 id="m2o-h">Many-to-one mappings</h2>
      ${!site.certificate_mapping.many_to_one_enabled && html`<p class="warning">Many-to-one mapping is switched off in the site settings: IIS ignores these rules.</p>`}
      <${Loading} state=${state}>
        ${(page) =>
          page.items.length
            ? page.items.map((m) =>
                editing === m.id
                  ? html`<${RuleEditor} key=${m.id} site=${site} initial=${m} onDone=${done} onCancel=${() => setEditing(null)} />`
                  : html`<article class="m2o" aria-labelledby=${"m2o-" + m.id}>
                      <h3 id=${"m2o-" + m.id}>${m.name} <span class="flags">${m.permission_mode}${m.enabled ? "" : ", disabled"}</span></h3>
                      <p>${m.permission_mode === "deny" ? "Denies" : `Logs on as ${m.user_name}`} when ${m.rules.map((r) => `${r.certificate_field} ${r.certificate_sub_field} matches “${r.match_criteria}”${r.compare_case_sensitive ? "" : " (any case)"}`).join(" and ")}.</p>
                      ${session.canWrite() &&
                      html`<div class="actions">
                        <button type="button" onClick=${() => setEditing(m.id)}>Edit<span class="sr-only"> ${m.name}</span></button>
                        <${ConfirmButton} label="Delete" question=${`Delete ${m.name}?`} onConfirm=${() => remove(m)} />
                      </div>`}
                    </article>`,
              )
            : html`<p>No many-to-one mappings.</p>`}
      <//>
      <${ProblemBox} problem=${problem} />
      ${session.canWrite() && (editing === "new" ? html`<${RuleEditor} site=${site} initial=${{}} onDone=${done} onCancel=${() => setEditing(null)} />` : html`<button type="button" onClick=${() => setEditing("new")}>New many-to-one mapping</button>`)}
    </section>
    <${TestCertificate} site=${site} />`;
}
