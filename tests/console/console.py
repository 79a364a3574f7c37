"""The certmap console in a real chromium: issue 20's proof list, keyboard and phone width, an
axe-core scan of every page, and a screenshot of each page.

Run by tests/console/run, which starts the server and passes its base URL; CERTMAP_BIN,
CERTMAP_DATA_DIR, CERTMAP_JWT_SECRET, CONSOLE_WORK and CONSOLE_SHOTS come from there.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

BASE = sys.argv[1]
BIN = os.environ["CERTMAP_BIN"]
DATA = os.environ["CERTMAP_DATA_DIR"]
WORK = Path(os.environ["CONSOLE_WORK"])
SHOTS = Path(os.environ["CONSOLE_SHOTS"])
SECRET = os.environ["CERTMAP_JWT_SECRET"]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
expect.set_options(timeout=10_000)

passed, failed = [], []


def check(name):
    """Runs one named step; a failure is reported and the next step still runs."""
    def wrap(fn):
        try:
            fn()
            passed.append(name)
            print(f"PASS: {name}", flush=True)
        except Exception:
            failed.append(name)
            print(f"FAIL: {name}", flush=True)
            traceback.print_exc()
        return fn
    return wrap


def token(role, *sites, subject=None):
    args = [BIN, "token", "issue", "--role", role, "--ttl", "1h", "--data-dir", DATA]
    for s in sites:
        args += ["--site", s]
    if subject:
        args += ["--subject", subject]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def expired_token():
    """A token the server itself would have signed, but an hour past its expiry."""
    now = int(time.time())
    key = SECRET.encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": "hs-" + hashlib.sha256(key).hexdigest()[:8]}
    claims = {"sub": "late", "role": "admin", "iss": "certmap", "aud": "certmap", "exp": now - 3600,
              "nbf": now - 7200, "iat": now - 7200, "jti": "expired-console-test"}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def api(method, path, tok, body=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(BASE + "/api/v1" + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + tok, "Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"null")


def certificate(name, org="Contoso"):
    """A client certificate as a user would export it: .cer (DER), .pem and the key beside it."""
    key, pem, der = WORK / f"{name}.key", WORK / f"{name}.pem", WORK / f"{name}.cer"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "365", "-subj", f"/O={org}/CN={name}", "-addext", "basicConstraints=critical,CA:FALSE",
                    "-keyout", str(key), "-out", str(pem)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der)], check=True)
    return {"key": key, "pem": pem, "der": der}


def seed_config(cert_der):
    """The seed write-up's setup (as the API tests import it), for another site and user."""
    seed = (Path(__file__).parent.parent / "fixtures" / "seed-applicationHost.config").read_text()
    return (seed.replace("CERTIFICATE", base64.b64encode(cert_der).decode())
            .replace("Default Web Site", "Contoso Intranet").replace("www.contoso.com", "intranet.contoso.com")
            .replace("CONTOSO\\alice", "CONTOSO\\bob"))


class Browser:
    """One chromium; every page records CSP refusals, script errors and the URLs it asked for."""

    def __init__(self, pw):
        self.browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        self.errors = []
        self.urls = []
        self.shot = 0
        self.scanned = {}

    def page(self, width=1280, height=900):
        ctx = self.browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        page = ctx.new_page()
        page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"script error: {e}"))
        page.on("request", lambda r: self.urls.append(r.url))
        return page

    def sign_in(self, page, tok):
        page.goto(BASE + "/")
        page.get_by_label("Bearer token").fill(tok)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    def screenshot(self, page, name):
        self.shot += 1
        page.screenshot(path=str(SHOTS / f"{self.shot:02d}-{name}.png"), full_page=True)

    def axe(self, page, name):
        """axe-core, vendored, run inside the page: no serious or critical violation allowed."""
        page.evaluate(AXE)
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        self.scanned[name] = bad
        assert not bad, f"{name}: " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad)

    def visit(self, page, name, hash_path, heading):
        page.goto(f"{BASE}/ui/{hash_path}")
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        page.wait_for_load_state("networkidle")
        self.screenshot(page, name)
        self.axe(page, name)


