"""schemathesis hooks for tests/contract/run: how to put certmap's non-JSON bodies on the wire.

A certificate may be POSTed as itself (`curl --data-binary @alice.pem`): PEM text, or DER bytes.
schemathesis knows text/plain and application/octet-stream; these media types carry the same
things, so they reuse those serializers. NDJSON (bulk import) is text too.
"""

import schemathesis

# Text bodies: PEM files and NDJSON lines.
schemathesis.serializer.alias("application/x-pem-file", "text/plain")
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
# Binary bodies: a DER certificate, as browsers and Windows name it.
schemathesis.serializer.alias("application/pkix-cert", "application/octet-stream")
schemathesis.serializer.alias("application/x-x509-ca-cert", "application/octet-stream")

# Python 3.11 before 3.11.8 (Debian 12 ships 3.11.2) can raise "SystemError: AST constructor
# recursion depth mismatch" from ast.parse deep in a call stack (CPython gh-106905). Hypothesis
# parses its own source that way only to *describe* a lambda in a message, and the error then
# aborts the whole operation as a schemathesis runtime error that says nothing about certmap.
# Describe such a lambda as "<unknown>" instead, as Hypothesis itself does when it cannot tell.
import sys

if sys.version_info < (3, 11, 8):
    from hypothesis.internal import lambda_sources

    _describe = lambda_sources._lambda_description

    def _lambda_description(f, *args, **kwargs):
        try:
            return _describe(f, *args, **kwargs)
        except SystemError:
            return "lambda: <unknown>"

    lambda_sources._lambda_description = _lambda_description
