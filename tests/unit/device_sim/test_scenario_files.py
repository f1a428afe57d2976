"""Reading scenario files: durations, defaults, and errors that name the file and the field."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenario_wire import NOW, compiled, decode

from device_sim.scenario import ScenarioError, load_scenario, parse_duration, parse_scenario

GOOD = """
name: tiny
seed: 4
start: -1d
duration: 20h
profiles:
  sim-tiny:
    silent_after: 2h
    battery_below_pct: 10
    metrics:
      temp_c: {min: 0, max: 30, min_duration: 10m, hysteresis: 1}
places:
  venlo: {kind: hub, place: Returns hub Venlo}
  dortmund: {kind: depot, place: Dortmund}
fleet:
  - group: ti
    count: 2
    kind: shipment
    profile: sim-tiny
    origins: [Hamburg, {name: Bremen, lat: 53.0793, lon: 8.8017}]
    destination: venlo
  - group: to
    count: 2
    kind: rental
    format: owntracks
    origins: [Cologne]
    destination: dortmund
  - group: tt
    count: 1
    kind: shipment
    format: things_stack
    profile: sim-tiny
    origins: [Paris]
    destination: venlo
faults:
  # An hour: the tags report every 10 minutes, give or take, so a 30-minute window could
  # hold two readings less than the profile's 10 minutes apart, and open nothing.
  - {fault: temp_excursion, group: ti, at: 2h, duration: 1h, value: 35}
  - {fault: malformed, tags: [to-0001-tag], at: 1h}
  - {fault: duplicates, tags: [tt-0001]}
