// Import an applicationHost.config: a dry run first (created / updated / unchanged per item, and
// the findings), then apply, with or without repairing what IIS would break on.
import { html, useState, ProblemBox, TableBox, useAction, siteHref } from "./widgets.js";
import { call, query } from "./api.js";

function Items({ label, items }) {
  if (!items.length) return null;
  return html`<tr><th scope="row">${label}</th><td>${items.map((i) => html`<span class=${"action " + i.action}>${i.action}</span> <code>${i.key.length > 40 ? i.key.slice(0, 16) + "…" : i.key}</code>${i.line ? ` (line ${i.line})` : ""}<br />`)}</td></tr>`;
}

function Report({ report }) {
  return html`<section class="panel" aria-labelledby="rep-h">
    <h2 id="rep-h">${report.dry_run ? "Dry run: nothing was stored" : "Imported"}${report.repair ? ", with repair" : ""}</h2>
    ${report.repairs.length > 0 && html`<h3>Repairs</h3><ul>${report.repairs.map((r) => html`<li>${r}</li>`)}</ul>`}
    ${report.sites.map(
      (s) => html`<${TableBox} label=${"Site " + s.name}>
        <table>
          <caption>Site ${s.id ? html`<a href=${siteHref(s.id)}>${s.name}</a>` : s.name}: <span class=${"action " + s.action}>${s.action}</span></caption>
          <tbody>
            <${Items} label="Directories" items=${s.directories} />
            <${Items} label="One-to-one" items=${s.one_to_one} />
            <${Items} label="Many-to-one" items=${s.many_to_one} />
          </tbody>
        </table>
      <//>`,
    )}
    <${Findings} findings=${report.findings} />
  </section>`;
}

function Findings({ findings }) {
  if (!findings || !findings.length) return html`<p>No findings.</p>`;
  return html`<h3>Findings</h3>
    <${TableBox} label="Findings">
      <table>
        <caption>${findings.length} finding(s)</caption>
        <thead><tr><th scope="col">Severity</th><th scope="col">Where</th><th scope="col">Finding</th><th scope="col">What IIS does</th><th scope="col">Fix</th></tr></thead>
        <tbody>
          ${findings.map(
            (f) => html`<tr class=${"sev-" + f.severity}>
              <td>${f.severity}${f.blocks_import ? html`<br /><strong>blocks import</strong>` : ""}</td>
              <td>${f.location_path || "—"}${f.line ? ` (line ${f.line})` : ""}</td>
              <td>${f.message} <code>${f.code}</code></td>
              <td>${f.iis_symptom || "—"}</td>
              <td><pre class="fix">${f.fix || "—"}</pre></td>
            </tr>`,
          )}
        </tbody>
      </table>
    <//>`;
}

export function ImportPage() {
  const [file, setFile] = useState(null);
  const [site, setSite] = useState("");
  const [repair, setRepair] = useState(false);
  const [report, setReport] = useState(null);
  const [lint, setLint] = useState(null);
  const { busy, problem, setProblem, run } = useAction();
  const send = (dryRun) => {
    setLint(null);
    setReport(null);
    run(async () => {
      const body = new Uint8Array(await file.arrayBuffer());
      const xml = { body, headers: { "Content-Type": "application/xml" } };
      try {
        setReport((await call("POST", "/import/iis" + query({ dry_run: dryRun, repair, site: site.trim() }), xml)).body);
      } catch (p) {
        // A refusal names the first blocking mistake; the lint report shows every finding with its fix.
        if (p.status === 422) call("POST", "/lint/iis" + query({ site: site.trim() }), xml).then((r) => setLint(r.body), () => {});
        throw p;
      }
    });
  };
  const dry = (e) => {
    e.preventDefault();
    send(true);
  };
  const canApply = report && report.dry_run && report.repair === repair;
  return html`<h1>Import IIS configuration</h1>
    <form class="panel" onSubmit=${dry} aria-labelledby="imp-h">
      <h2 id="imp-h">File</h2>
      <div class="field"><label for="imp-file">applicationHost.config, an exported location or a web.config</label>
        <input id="imp-file" type="file" accept=".config,.xml" required onChange=${(e) => { setFile(e.target.files[0] || null); setReport(null); setProblem(null); }} /></div>
      <div class="field"><label for="imp-site">Site name (only for a web.config, which names none)</label><input id="imp-site" value=${site} onInput=${(e) => setSite(e.target.value)} /></div>
      <div class="check"><input type="checkbox" id="imp-repair" checked=${repair} onChange=${(e) => setRepair(e.target.checked)} aria-describedby="imp-repair-h" /><label for="imp-repair">Repair what IIS would break on</label>
        <p class="hint" id="imp-repair-h">Moves the mapping section to its site root, adds Ssl where certificates are asked for, turns other schemes off on secured directories.</p></div>
      <div class="actions">
        <button type="submit" disabled=${!file || busy}>Dry run</button>
        <button type="button" disabled=${!canApply || busy} onClick=${() => send(false)}>${repair ? "Apply with repair" : "Apply"}</button>
      </div>
      <p class="hint">Apply becomes available after a dry run with the same repair setting. Nothing is ever deleted.</p>
    </form>
    <${ProblemBox} problem=${problem} />
    ${lint && html`<section class="panel" aria-labelledby="lint-h"><h2 id="lint-h">Everything the file gets wrong</h2><${Findings} findings=${lint.findings} /></section>`}
    ${report && html`<${Report} report=${report} />`}`;
}
