"""Writes every dashboard's JSON into dashboards/json, and tells whether the committed
JSON still matches the code (`boomerang dashboards generate --check`)."""

from __future__ import annotations

import json
from pathlib import Path

from dashboards.boards import all_dashboards

JSON_DIR = Path(__file__).parent / "json"


def rendered() -> dict[str, str]:
    """File name -> JSON text, for every dashboard."""
    return {
        f"{board.uid.removeprefix('boomerang-')}.json":
            json.dumps(board.to_json(), indent=2, ensure_ascii=False) + "\n"
        for board in all_dashboards()
    }


def write(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = JSON_DIR) -> list[str]:
    """What differs between the directory and the generator: files missing, changed, or
    left over from a dashboard that no longer exists."""
    expected = rendered()
    problems = []
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from the generator")
    problems += [f"{path.name}: no dashboard generates it"
                 for path in sorted(directory.glob("*.json")) if path.name not in expected]
    return problems