def main():
    alice, bob, carol = certificate("alice"), certificate("bob"), certificate("carol", org="Fabrikam")
    admin = token("admin", subject="console-admin")
    with sync_playwright() as pw:
        b = Browser(pw)
        page = b.page()
        state = {}

        @check("the console is served at / → /ui/ and the sign-in form passes axe")
        def _():
            page.goto(BASE + "/")
            assert page.url == BASE + "/ui/", page.url
            expect(page.get_by_role("heading", name="Sign in to certmap")).to_be_visible()
            b.screenshot(page, "sign-in")
            b.axe(page, "sign-in")

        @check("sign in with a token from `certmap token issue`, by keyboard alone")
        def _():
            page.get_by_label("Bearer token").focus()
            page.keyboard.type(admin)
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", level=1, name="Sites")).to_be_visible()
            assert page.evaluate("sessionStorage.getItem('certmap.token')") == admin
            # Everything in the header is reachable with Tab.
            reached = set()
            for _ in range(15):
                page.keyboard.press("Tab")
                reached.add(page.evaluate("document.activeElement.textContent.trim()"))
            for name in ["Sites", "Expiring certificates", "Import IIS config", "Audit log", "Sign out", "New site"]:
                assert name in reached, f"{name} not reached by Tab: {reached}"

        @check("create a site")
        def _():
            page.get_by_role("button", name="New site").click()
            page.get_by_label("Site name (as in IIS)").fill("Default Web Site")
            page.get_by_label("Host names").fill("www.contoso.com")
            page.get_by_role("button", name="Create site").click()
            expect(page.get_by_role("heading", level=1, name="Default Web Site")).to_be_visible()
            state["site"] = int(page.url.split("#/sites/")[1].split("/")[0])
            b.screenshot(page, "site-created")

        @check("create a secured directory (SSL Settings and Authentication panes)")
        def _():
            form = page.locator("form.directory.new")
            form.get_by_label("Path").fill("/secure")
            expect(form.get_by_label("Require SSL")).to_be_checked()
            expect(form.get_by_label("Require", exact=True)).to_be_checked()
            expect(form.get_by_label("Anonymous Authentication")).not_to_be_checked()
            form.get_by_role("button", name="Add directory").click()
            expect(page.get_by_role("heading", level=3, name="/secure")).to_be_visible()
            expect(page.locator("form.directory", has_text="/secure")).to_contain_text("sslFlags: Ssl, SslNegotiateCert, SslRequireCert")

        @check("the mapping-on-a-directory mistake is refused inline with IIS's 401.2")
        def _():
            form = page.locator("form.directory.new")
            form.get_by_label("Path").fill("/app")
            form.get_by_label("IIS Client Certificate Mapping Authentication on this directory").check()
            form.get_by_role("button", name="Add directory").click()
            inline = page.locator("#newdir-certificate_mapping-problem")
            expect(inline).to_contain_text("401.2")
            expect(inline).to_contain_text("0x80070005")
            described = form.get_by_label("IIS Client Certificate Mapping Authentication on this directory")
            assert "newdir-certificate_mapping-problem" in described.get_attribute("aria-describedby")
            # Nothing was stored.
            assert [d["path"] for d in api("GET", f"/sites/{state['site']}/directories", admin)["items"]] == ["/secure"]
            b.screenshot(page, "directory-refused-401.2")
            b.axe(page, "site settings with a refusal")

        @check("a scoping refusal: client certificates without SSL, next to Require SSL")
        def _():
            form = page.locator("form.directory.new")
            form.get_by_label("IIS Client Certificate Mapping Authentication on this directory").uncheck()
            form.get_by_label("Require", exact=True).check()
            form.get_by_label("Anonymous Authentication").uncheck()
            form.get_by_label("Require SSL").uncheck()
            form.get_by_role("button", name="Add directory").click()
            expect(page.locator("#newdir-require_ssl-problem")).to_contain_text("SSL")
            assert [d["path"] for d in api("GET", f"/sites/{state['site']}/directories", admin)["items"]] == ["/secure"]

        @check("drop alice's .cer file and see her row")
        def _():
            page.get_by_role("link", name="One-to-one mappings").click()
            expect(page.get_by_role("heading", name="Add a one-to-one mapping")).to_be_visible()
            drop(page, alice["der"].read_bytes(), "alice.cer")
            expect(page.get_by_text("Selected: alice.cer")).to_be_visible()
            page.get_by_label("Windows account (DOMAIN\\user)").fill("CONTOSO\\alice")
            page.get_by_label("Password (optional", exact=False).fill("correct horse battery staple")
            page.get_by_role("button", name="Add mapping").click()
            expect(page.get_by_role("status").filter(has_text="Mapped")).to_contain_text("CONTOSO\\alice")
            row = page.get_by_role("row", name="CONTOSO\\alice")
            expect(row).to_contain_text("CN=alice")
            expect(row).to_contain_text("yes")
            assert "correct horse" not in page.content()
            b.screenshot(page, "mappings-alice")
            b.axe(page, "mappings")

        @check("drop a private key and read the refusal, by name")
        def _():
            drop(page, alice["key"].read_bytes(), "alice.key")
            page.get_by_label("Windows account (DOMAIN\\user)").fill("CONTOSO\\alice")
            page.get_by_role("button", name="Add mapping").click()
            inline = page.locator("#cert-problem")
            expect(inline).to_contain_text("private key")
            b.screenshot(page, "private-key-refused")
            page.get_by_role("button", name="Clear file").click()

        @check("paste a certificate (PEM) to add a mapping")
        def _():
            page.get_by_label("…or paste the certificate", exact=False).fill(carol["pem"].read_text())
            page.get_by_label("Windows account (DOMAIN\\user)").fill("FABRIKAM\\carol")
            page.get_by_role("button", name="Add mapping").click()
            expect(page.get_by_role("row", name="FABRIKAM\\carol")).to_be_visible()

        @check("disable alice")
        def _():
            page.get_by_role("button", name="Disable CONTOSO\\alice").click()
            row = page.get_by_role("row", name="CONTOSO\\alice")
            expect(row.get_by_role("button", name="Enable CONTOSO\\alice")).to_be_visible()
            items = api("GET", f"/sites/{state['site']}/mappings?user_name=CONTOSO%5Calice", admin)["items"]
            assert items[0]["enabled"] is False, items
            state["alice"] = items[0]["id"]

        @check("filter the mappings by user and by fingerprint (server-side)")
        def _():
            page.get_by_label("User (full account", exact=False).fill("fabrikam\\carol")
            page.get_by_role("button", name="Filter", exact=True).click()
            expect(page.get_by_role("row", name="FABRIKAM\\carol")).to_be_visible()
            expect(page.get_by_role("row", name="CONTOSO\\alice")).to_have_count(0)
            assert any("user_name=fabrikam" in u for u in b.urls), "the filter did not reach the server"
            page.get_by_label("User (full account", exact=False).fill("")
            sha1 = api("GET", f"/sites/{state['site']}/mappings/{state['alice']}", admin)["sha1"]
            page.get_by_label("SHA-1 or SHA-256 fingerprint").fill(sha1)
            page.get_by_role("button", name="Filter", exact=True).click()
            expect(page.get_by_role("row", name="CONTOSO\\alice")).to_be_visible()
            expect(page.get_by_role("row", name="FABRIKAM\\carol")).to_have_count(0)

        @check("edit the same mapping from two pages: the second sees the conflict, not an overwrite")
        def _():
            url = f"{BASE}/ui/#/sites/{state['site']}/mappings/{state['alice']}"
            page.goto(url)
            other = b.page()
            b.sign_in(other, admin)
            other.goto(url)
            for p in (page, other):
                expect(p.get_by_role("heading", level=1, name="Mapping of CONTOSO\\alice")).to_be_visible()
            page.get_by_label("Description").fill("laptop, edited on page one")
            page.get_by_role("button", name="Save mapping").click()
            expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
            other.get_by_label("Description").fill("desktop, edited on page two")
            other.get_by_role("button", name="Save mapping").click()
            conflict = other.get_by_role("alert").filter(has_text="Someone else changed this mapping")
            expect(conflict).to_be_visible()
            expect(conflict.get_by_role("row", name="Description")).to_contain_text("laptop, edited on page one")
            expect(conflict.get_by_role("row", name="Description")).to_contain_text("desktop, edited on page two")
            got = api("GET", f"/sites/{state['site']}/mappings/{state['alice']}", admin)
            assert got["description"] == "laptop, edited on page one", got
            b.screenshot(other, "mapping-conflict")
            b.axe(other, "mapping conflict")
            other.get_by_role("button", name="Save mine over theirs").click()
            expect(other.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
            got = api("GET", f"/sites/{state['site']}/mappings/{state['alice']}", admin)
            assert got["description"] == "desktop, edited on page two", got
            other.context.close()

        @check("set a password on a mapping without ever seeing it")
        def _():
            page.reload()
            page.get_by_label("Replace the password").check()
            page.get_by_label("New password").fill("n3w-Secret-value")
            page.get_by_role("button", name="Save mapping").click()
            expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
            expect(page.get_by_text("set (never shown)")).to_be_visible()
            assert "n3w-Secret-value" not in page.content()

        @check("many-to-one rules: create one, then test a certificate with resolve")
        def _():
            page.goto(f"{BASE}/ui/#/sites/{state['site']}/rules")
            page.get_by_role("button", name="New many-to-one mapping").click()
            page.get_by_label("Name", exact=True).fill("Contoso staff")
            page.get_by_label("Windows account").fill("CONTOSO\\staff")
            page.get_by_label("Rule 1 match criteria").fill("Contoso")
            page.get_by_role("button", name="Add a rule").click()
            page.get_by_label("Rule 2 sub-field").select_option("CN")
            page.get_by_label("Rule 2 match criteria").fill("b*")
            page.get_by_role("button", name="Up rule 2").click()
            expect(page.get_by_label("Rule 1 match criteria")).to_have_value("b*")
            page.get_by_role("button", name="Create mapping").click()
            expect(page.get_by_role("heading", level=3, name="Contoso staff")).to_be_visible()
            page.get_by_label("…or paste it").fill(bob["pem"].read_text())
            page.get_by_role("button", name="Test", exact=True).click()
            result = page.locator("dl.resolution")
            expect(result).to_contain_text("many-to-one")
            expect(result).to_contain_text("CONTOSO\\staff")
            b.screenshot(page, "rules-and-resolve")
            b.axe(page, "rules")

        @check("health: the site's lint findings with severity, IIS symptom and fix")
        def _():
            b.visit(page, "site-health", f"#/sites/{state['site']}/health", "Default Web Site")
            expect(page.get_by_role("heading", name="Findings")).to_be_visible()
            # Carol has no password: IIS could not log her on.
            row = page.get_by_role("row", name="FABRIKAM\\carol")
            expect(row).to_contain_text("warning")
            expect(row).to_contain_text("401.1 Unauthorized: logon failure")
            expect(row).to_contain_text("set the account's password")

        @check("expiring certificates across every site, in 30 / 60 / 90 day groups")
        def _():
            b.visit(page, "expiring", "#/health", "Expiring certificates")
            for w in ("30", "60", "90"):
                expect(page.get_by_role("heading", name=f"Within {w} days")).to_be_visible()

        @check("download the nginx config")
        def _():
            page.goto(f"{BASE}/ui/#/sites/{state['site']}/config")
            page.get_by_label("Format").select_option("nginx")
            page.get_by_label("upstream").fill("http://127.0.0.1:9000")
            page.get_by_role("button", name="Preview").click()
            expect(page.locator("pre.config")).to_contain_text("ssl_client_fingerprint")
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download").click()
            saved = WORK / dl.value.suggested_filename
            dl.value.save_as(saved)
            text = saved.read_text()
            assert dl.value.suggested_filename.endswith(".conf"), dl.value.suggested_filename
            assert "ssl_client_fingerprint" in text and "127.0.0.1:9000" in text, text[:500]
            b.screenshot(page, "config-nginx")
            b.axe(page, "config")

        @check("import an applicationHost.config with the seed's mistake and apply the repair")
        def _():
            config = WORK / "applicationHost.config"
            config.write_text(seed_config(bob["der"].read_bytes()))
            page.goto(f"{BASE}/ui/#/import")
            page.get_by_label("applicationHost.config, an exported location", exact=False).set_input_files(str(config))
            page.get_by_role("button", name="Dry run").click()
            refusal = page.get_by_role("alert").filter(has_text="mapping-not-at-site-root")
            expect(refusal).to_contain_text("0x80070005")
            expect(page.get_by_role("heading", name="Everything the file gets wrong")).to_be_visible()
            expect(page.locator("pre.fix").first).to_contain_text('<location path="Contoso Intranet">')
            b.screenshot(page, "import-refused")
            page.get_by_label("Repair what IIS would break on").check()
            page.get_by_role("button", name="Dry run").click()
            expect(page.get_by_role("heading", name="Dry run: nothing was stored, with repair")).to_be_visible()
            assert not [s for s in api("GET", "/sites", admin)["items"] if s["name"] == "Contoso Intranet"]
            page.get_by_role("button", name="Apply with repair").click()
            expect(page.get_by_role("heading", name="Imported, with repair")).to_be_visible()
            b.screenshot(page, "import-applied")
            b.axe(page, "import")
            site = [s for s in api("GET", "/sites", admin)["items"] if s["name"] == "Contoso Intranet"][0]
            assert site["certificate_mapping"]["enabled"] is True, site
            dirs = api("GET", f"/sites/{site['id']}/directories", admin)["items"]
            assert dirs[0]["path"] == "/secure" and dirs[0]["anonymous_auth"] is False, dirs

        @check("audit log, filtered by site and by actor")
        def _():
            b.visit(page, "audit", "#/audit", "Audit log")
            page.get_by_label("Site").select_option(label="Default Web Site")
            page.get_by_label("Actor").fill("token:console-admin")
            page.get_by_role("button", name="Filter", exact=True).click()
            expect(page.get_by_role("cell", name="mapping.create").first).to_be_visible()
            expect(page.get_by_role("cell", name="site.create").first).to_be_visible()
            assert any("actor=token%3Aconsole-admin" in u for u in b.urls), [u for u in b.urls if "audit" in u]
            page.get_by_label("Actor").fill("token:nobody")
            page.get_by_role("button", name="Filter", exact=True).click()
            expect(page.get_by_text("0 event(s)")).to_be_visible()

        @check("every remaining page passes axe, and a mappings page pages on the server")
        def _():
            b.visit(page, "sites", "#/sites", "Sites")
            b.visit(page, "site-settings", f"#/sites/{state['site']}", "Default Web Site")
            b.visit(page, "mapping-edit", f"#/sites/{state['site']}/mappings/{state['alice']}", "Mapping of CONTOSO\\alice")
            b.visit(page, "import-empty", "#/import", "Import IIS configuration")
            assert any("/mappings?limit=50" in u for u in b.urls), "the mappings table does not page"

        @check("phone width: no page scrolls sideways, and each is screenshotted")
        def _():
            phone = b.page(width=390, height=844)
            b.sign_in(phone, admin)
            # Each page is measured once its own content is there (a hash change keeps the old page
            # until the new one renders).
            for name, path, ready in [
                ("sites", "#/sites", "site(s)"),
                ("site", f"#/sites/{state['site']}", "Add a directory"),
                ("mappings", f"#/sites/{state['site']}/mappings", "mapping(s) on page"),
                ("rules", f"#/sites/{state['site']}/rules", "Test a certificate"),
                ("audit", "#/audit", "event(s), newest first"),
            ]:
                phone.goto(f"{BASE}/ui/{path}")
                expect(phone.get_by_text(ready).first).to_be_visible()
                phone.wait_for_load_state("networkidle")
                wide = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                culprits = phone.evaluate("""() => [...document.querySelectorAll('main *')]
                    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .slice(0, 5).map((e) => e.tagName + '.' + e.className)""")
                assert wide <= 1, f"{name} is {wide}px wider than the phone: {culprits}"
                b.screenshot(phone, f"phone-{name}")
                b.axe(phone, f"phone {name}")
            phone.context.close()

        @check("a reader sees no write controls")
        def _():
            reader = b.page()
            b.sign_in(reader, token("reader", subject="console-reader"))
            expect(reader.get_by_role("link", name="Default Web Site")).to_be_visible()
            expect(reader.get_by_role("button", name="New site")).to_have_count(0)
            expect(reader.get_by_role("link", name="Audit log")).to_have_count(0)
            expect(reader.get_by_role("link", name="Import IIS config")).to_have_count(0)
            reader.goto(f"{BASE}/ui/#/sites/{state['site']}")
            expect(reader.get_by_role("heading", level=1, name="Default Web Site")).to_be_visible()
            expect(reader.get_by_role("button", name="Save site")).to_have_count(0)
            expect(reader.get_by_role("button", name="Delete site")).to_have_count(0)
            expect(reader.get_by_role("button", name="Add directory")).to_have_count(0)
            reader.goto(f"{BASE}/ui/#/sites/{state['site']}/mappings")
            expect(reader.get_by_role("row", name="CONTOSO\\alice")).to_be_visible()
            expect(reader.get_by_role("button", name="Add mapping")).to_have_count(0)
            expect(reader.get_by_role("button", name="Disable", exact=False)).to_have_count(0)
            b.screenshot(reader, "reader-mappings")
            reader.context.close()

        @check("a token scoped to one site sees only that site")
        def _():
            scoped = b.page()
            b.sign_in(scoped, token("editor", "Contoso Intranet", subject="console-scoped"))
            expect(scoped.get_by_role("link", name="Contoso Intranet")).to_be_visible()
            expect(scoped.get_by_role("link", name="Default Web Site")).to_have_count(0)
            scoped.context.close()

        @check("an expired token sends the user back to sign-in with the server's reason")
        def _():
            late = b.page()
            b.sign_in(late, admin)
            late.evaluate("t => sessionStorage.setItem('certmap.token', t)", expired_token())
            late.goto(f"{BASE}/ui/#/sites/{state['site']}")
            expect(late.get_by_role("heading", name="Sign in to certmap")).to_be_visible()
            expect(late.get_by_role("alert")).to_contain_text("expired")
            assert late.evaluate("sessionStorage.getItem('certmap.token')") is None
            b.screenshot(late, "signed-out-expired")
            late.context.close()

        @check("Sign out clears the token; the token never appeared in a URL")
        def _():
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("heading", name="Sign in to certmap")).to_be_visible()
            assert page.evaluate("sessionStorage.length") == 0
            leaked = [u for u in b.urls if admin in u or admin[:40] in u]
            assert not leaked, leaked

        @check("a site can be deleted, after confirming")
        def _():
            b.sign_in(page, admin)
            intranet = [s for s in api("GET", "/sites", admin)["items"] if s["name"] == "Contoso Intranet"][0]
            page.goto(f"{BASE}/ui/#/sites/{intranet['id']}")
            page.get_by_role("button", name="Delete site").click()
            page.get_by_role("button", name="Yes, delete site").click()
            expect(page.get_by_role("heading", level=1, name="Sites")).to_be_visible()
            assert not [s for s in api("GET", "/sites", admin)["items"] if s["name"] == "Contoso Intranet"]

        @check("no CSP refusal or script error in any page")
        def _():
            assert not b.errors, b.errors

        b.browser.close()
    print(f"{len(passed)} passed, {len(failed)} failed; screenshots in {SHOTS}")
    return 1 if failed else 0


def drop(page, data, name):
    """A real drop event on the drop zone, carrying the file the way a file manager would."""
    transfer = page.evaluate_handle(
        "([bytes, name]) => { const t = new DataTransfer();"
        " t.items.add(new File([new Uint8Array(bytes)], name)); return t; }",
        [list(data), name])
    page.dispatch_event("[data-testid=drop-zone]", "drop", {"dataTransfer": transfer})


if __name__ == "__main__":
    sys.exit(main())
