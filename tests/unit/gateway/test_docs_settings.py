"""Every setting the code reads is documented, and every documented one exists."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.settings import ENV_PREFIX, Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_docs_settings_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"^\| `(BOOMERANG_[A-Z0-9_]+)`", DOC.read_text(), re.MULTILINE))
    in_code = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert documented == in_code
