"""What the benchmark scripts share: the state database opened as the gateway opens it, and
the JSON they print and keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.app import migrated_state_db as open_state_db

__all__ = ["open_state_db", "report"]


def report(result: dict[str, Any], output: Path | None) -> None:
    """Print the result as JSON, and keep it in `output` when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if output is not None:
        output.write_text(text + "\n")
