"""device_sim is a client of the wire contract only: no imports of our other packages."""

from __future__ import annotations

from pathlib import Path

from support.imports import imported_roots

import device_sim

FORBIDDEN = {"gateway", "ingest", "alerts"}


def test_device_sim_imports_nothing_from_gateway_ingest_or_alerts() -> None:
    package = Path(device_sim.__file__).parent
    modules = sorted(package.rglob("*.py"))
    assert modules
    for module in modules:
        bad = imported_roots(module) & FORBIDDEN
        assert not bad, f"{module} imports {sorted(bad)}"


def test_public_api_is_exported() -> None:
    for name in (
        "ALL_FAULTS",
        "Place",
        "TagPlan",
        "RecallPlan",
        "FleetPlan",
        "plan_fleet",
        "SimConfig",
        "SimStats",
        "run_simulator",
        "register_fleet",
    ):
        assert name in device_sim.__all__
        assert hasattr(device_sim, name)
    assert frozenset({"excursion", "recall", "overdue", "malformed"}) == device_sim.ALL_FAULTS
