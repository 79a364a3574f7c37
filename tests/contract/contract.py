"""Small checks for tests/contract/run, standard library only.

    contract.py same-spec SERVED COMMITTED          the served spec is the committed one
    contract.py docs-rendered DOM.html SPEC.json    Swagger UI rendered every operation
    contract.py browser-clean CHROMIUM.log SERVER.log FROM_LINE
                                                    no failed load, CSP refusal or script error
"""

import json
import re
import sys

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def same_spec(served_path, committed_path):
    with open(served_path) as f:
        served = json.load(f)
    with open(committed_path) as f:
        committed = json.load(f)
    if served == committed:
        return True
    for key in sorted(set(served) | set(committed)):
        if served.get(key) != committed.get(key):
            print(f"  differs at top-level key {key!r}")
    return False


def docs_rendered(dom_path, spec_path):
    """Swagger UI gives each operation block the id `operations-<tag>-<operationId>`."""
    with open(dom_path, encoding="utf-8", errors="replace") as f:
        dom = f.read()
    with open(spec_path) as f:
        spec = json.load(f)
    missing, found = [], 0
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag = (op.get("tags") or ["default"])[0]
            op_id = op["operationId"]
            # Swagger UI escapes the id the way CSS.escape would; the ids here are plain words.
            if f'id="operations-{tag}-{op_id}"' in dom:
                found += 1
            else:
                missing.append(f"{method.upper()} {path} ({tag}/{op_id})")
    if "swagger-ui" not in dom:
        print("  the page has no Swagger UI at all")
        return False
    print(f"  {found} operations rendered")
    for m in missing:
        print(f"  not rendered: {m}")
    return found > 0 and not missing


# What chromium logs (--enable-logging=stderr) when a page is refused something or breaks.
BROWSER_PROBLEMS = re.compile(
    r"net::ERR_|Failed to load resource|Refused to|Content Security Policy|Uncaught|CONSOLE.*(?:error|Error)"
)


def browser_clean(chromium_log, server_log, from_line):
    ok = True
    with open(chromium_log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if BROWSER_PROBLEMS.search(line):
                print(f"  browser: {line.rstrip()}")
                ok = False
    requests = 0
    with open(server_log, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f):
            if number < int(from_line):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message") != "request":
                continue
            requests += 1
            status = int(event.get("status", 0))
            if status >= 400:
                print(f"  server answered the browser {status}: {event.get('method')} {event.get('path')}")
                ok = False
    print(f"  the browser made {requests} requests")
    if requests == 0:
        print("  the server saw no request from the browser at all")
        ok = False
    return ok


def main(argv):
    commands = {"same-spec": same_spec, "docs-rendered": docs_rendered, "browser-clean": browser_clean}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if commands[argv[1]](*argv[2:]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
