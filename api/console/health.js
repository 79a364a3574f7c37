// Health: a site's lint findings, and certificates expiring soon across every site the token sees.
import { html, useLoad, Loading, TableBox, when, siteHref } from "./widgets.js";
import { call, query } from "./api.js";

export function HealthTab({ site }) {
  const [state] = useLoad(() => call("GET", `/sites/${site.id}/lint`).then((r) => r.body), [site.id, site.revision]);
  return html`<section class="panel" aria-labelledby="lint-h">
    <h2 id="lint-h">Findings</h2>
    <p class="hint">What would not work as intended on this site, though nothing in it is refused.</p>
    <${Loading} state=${state}>
      ${(report) =>
        report.findings.length
          ? html`<${TableBox} label="Findings">
              <table>
                <caption>${report.findings.length} finding(s) at revision ${report.revision}</caption>
                <thead><tr><th scope="col">Severity</th><th scope="col">Where</th><th scope="col">Finding</th><th scope="col">What IIS does</th><th scope="col">Fix</th></tr></thead>
                <tbody>
                  ${report.findings.map(
                    (f) => html`<tr class=${"sev-" + f.severity}>
                      <td>${f.severity}</td>
                      <td>${f.path || "site"}${f.mapping_id ? html`<br /><a href=${`#/sites/${site.id}/mappings/${f.mapping_id}`}>mapping ${f.mapping_id}</a>` : ""}</td>
                      <td>${f.message} <code>${f.code}</code></td>
                      <td>${f.iis_symptom}</td>
                      <td>${f.fix || "—"}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            <//>`
          : html`<p>No findings: IIS would do what this site says.</p>`}
    <//>
  </section>`;
}

const WINDOWS = [30, 60, 90];
const DAY = 86400000;

async function pages(path, params) {
  const out = [];
  let cursor = null;
  do {
    const res = await call("GET", path + query({ ...params, limit: 500, cursor }));
    out.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

// Only mappings expiring within 90 days are fetched, site by site: never every mapping.
async function expiring() {
  const sites = await pages("/sites", {});
  const rows = [];
  for (const s of sites) {
    const items = await pages(`/sites/${s.id}/mappings`, { expiring_within: "90d" });
    for (const m of items) rows.push({ site: s, m, days: Math.floor((Date.parse(m.not_after) - Date.now()) / DAY) });
  }
  rows.sort((a, b) => a.days - b.days);
  return rows;
}

export function ExpiryPage() {
  const [state] = useLoad(expiring, []);
  return html`<h1>Expiring certificates</h1>
    <p class="hint">Every one-to-one mapping whose certificate has expired or expires within 90 days, on every site you can see.</p>
    <${Loading} state=${state}>
      ${(rows) => {
        const bucket = (lo, hi) => rows.filter((r) => r.days >= lo && r.days < hi);
        const groups = [["Already expired", rows.filter((r) => r.days < 0)], ...WINDOWS.map((w, i) => [`Within ${w} days`, bucket(i ? WINDOWS[i - 1] : 0, w)])];
        return html`<ul class="summary">${groups.map(([label, list]) => html`<li><strong>${list.length}</strong> ${label.toLowerCase()}</li>`)}</ul>
          ${groups.map(
            ([label, list], i) => html`<section class="panel" aria-labelledby=${"exp-" + i}>
              <h2 id=${"exp-" + i}>${label} (${list.length})</h2>
              ${list.length
                ? html`<${TableBox} label=${label}>
                    <table>
                      <caption>${label}</caption>
                      <thead><tr><th scope="col">Site</th><th scope="col">User</th><th scope="col">Subject</th><th scope="col">Valid until</th><th scope="col">Days left</th></tr></thead>
                      <tbody>
                        ${list.map(
                          (r) => html`<tr>
                            <td><a href=${siteHref(r.site.id, "mappings")}>${r.site.name}</a></td>
                            <td><a href=${`#/sites/${r.site.id}/mappings/${r.m.id}`}>${r.m.user_name}</a></td>
                            <td>${r.m.subject}</td>
                            <td>${when(r.m.not_after)}</td>
                            <td>${r.days}</td>
                          </tr>`,
                        )}
                      </tbody>
                    </table>
                  <//>`
                : html`<p>None.</p>`}
            </section>`,
          )}`;
      }}
    <//>`;
}
