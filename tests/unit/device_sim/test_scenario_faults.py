"""Each fault does what its name says to the messages, and the ground truth expects exactly
the alert (or none) the contract's rules give for it."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from scenario_wire import compile_text, decode, expected_of, readings_of

from device_sim.timeline import Expected, Timeline

MIN = timedelta(minutes=1)
# Three cold-chain shipments reporting every 2 minutes, two rentals every 5; no faults yet.
BASE = """
name: unit
seed: 9
start: -1d
duration: 1d
time_scale: 240
profiles:
  sim-unit:
    silent_after: 1h
    battery_below_pct: 15
    metrics:
      temp_c: {min: 2, max: 8, min_duration: 5m, hysteresis: 0.5}
      humidity_pct: {max: 80, min_duration: 20m, hysteresis: 5}
      shock_g: {max: 6}
      tilt_deg: {max: 45, min_duration: 2m, hysteresis: 5}
      light_lux: {max: 50, min_duration: 1m, hysteresis: 10}
places:
  hub: {kind: hub, place: Bad Hersfeld}
  depot: {kind: depot, place: Leipzig}
fleet:
  - group: sh
    count: 3
    kind: shipment
    profile: sim-unit
    report_every: 2m
    origins: [Munich]
    destination: hub
    depart_after: 30m
  - group: re
    count: 2
    kind: rental
    profile: sim-unit
    report_every: 5m
    origins: [Berlin]
    destination: depot
    due_in: 5d
