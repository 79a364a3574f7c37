// Rendered configuration, previewed per format with its options, copied or downloaded. The
// formats and options are read from the server's own OpenAPI document, so a new one shows up here
// without a console change.
import { html, useState, ProblemBox, useAction, useLoad, Loading, download } from "./widgets.js";
import { call, query } from "./api.js";
import * as session from "./session.js";

const FALLBACK_FORMATS = ["iis", "powershell", "nginx", "haproxy", "haproxy-map", "apache", "ca-bundle"];
const EXTENSIONS = { iis: ".xml", powershell: ".ps1", nginx: ".conf", haproxy: ".cfg", "haproxy-map": ".map", apache: ".conf", caddy: ".caddyfile", "ca-bundle": ".pem", crl: ".crl" };
// Not options of the output: long-polling is for agents, secrets get their own audited checkbox.
const NOT_OPTIONS = ["wait", "include_secrets"];

async function describe() {
  const res = await fetch("/openapi.json", { cache: "no-store" });
  const spec = await res.json();
  const op = spec.paths["/api/v1/sites/{site_id}/config/{format}"].get;
  const format = op.parameters.find((p) => p.name === "format");
  const named = (format.description || "").split(/,\s*|\s+or\s+/).map((s) => s.trim()).filter((s) => /^[a-z][a-z0-9-]*$/.test(s));
  const options = op.parameters.filter((p) => p.in === "query" && !NOT_OPTIONS.includes(p.name));
  return { formats: named.length ? named : FALLBACK_FORMATS, options };
}

function Options({ options, values, setValues }) {
  return html`<fieldset class="options">
    <legend>Options (empty means the default)</legend>
    ${options.map((o) => {
      const id = "opt-" + o.name;
      const boolean = o.schema && o.schema.type === "boolean";
      return boolean
        ? html`<div class="check"><input type="checkbox" id=${id} checked=${values[o.name] === "true"} onChange=${(e) => setValues({ ...values, [o.name]: e.target.checked ? "true" : "" })} aria-describedby=${id + "-h"} /><label for=${id}>${o.name}</label><p class="hint" id=${id + "-h"}>${o.description}</p></div>`
        : html`<div class="field"><label for=${id}>${o.name}</label><input id=${id} value=${values[o.name] || ""} onInput=${(e) => setValues({ ...values, [o.name]: e.target.value })} aria-describedby=${id + "-h"} /><p class="hint" id=${id + "-h"}>${o.description}</p></div>`;
    })}
  </fieldset>`;
}

function Preview({ site, spec }) {
  const [format, setFormat] = useState(spec.formats.includes("nginx") ? "nginx" : spec.formats[0]);
  const [values, setValues] = useState({});
  const [secrets, setSecrets] = useState(false);
  const [out, setOut] = useState(null);
  const { problem, run } = useAction();
  const [copied, setCopied] = useState("");
  const render = (e) => {
    e.preventDefault();
    setCopied("");
    setOut(null);
    run(async () => {
      const res = await call("GET", `/sites/${site.id}/config/${format}` + query({ ...values, include_secrets: secrets || undefined }), { text: true });
      setOut({ format, text: res.body, etag: res.etag });
    });
  };
  async function copy() {
    try {
      await navigator.clipboard.writeText(out.text);
      setCopied("Copied to the clipboard.");
    } catch {
      setCopied("The browser refused the clipboard: select the text and copy it.");
    }
  }
  const file = out ? `certmap-${site.name.replace(/[^A-Za-z0-9.-]+/g, "_")}-${out.format}${EXTENSIONS[out.format] || ".txt"}` : "";
  return html`<form class="panel" onSubmit=${render} aria-labelledby="cfg-h">
      <h2 id="cfg-h">Rendered configuration</h2>
      <div class="field"><label for="cfg-format">Format</label>
        <select id="cfg-format" value=${format} onChange=${(e) => { setFormat(e.target.value); setOut(null); }}>${spec.formats.map((f) => html`<option value=${f}>${f}</option>`)}</select>
      </div>
      <${Options} options=${spec.options} values=${values} setValues=${setValues} />
      ${session.isAdmin() &&
      html`<div class="check"><input type="checkbox" id="cfg-secrets" checked=${secrets} onChange=${(e) => setSecrets(e.target.checked)} aria-describedby="cfg-secrets-h" /><label for="cfg-secrets">Include stored passwords</label>
        <p class="hint" id="cfg-secrets-h">iis and powershell only; every such read is recorded in the audit log.</p></div>`}
      <button type="submit">Preview</button>
    </form>
    <${ProblemBox} problem=${problem} />
    ${out &&
    html`<section class="panel" aria-labelledby="out-h">
      <h2 id="out-h">${out.format} <span class="flags">ETag ${out.etag}</span></h2>
      <div class="actions">
        <button type="button" onClick=${copy}>Copy</button>
        <button type="button" onClick=${() => download(file, out.text)}>Download ${file}</button>
      </div>
      <p role="status">${copied}</p>
      <pre class="config" tabindex="0" aria-label=${`${out.format} configuration`}>${out.text}</pre>
    </section>`}`;
}

export function ConfigTab({ site }) {
  const [state] = useLoad(describe, []);
  return html`<${Loading} state=${state}>${(spec) => html`<${Preview} site=${site} spec=${spec} />`}<//>`;
}
