"""Random and mutated payloads and topics: no exception escapes the decoders or the ingest
pipeline, and everything that is not a reading is dead-lettered with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
from collecting_sink import CollectingSink
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.state import memory_state

from ingest import DeadLetterStore, IngestPipeline
from ingest.decoders import NativeDecoder, OwnTracksDecoder, ThingsStackDecoder
from ingest.readings import UNASSIGNED_BINDING, Reading
from ingest.sinks import PointBatcher

EXAMPLES = Path(__file__).resolve().parents[3] / "ingest" / "decoders" / "examples"
SEEDS = [
    orjson.dumps({"ts": "2026-11-29T08:15:00Z", "seq": 812, "lat": 52.52, "lon": 13.405,
                  "temp_c": 6.4, "battery_pct": 81}),
    orjson.dumps({"readings": [{"temp_c": 1, "seq": 1}, {"humidity_pct": 50, "seq": 2}]}),
    (EXAMPLES / "owntracks_location.json").read_bytes(),
    (EXAMPLES / "things_stack_uplink.json").read_bytes(),
]
TOPICS = ["tags/tag-1/telemetry", "owntracks/anna/phone", "v3/app@t/devices/dev-1/up"]
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(["ts", "seq", "lat", "lon", "temp_c", "humidity_pct", "shock_g",
                          "battery_pct", "readings", "_type", "tst", "uplink_message"])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    seed = bytearray(draw(st.sampled_from(SEEDS)))
    how = draw(st.sampled_from(["flip", "cut", "field", "raw"]))
    if how == "flip" and seed:
        for _ in range(draw(st.integers(1, 5))):
            seed[draw(st.integers(0, len(seed) - 1))] = draw(st.integers(0, 255))
        return bytes(seed)
    if how == "cut":
        return bytes(seed[: draw(st.integers(0, len(seed)))])
    if how == "field":
        document = orjson.loads(bytes(seed))
        document[draw(fields)] = draw(json_values)
        return json.dumps(document).encode()  # also big integers and NaN, unlike orjson
    return draw(st.binary(max_size=200))


topics = st.one_of(st.sampled_from(TOPICS), st.text(max_size=40),
                   st.builds(lambda t: f"tags/{t}/telemetry", st.text(max_size=70)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=mutated())
def test_decoders_never_raise(topic: str, payload: bytes) -> None:
    for decoder in (NativeDecoder(), OwnTracksDecoder(), ThingsStackDecoder()):
        result = decoder.decode(topic, payload, NOW)
        if result is not None:
            assert all(letter.reason for letter in result.dead_letters)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(topics, mutated()), max_size=20))
async def test_the_pipeline_accounts_for_every_message(
    messages: list[tuple[str, bytes]],
) -> None:
    judged: list[Reading] = []

    def judge(readings: list[Reading]) -> list[tuple[Reading, Exception]]:
        judged.extend(readings)
        return []

    store = DeadLetterStore(memory_state())
    pipeline = IngestPipeline(
        decoders=[NativeDecoder(), OwnTracksDecoder(), ThingsStackDecoder()],
        batcher=PointBatcher(CollectingSink()), dead_letters=store,
        binding_of=lambda _: UNASSIGNED_BINDING, judge=judge,
    )
    done: list[int] = []
    # As the consumer hands them on: in batches of whatever arrived together.
    for n in range(0, len(messages), 7):
        await pipeline.handle_batch(messages[n:n + 7], NOW,
                                    lambda n=n: done.append(n))  # type: ignore[misc]
    counts = pipeline.counts
    assert counts.messages == len(messages)
    assert counts.dead_letters == store.count()
    assert len(judged) == counts.readings
    assert all(letter.letter.reason for letter in store.list(limit=10_000))
