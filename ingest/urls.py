"""URLs made fit for logs and error messages: what they point at, without the secrets they
may carry in their user info (`user:password@`), query string or fragment."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """`https://user:pass@h:8443/hook?token=abc#x` -> `https://h:8443/hook`.

    The path stays: it is what tells a person which endpoint failed. A URL too malformed to
    take apart is not echoed at all, since where its secrets are cannot be told."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return "(a malformed URL)"
    # rpartition: a password may itself hold "@"; the host is what follows the last one.
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
