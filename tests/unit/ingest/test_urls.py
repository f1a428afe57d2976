"""URLs in logs and error messages keep where they point and lose what they may hide."""

from __future__ import annotations

import pytest

from ingest.urls import redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pass@h/hook?token=abc", "https://h/hook"),
    ("https://h:8443/hook?token=abc#section", "https://h:8443/hook"),
    ("http://user@[::1]:8080/hook?token=abc", "http://[::1]:8080/hook"),
    ("mqtt://gateway:p@ss@broker.example:1883", "mqtt://broker.example:1883"),
    ("https://h/a/b", "https://h/a/b"),
    ("http://h", "http://h"),
])
def test_user_info_query_and_fragment_are_left_out(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["http://user:pass@[::1/hook?token=abc",
                                 "http://user:pass@h:port/hook?token=abc"])
def test_a_url_too_malformed_to_take_apart_is_not_echoed(url: str) -> None:
    assert redact_url(url) == "(a malformed URL)"