"""


def bad(old: str, new: str, source: str = "rentals.yaml") -> str:
    """The error for GOOD with `old` replaced by `new`."""
    assert old in GOOD
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(GOOD.replace(old, new, 1), source)
    return str(caught.value)


def test_a_good_file_gives_frozen_plain_data() -> None:
    scenario = parse_scenario(GOOD, "tiny.yaml")
    assert scenario.name == "tiny" and scenario.source == "tiny.yaml"
    assert scenario.start == -timedelta(days=1) and scenario.duration == timedelta(hours=20)
    assert scenario.time_scale == 360 and scenario.overdue_grace == timedelta(hours=1)
    [group, trackers, lora] = scenario.fleet
    assert group.tag_ids() == ("ti-0001", "ti-0002")
    assert trackers.tag_ids() == ("to-0001-tag", "to-0002-tag")
    assert trackers.username(1) == "to-0001"
    # A LoRaWAN tag publishes as its The Things Stack application, as TTS names the login.
    assert lora.username(1) == "boomerang-returns@ttn"
    assert group.origins[1].name == "Bremen"
    assert [f.name for f in scenario.faults] == ["temp_excursion", "malformed", "duplicates"]
    with pytest.raises(AttributeError):
        scenario.name = "other"  # type: ignore[misc]


def test_load_scenario_reads_a_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_scenario(path).name == "tiny"
    path.write_text(GOOD.replace("duration: 20h", "duration: soon"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"^mine\.yaml: duration: "):
        load_scenario(str(path))
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_a_small_file_compiles_in_every_format_and_keeps_the_contract() -> None:
    _, timeline, _ = compiled(parse_scenario(GOOD))
    topics = {e.topic.split("/")[0] for e in timeline.emissions}
    assert topics == {"tags", "owntracks", "v3"}
    for emission in timeline.emissions:
        decoded = decode(emission)
        assert bool(decoded.dead_letters) == (emission.fault == "malformed")
    assert timeline.logins == {"ti-0001": "ti-0001", "ti-0002": "ti-0002",
                               "to-0001": "to-0001-tag", "to-0002": "to-0002-tag",
                               "boomerang-returns@ttn": ""}


def test_a_bad_duration_names_the_fault_and_field() -> None:
    message = bad("at: 1h}", "at: 1h, duration: forever}")
    # The malformed fault takes no duration at all: extra fields are refused too.
    assert message.startswith("rentals.yaml: faults[1].duration: ")
    message = bad("duration: 1h", "duration: 30 minutes")
    assert message.startswith("rentals.yaml: faults[0].duration: ")
    assert "'30 minutes'" in message


@pytest.mark.parametrize(("old", "new", "where"), [
    ("seed: 4", "seed: 4\ncolour: blue", "colour"),
    ("name: tiny", "name: 'tiny scenario!'", "name"),
    ("start: -1d", "start: -10h", "start + duration"),
    ("kind: hub", "kind: warehouse", "places.venlo.kind"),
    ("place: Returns hub Venlo", "place: Atlantis", "places.venlo.place"),
    ("destination: venlo\n  - group: to", "destination: nowhere\n  - group: to",
     "fleet[0].destination"),
    ("profile: sim-tiny\n    origins: [Hamburg", "profile: sim-cold\n    origins: [Hamburg",
     "fleet[0].profile"),
    ("origins: [Cologne]", "origins: [Dortmund-Mengede]", "fleet[1].origins[0]"),
    ("origins: [Paris]", "origins: [{name: Venlo, lat: 51.37, lon: 6.17}]",
     "fleet[2].origins[0]"),
    ("kind: rental", "kind: lease", "fleet[1].kind"),
    ("format: owntracks", "format: morse", "fleet[1].format"),
    ("format: owntracks", "format: owntracks\n    batch_size: 4", "fleet[1]"),
    ("count: 2\n    kind: shipment", "count: 0\n    kind: shipment", "fleet[0].count"),
    ("min: 0, max: 30", "min: 30, max: 0", "profiles.sim-tiny.metrics.temp_c"),
    ("temp_c: {", "temperature: {", "profiles.sim-tiny.metrics"),
    ("{fault: temp_excursion", "{fault: heatwave", "faults[0]"),
    ("group: ti, at: 2h", "group: tz, at: 2h", "faults[0].group"),
    ("tags: [to-0001-tag]", "tags: [to-0009-tag]", "faults[1].tags[0]"),
    ("group: ti, at: 2h", "group: ti, tags: [ti-0001], at: 2h", "faults[0]"),
    ("value: 35", "value: 25", "faults[0].value"),
    ("value: 35", "value: 200", "faults[0].value"),
    ("at: 2h, duration: 1h", "at: 30h, duration: 1h", "faults[0].at"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: clock_skew, tags: [tt-0001], value: +6m}",
     "faults[2].value"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: overdue, tags: [tt-0001], at: 3h}",
     "faults[2].tags[0]"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: impersonation, tags: [tt-0001], at: 3h}",
     "faults[2].tags[0]"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: drop, tags: [to-0001-tag], at: 3h}",
     "faults[2].tags[0]"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: dying_battery, tags: [to-0001-tag], "
     "at: 3h}", "faults[2].tags[0]"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: opened, tags: [ti-0001], at: 3h, "
     "duration: 1h}", "faults[2].tags[0]"),
    ("{fault: duplicates, tags: [tt-0001]}", "{fault: silent, tags: [ti-0001], at: 3h, "
     "value: 3}", "faults[2].value"),
    ("{fault: duplicates, tags: [tt-0001]}", "{tags: [tt-0001]}", "faults[2]"),
])
def test_a_mistake_is_named_by_file_and_field(old: str, new: str, where: str) -> None:
    message = bad(old, new)
    assert message.startswith(f"rentals.yaml: {where}"), message


def test_reporting_too_seldom_for_the_profiles_silent_after_is_refused() -> None:
    message = bad("profile: sim-tiny\n    origins: [Hamburg",
                  "profile: sim-tiny\n    report_every: 90m\n    origins: [Hamburg")
    assert message.startswith("rentals.yaml: fleet[0].report_every: ")
    assert "silent_after" in message


def test_not_yaml_or_not_a_mapping_is_refused_with_the_position() -> None:
    with pytest.raises(ScenarioError, match=r"^x\.yaml: not valid YAML: line 2"):
        parse_scenario("name: x\n  fleet: [\n", "x.yaml")
    with pytest.raises(ScenarioError, match=r"^x\.yaml: a scenario is a YAML mapping"):
        parse_scenario("- just\n- a list\n", "x.yaml")


def test_a_fault_right_on_the_silent_threshold_is_refused_as_ambiguous() -> None:
    text = GOOD.replace("{fault: duplicates, tags: [tt-0001]}",
                        "{fault: silent, tags: [ti-0001], at: 3h, duration: 2h}")
    with pytest.raises(ScenarioError, match=r"^<string>: faults\[2\]: .*silent_after"):
        compiled(parse_scenario(text))


@given(st.integers(0, 20), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_durations_read_as_written(days: int, hours: int, minutes: int, seconds: int) -> None:
    text = f"{days}d{hours}h{minutes}m{seconds}s"
    wanted = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    assert parse_duration(text) == wanted
    assert parse_duration(wanted.total_seconds()) == wanted
    assert parse_duration("-" + text, signed=True) == -wanted


@pytest.mark.parametrize("text", ["", "5", "5x", "h", "-3m", "1.5.2h", "3 days", "nan"])
def test_what_is_not_a_duration(text: str) -> None:
    if text == "5":
        assert parse_duration(5) == timedelta(seconds=5)  # a number is seconds...
    with pytest.raises(ValueError):
        parse_duration(text)  # ...a bare "5" without a unit is a typo


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32))
def test_any_seed_gives_a_sorted_run_in_the_past_that_keeps_the_contract(seed: int) -> None:
    _scenario, timeline, _ = compiled(parse_scenario(GOOD), seed)
    times = [e.at for e in timeline.emissions]
    assert times == sorted(times)
    assert timeline.start <= times[0] and times[-1] <= timeline.end <= NOW
    for emission in timeline.emissions:
        decoded = decode(emission)
        if emission.fault == "malformed":
            continue
        assert not decoded.dead_letters
        for reading in decoded.readings:
            assert reading.ts - emission.at <= timedelta(minutes=5)
    assert [e.kind for e in timeline.expected].count("out_of_spec") == 1


def test_the_example_in_the_docs_compiles() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "simulator.md"
    [example] = re.findall(r"```yaml\n(.*?)```", docs.read_text(encoding="utf-8"), re.S)
    _, timeline, _ = compiled(parse_scenario(example, "simulator.md"))
    assert {e.kind for e in timeline.expected} == {"arrival", "out_of_spec", "overdue"}