faults: FAULTS
"""


def run(*faults: str, seed: int | None = None) -> Timeline:
    listed = "\n" + "\n".join(f"  - {f}" for f in faults) if faults else "[]"
    return compile_text(BASE.replace("FAULTS", listed), seed=seed)[1]


def alerts(timeline: Timeline) -> list[Expected]:
    return [e for e in timeline.expected if e.kind != "arrival"]


@pytest.fixture(scope="module")
def baseline() -> Timeline:
    return run()


def test_without_faults_nothing_but_arrivals_is_expected(baseline: Timeline) -> None:
    assert alerts(baseline) == []
    assert {e.asset_id for e in baseline.expected} == {
        "asset-sh-0001", "asset-sh-0002", "asset-sh-0003"}
    assert baseline.faults == {}
    assert {e.fault for e in baseline.emissions} == {""}


def test_a_40_minute_temp_excursion_opens_out_of_spec_5_minutes_in() -> None:
    timeline = run("{fault: temp_excursion, tags: [sh-0001], at: 6h, duration: 40m, value: 14}")
    begin = timeline.start + timedelta(hours=6)
    [opened] = alerts(timeline)
    assert (opened.kind, opened.asset_id, opened.key) == ("out_of_spec", "asset-sh-0001",
                                                          "temp_c")
    # The first reading inside the window starts it; 5 minutes of readings open it.
    assert begin + 5 * MIN <= opened.at <= begin + 5 * MIN + 2 * MIN + 30 * timedelta(seconds=1)
    assert opened.tolerance == 2 * MIN + 2 * MIN
    hot = [r for r in readings_of(timeline, "sh-0001") if r.values["temp_c"] > 8]
    assert hot and all(begin <= r.ts < begin + 40 * MIN for r in hot)
    assert all(13.5 <= r.values["temp_c"] <= 14.5 for r in hot)
    assert timeline.faults == {"temp_excursion": 1}


def test_an_excursion_shorter_than_its_min_duration_is_tolerated() -> None:
    timeline = run("{fault: temp_excursion, tags: [sh-0001], at: 6h, duration: 3m, value: 14}")
    assert alerts(timeline) == []
    assert any(e.fault == "temp_excursion" for e in timeline.emissions)


def test_a_cold_excursion_below_the_range_counts_too() -> None:
    timeline = run("{fault: temp_excursion, tags: [sh-0002], at: 3h, duration: 30m, value: -4}")
    [opened] = alerts(timeline)
    assert opened.key == "temp_c"


def test_a_humidity_excursion_opens_after_the_humidity_min_duration() -> None:
    timeline = run(
        "{fault: humidity_excursion, tags: [sh-0002], at: 2h, duration: 45m, value: 95}")
    [opened] = alerts(timeline)
    assert opened.key == "humidity_pct"
    begin = timeline.start + timedelta(hours=2)
    assert begin + 20 * MIN <= opened.at <= begin + 23 * MIN


def test_a_drop_opens_out_of_spec_on_shock_at_that_reading() -> None:
    timeline = run("{fault: drop, tags: [sh-0003], at: 4h, value: 25}")
    [opened] = alerts(timeline)
    assert opened.key == "shock_g"
    [hard] = [r for r in readings_of(timeline, "sh-0003") if r.values["shock_g"] > 6]
    assert hard.values["shock_g"] == 25 and opened.at == hard.ts


def test_an_opened_package_shows_light_and_opens_out_of_spec() -> None:
    timeline = run("{fault: opened, tags: [sh-0001], at: 5h, duration: 10m}")
    [opened] = alerts(timeline)
    assert opened.key == "light_lux"
    lit = [r for r in readings_of(timeline, "sh-0001") if r.values["light_lux"] > 50]
    assert len(lit) >= 4


def test_tilt_opens_out_of_spec_after_its_min_duration() -> None:
    timeline = run("{fault: tilt, tags: [sh-0001], at: 5h, duration: 10m, value: 120}")
    [opened] = alerts(timeline)
    assert opened.key == "tilt_deg"
    begin = timeline.start + timedelta(hours=5)
    assert begin + 2 * MIN <= opened.at <= begin + 5 * MIN


def test_a_dying_battery_is_expected_low_where_it_crosses_the_threshold() -> None:
    timeline = run("{fault: dying_battery, tags: [re-0001], at: 2h, duration: 6h, value: 5}")
    [low] = alerts(timeline)
    assert (low.kind, low.asset_id) == ("low_battery", "asset-re-0001")
    readings = readings_of(timeline, "re-0001")
    crossing = next(r for r in readings if r.values["battery_pct"] < 15)
    assert low.at == crossing.ts
    assert timeline.start + timedelta(hours=2) < low.at < timeline.start + timedelta(hours=8)
    batteries = [r.values["battery_pct"] for r in readings if r.ts >= low.at]
    assert batteries == sorted(batteries, reverse=True)


def test_a_silent_tag_is_expected_silent_after_its_last_reading() -> None:
    timeline = run("{fault: silent, tags: [re-0002], at: 6h, duration: 3h}")
    [quiet] = alerts(timeline)
    assert (quiet.kind, quiet.asset_id) == ("silent", "asset-re-0002")
    readings = readings_of(timeline, "re-0002")
    last = max(r.ts for r in readings if r.ts < timeline.start + timedelta(hours=6))
    assert quiet.at == last + timedelta(hours=1)
    assert not [r for r in readings
                if timeline.start + timedelta(hours=6) <= r.ts < timeline.start + timedelta(
                    hours=9)]


def test_a_silence_shorter_than_silent_after_raises_nothing() -> None:
    timeline = run("{fault: silent, tags: [re-0002], at: 6h, duration: 20m}")
    assert alerts(timeline) == []
    assert timeline.faults == {"silent": 1}


def test_a_shipment_silent_to_the_end_never_arrives() -> None:
    timeline = run("{fault: silent, tags: [sh-0001], at: 1h}")
    assert [e.kind for e in expected_of(timeline, "asset-sh-0001")] == ["silent"]


def test_a_rental_kept_past_due_is_expected_overdue_after_the_grace() -> None:
    timeline = run("{fault: overdue, tags: [re-0001], at: 10h}")
    due = timeline.start + timedelta(hours=10)
    [body] = [a for a in timeline.assets if a["id"] == "asset-re-0001"]
    assert datetime.fromisoformat(body["due_at"]) == due
    [late] = alerts(timeline)
    assert (late.kind, late.asset_id, late.at) == ("overdue", "asset-re-0001",
                                                  due + timedelta(hours=1))
    # Never returned: it stays at its customer's.
    readings = readings_of(timeline, "re-0001")
    assert max(r.values["speed_kmh"] for r in readings) == 0
    assert any(e.fault == "overdue" for e in timeline.emissions)


def test_the_overdue_grace_is_the_scenarios() -> None:
    text = BASE.replace("time_scale: 240", "time_scale: 240\noverdue_grace: 3h").replace(
        "FAULTS", "\n  - {fault: overdue, tags: [re-0001], at: 10h}")
    _, timeline, _ = compile_text(text)
    [late] = alerts(timeline)
    assert late.at == timeline.start + timedelta(hours=13)


def test_rentals_due_within_the_run_come_back_before_they_are_due() -> None:
    text = BASE.replace("due_in: 5d", "due_in: 16h")
    _, timeline, _ = compile_text(text.replace("FAULTS", "[]"))
    for tag_id in ("re-0001", "re-0002"):
        [arrived] = expected_of(timeline, f"asset-{tag_id}", "arrival")
        assert arrived.at < timeline.start + timedelta(hours=16)
    assert alerts(timeline) == []


def test_a_recalled_lot_registers_one_recall_and_expects_it_for_each_asset() -> None:
    timeline = run("{fault: recalled_lot, group: sh, count: 2, sku: DRILL-18V, lot: R2501A}")
    assert timeline.recalls == [{"sku": "DRILL-18V", "lots": ["R2501A"], "serials": [],
                                 "reason": "Safety recall: return for inspection"}]
    hit = [a for a in timeline.assets if a["lot"] == "R2501A"]
    assert len(hit) == 2
    assert all(a["sku"] == "DRILL-18V" and a["flow"] == "recall" for a in hit)
    recalls = [e for e in alerts(timeline) if e.kind == "recall"]
    assert sorted(e.asset_id for e in recalls) == sorted(a["id"] for a in hit)
    for expected in recalls:
        first = readings_of(timeline, expected.asset_id.removeprefix("asset-"))[0]
        assert expected.at == first.ts
        # The gateway raises it when asset and recall are both registered, after the run.
        assert expected.at + expected.tolerance >= timeline.end


def test_an_offline_burst_publishes_the_buffer_in_one_batch_when_back() -> None:
    timeline = run("{fault: offline_burst, tags: [sh-0002], at: 2h, duration: 40m}")
    begin, end = timeline.start + timedelta(hours=2), timeline.start + timedelta(hours=2,
                                                                                  minutes=40)
    mine = [e for e in timeline.emissions if e.topic == "tags/sh-0002/telemetry"]
    assert not [e for e in mine if begin <= e.at < end]
    [burst] = [e for e in mine if e.fault == "offline_burst"]
    assert burst.at == end
    batch = orjson.loads(burst.payload)["readings"]
    assert 18 <= len(batch) <= 21
    seqs = [r["seq"] for r in batch]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(begin <= datetime.fromisoformat(r["ts"]) < end for r in batch)
    assert not decode(burst).dead_letters
    assert alerts(timeline) == []  # 40 minutes is within silent_after (1 h)


def test_an_offline_burst_longer_than_silent_after_is_expected_silent() -> None:
    timeline = run("{fault: offline_burst, tags: [sh-0002], at: 2h, duration: 3h}")
    [quiet] = alerts(timeline)
    assert (quiet.kind, quiet.asset_id) == ("silent", "asset-sh-0002")
    assert quiet.at < timeline.start + timedelta(hours=3, minutes=5)


def test_a_burst_of_over_a_thousand_readings_is_split_into_contract_sized_batches() -> None:
    text = BASE.replace("report_every: 2m", "report_every: 10s").replace(
        "start: -1d\nduration: 1d", "start: -8h\nduration: 8h").replace(
        "silent_after: 1h", "silent_after: 6h")
    _, timeline, _ = compile_text(text.replace(
        "FAULTS", "\n  - {fault: offline_burst, tags: [sh-0001], at: 1h, duration: 4h}"))
    bursts = [e for e in timeline.emissions if e.fault == "offline_burst"]
    assert len(bursts) >= 3
    for burst in bursts:
        assert len(orjson.loads(burst.payload)["readings"]) <= 1000
        assert len(burst.payload) <= 256 * 1024
        assert not decode(burst).dead_letters


def test_duplicates_publish_the_same_message_twice_and_change_nothing(
    baseline: Timeline,
) -> None:
    timeline = run("{fault: duplicates, tags: [sh-0001], messages: 3}")
    twice = [e for e in timeline.emissions if e.fault == "duplicates"]
    assert len(twice) == 6
    for first, second in zip(twice[::2], twice[1::2], strict=True):
        assert first == second
    assert len(timeline.emissions) == len(baseline.emissions) + 3
    assert timeline.expected == baseline.expected


def test_clock_skew_shifts_reading_times_within_the_contract() -> None:
    timeline = run("{fault: clock_skew, tags: [sh-0001], at: 1h, value: +4m}",
                   "{fault: clock_skew, tags: [sh-0002], at: 1h, duration: 2h, value: -10m}")
    for emission in timeline.emissions:
        [reading] = decode(emission).readings
        off = reading.ts - emission.at
        if emission.fault != "clock_skew":
            assert off == timedelta(0)
        elif emission.topic.startswith("tags/sh-0001/"):
            assert off == 4 * MIN
        else:
            assert off == -10 * MIN
    assert timeline.faults == {"clock_skew": 2}
    assert alerts(timeline) == []


def test_malformed_oversized_and_impersonation_expect_nothing(baseline: Timeline) -> None:
    timeline = run("{fault: malformed, tags: [sh-0001], at: 1h}",
                   "{fault: oversized, tags: [sh-0002], at: 2h}",
                   "{fault: impersonation, tags: [re-0001], target: sh-0003, at: 3h}")
    assert timeline.expected == baseline.expected
    assert timeline.faults == {"impersonation": 1, "malformed": 4, "oversized": 1}
    bad = [e for e in timeline.emissions if e.fault == "malformed"]
    assert len(bad) == 4 and len({e.payload for e in bad}) == 4
    for emission in bad:
        decoded = decode(emission)
        assert decoded.dead_letters and not decoded.readings
    [big] = [e for e in timeline.emissions if e.fault == "oversized"]
    assert len(big.payload) > 256 * 1024
    assert "256 KiB" in decode(big).dead_letters[0].reason


def test_an_impersonator_publishes_on_its_victims_topic_under_its_own_login() -> None:
    timeline = run("{fault: impersonation, tags: [re-0001], target: sh-0003, at: 3h, "
                   "messages: 2}")
    forged = [e for e in timeline.emissions if e.fault == "impersonation"]
    assert len(forged) == 2
    for emission in forged:
        assert emission.topic == "tags/sh-0003/telemetry"
        assert emission.username == "re-0001"
        # Were it let through, it would pass for a reading: only the broker stops it.
        assert decode(emission).readings and not decode(emission).dead_letters
    assert timeline.logins["re-0001"] == "re-0001"


def test_a_rental_taken_off_its_site_leaves_its_allowed_area() -> None:
    timeline = run("{fault: geofence_exit, tags: [re-0002], at: 8h, duration: 3h, value: 15}")
    [body] = [a for a in timeline.assets if a["id"] == "asset-re-0002"]
    [area] = [g for g in timeline.geofences if g["id"] == body["allowed_area"]]
    assert area["kind"] == "area" and area["circle"]["radius_m"] == 1500
    assert all("allowed_area" not in a for a in timeline.assets if a is not body)
    [left] = alerts(timeline)
    assert (left.kind, left.asset_id) == ("geofence", "asset-re-0002")
    begin = timeline.start + timedelta(hours=8)
    assert begin < left.at < begin + 20 * MIN


@pytest.mark.parametrize("fault", [
    "{fault: temp_excursion, group: sh, count: 2, at: 3h, duration: 30m}",
    "{fault: drop, group: sh, at: 3h}",
    "{fault: dying_battery, group: re, at: 3h}",
])
def test_a_fault_picked_by_count_lands_on_that_many_tags_of_the_group(fault: str) -> None:
    timeline = run(fault)
    name = fault.split(",")[0].removeprefix("{fault: ")
    marked = {e.topic for e in timeline.emissions if e.fault == name}
    count = 2 if "count: 2" in fault else 1
    assert len(marked) == count
    assert all(topic.startswith(f"tags/{fault.split('group: ')[1][:2]}-") for topic in marked)


def test_faults_on_different_seeds_pick_different_tags() -> None:
    picks = set()
    for seed in range(8):
        timeline = run("{fault: drop, group: sh, at: 3h}", seed=seed)
        picks |= {e.topic for e in timeline.emissions if e.fault == "drop"}
    assert len(picks) > 1
