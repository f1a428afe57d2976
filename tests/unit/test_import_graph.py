"""Data flows one way, and so do the imports: `ingest/` imports none of our other packages,
`alerts/` only `ingest/`, `dashboards/` none, and nothing imports `gateway/`, the
composition root (device_sim's own rule is tests/unit/device_sim/test_sim_boundaries.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.imports import imported_roots

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "ingest": set(),
    "alerts": {"ingest"},
    "dashboards": set(),
}
OURS = {"gateway", "ingest", "alerts", "device_sim", "dashboards"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_lies_below_it(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    for module in modules:
        wrong = (imported_roots(module) & OURS) - ALLOWED[package] - {package}
        assert not wrong, f"{module.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_checker_sees_an_import_running_back_up(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f() -> None:\n    from gateway.settings import Settings\n")
    assert "gateway" in imported_roots(module)
