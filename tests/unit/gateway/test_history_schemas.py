"""The track's series names in the OpenAPI schema are the measurements it fills them from."""

from __future__ import annotations

from typing import get_args

from gateway.api.history import CONDITIONS
from gateway.api.schemas import Condition, Measurement
from ingest.readings import MEASUREMENTS


def test_schema_names_match_the_contracts_measurements() -> None:
    assert set(get_args(Measurement)) == set(MEASUREMENTS)
    assert set(get_args(Condition)) == set(CONDITIONS) == set(MEASUREMENTS) - {"lat", "lon"}
