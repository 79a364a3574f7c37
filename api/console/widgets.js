// Small pieces every page uses: problem display, inline field refusals, loading, paging.
import { html, useState, useEffect, useCallback, useRef } from "./vendor/htm-preact-standalone.module.js";

export { html, useState, useEffect, useCallback, useRef };

// A refusal as the server gave it: what, why, and what IIS would have done.
export function ProblemBox({ problem, skipFields = [] }) {
  if (!problem) return null;
  const rest = problem.errors.filter((e) => !skipFields.some((f) => e.field === f || (e.field || "").startsWith(f + "[") || (e.field || "").startsWith(f + ".")));
  // Every refusal is already beside its field: only say that the form was refused.
  if (problem.errors.length > 0 && rest.length === 0) {
    return html`<p class="problem" role="alert"><strong>${problem.title || "Refused"}</strong>: nothing was saved; see the marked fields above.</p>`;
  }
  return html`<div class="problem" role="alert">
    <p><strong>${problem.title || "Refused"}</strong>${problem.code ? html` <code>${problem.code}</code>` : ""}</p>
    ${problem.detail && html`<p>${problem.detail}</p>`}
    ${problem.iis_symptom && html`<p class="symptom">What IIS would do: ${problem.iis_symptom}</p>`}
    ${rest.length > 0 &&
    html`<ul>
      ${rest.map((e) => html`<li><code>${e.field || "(request)"}</code>: ${e.message}${e.iis_symptom ? html` <span class="symptom">IIS: ${e.iis_symptom}</span>` : ""}</li>`)}
    </ul>`}
  </div>`;
}

// The refusals that name one field, shown right beside it and announced with it.
export function FieldProblems({ problem, field, id }) {
  const errs = problem && problem.forField ? problem.forField(field) : [];
  if (!errs.length) return null;
  return html`<div class="field-problem" id=${id} role="alert">
    ${errs.map(
      (e) => html`<p><strong>${e.message}</strong>${e.iis_symptom ? html`<br /><span class="symptom">What IIS would do: ${e.iis_symptom}</span>` : ""}${e.code ? html` <code>${e.code}</code>` : ""}</p>`,
    )}
  </div>`;
}

// A form's request: `busy` while it runs (so it is sent once), and the refusal for the form to
// show beside its fields. `run` answers what `fn` answers, or undefined when it was refused.
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  async function run(fn) {
    setBusy(true);
    setProblem(null);
    try {
      return await fn();
    } catch (p) {
      setProblem(p);
    } finally {
      setBusy(false);
    }
  }
  return { busy, problem, setProblem, run };
}

// Runs `load` when `deps` change; `reload` runs it again.
export function useLoad(load, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ loading: false, data, error: null }),
      (error) => live && setState({ loading: false, data: null, error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [state, useCallback(() => setTick((t) => t + 1), [])];
}

export function Loading({ state, children }) {
  if (state.error) return html`<${ProblemBox} problem=${state.error} />`;
  if (state.loading && !state.data) return html`<p aria-busy="true">Loading…</p>`;
  return children(state.data);
}

// Cursor paging as the API does it: a stack of the cursors that led to the pages seen so far.
export function usePager() {
  const [stack, setStack] = useState([null]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (c) => setStack([...stack, c]),
    prev: () => setStack(stack.slice(0, -1)),
    reset: () => setStack([null]),
  };
}

export function Pager({ pager, nextCursor, label }) {
  return html`<nav class="pager" aria-label=${label}>
    <button type="button" disabled=${pager.page <= 1} onClick=${pager.prev}>Previous page</button>
    <span>Page ${pager.page}</span>
    <button type="button" disabled=${!nextCursor} onClick=${() => pager.next(nextCursor)}>Next page</button>
  </nav>`;
}

// A destructive action asks once more, inline, where the keyboard already is.
export function ConfirmButton({ label, question, onConfirm, busy }) {
  const [asking, setAsking] = useState(false);
  const yes = useRef(null);
  useEffect(() => {
    if (asking && yes.current) yes.current.focus();
  }, [asking]);
  if (!asking) return html`<button type="button" class="danger" onClick=${() => setAsking(true)}>${label}</button>`;
  return html`<span class="confirm" role="group" aria-label=${question}>
    <span>${question}</span>
    <button type="button" class="danger" ref=${yes} disabled=${busy} onClick=${onConfirm}>Yes, ${label.toLowerCase()}</button>
    <button type="button" onClick=${() => setAsking(false)}>Cancel</button>
  </span>`;
}

// A scrolling table must be reachable by keyboard to be read at phone width.
export function TableBox({ label, children }) {
  return html`<div class="table-box" role="region" aria-label=${label} tabindex="0">${children}</div>`;
}

export function download(name, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function when(iso) {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC").replace(/(\.\d+)?\+00:00$/, " UTC");
}

// What a certificate's bytes look like decides how they are sent: DER (it starts with a SEQUENCE)
// as application/pkix-cert, anything textual as PEM. The server reads every form and refuses
// keys and CSRs by name, so nothing is judged here.
export function certificateType(bytes) {
  return bytes[0] === 0x30 ? "application/pkix-cert" : "application/x-pem-file";
}

export const siteHref = (id, tab = "") => `#/sites/${id}${tab ? "/" + tab : ""}`;
