"""The one line-protocol serialiser."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.readings import UNASSIGNED_BINDING, Reading, TagBinding
from ingest.sinks import Point, telemetry_point, to_line

TS = datetime(2026, 11, 29, 8, 15, 0, 123456, tzinfo=UTC)


def test_telemetry_point_carries_the_contract_tags_and_seq() -> None:
    reading = Reading("tag-1", TS, 812, {"temp_c": 6.4, "lat": 52.52})
    line = to_line(telemetry_point(reading, TagBinding("a-1", "rental", "rental_return")))
    assert line == (
        "telemetry,asset_id=a-1,asset_kind=rental,flow=rental_return,tag_id=tag-1 "
        "temp_c=6.4,lat=52.52,seq=812i 1795940100123456"
    )


def test_unassigned_tags_leave_out_empty_tag_values() -> None:
    line = to_line(telemetry_point(Reading("t", TS, None, {"temp_c": 1.0}), UNASSIGNED_BINDING))
    assert line.startswith("telemetry,asset_id=unassigned,tag_id=t temp_c=1.0 ")


def test_special_characters_are_escaped() -> None:
    point = Point("alerts", {"kind": "a b,c=d"},
                  {"summary": 'say "hi"\\ \nnow', "ok": True, "n": 3}, TS)
    assert to_line(point) == (
        'alerts,kind=a\\ b\\,c\\=d summary="say \\"hi\\"\\\\  now",ok=true,n=3i '
        "1795940100123456"
    )
