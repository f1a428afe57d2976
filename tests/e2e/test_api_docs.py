"""The API's documentation pages work on a machine without internet: `/docs` and `/redoc` of
a real gateway load every script, style sheet and icon from the gateway itself, and need no
API key."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from support.gateways import GatewayProcess

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)

# What each kind of file must be served as.
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png",
                 ".json": "application/json"}


class References(HTMLParser):
    """The URLs a page makes the browser load: scripts, style sheets and icons (every
    `link`), and ReDoc's `spec-url`."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "redoc": "spec-url"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


@pytest.mark.parametrize(("page", "expected"), [
    ("/docs", {".js", ".css", ".png"}),
    ("/redoc", {".js", ".png", ".json"}),
])
def test_a_docs_page_loads_every_asset_from_the_gateway_without_a_key(
    sqlite_gateway: GatewayProcess, page: str, expected: set[str]
) -> None:
    gateway = urlsplit(sqlite_gateway.api).netloc
    with httpx.Client(base_url=sqlite_gateway.api, timeout=10) as anonymous:
        response = anonymous.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        # No absolute URL anywhere in the page (a font, a validator badge) names another host.
        for absolute in re.findall(r"""https?://[^\s"'<>()]+""", response.text):
            assert urlsplit(absolute).netloc == gateway, absolute
        parser = References()
        parser.feed(response.text)
        seen = set()
        for reference in parser.urls:
            url = urljoin(str(response.url), reference)
            assert urlsplit(url).netloc == gateway, reference
            suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1]
            asset = anonymous.get(url)
            assert asset.status_code == 200, url
            assert CONTENT_TYPES[suffix] in asset.headers["content-type"], url
            assert len(asset.content) > 100, url
            seen.add(suffix)
        assert seen == expected

