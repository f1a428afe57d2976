"""What the benchmark scripts share: the state database opened as the gateway opens it, and
the JSON they print and keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.migrations import upgrade
from ingest.statedb import StateDb


def open_state_db(url: str) -> StateDb:
    """As gateway/app.py opens the state db: migrated before any store reads it."""
    db = StateDb.open(url)
    try:
        upgrade(db)
    except BaseException:
        db.close()
        raise
    return db


def report(result: dict[str, Any], output: Path | None) -> None:
    """Print the result as JSON, and keep it in `output` when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if output is not None:
        output.write_text(text + "\n")
