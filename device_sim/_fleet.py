"""Plans a simulated fleet: which tags exist, what they are attached to, where they travel
and which faults they inject. Pure and deterministic for (tags, seed, faults, now)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from device_sim._places import CITIES, DEPOTS, HUBS, Place, nearest

ALL_FAULTS: frozenset[str] = frozenset({"excursion", "recall", "overdue", "malformed"})

_SHIPMENT_FLOWS = ("customer_return", "warranty_repair", "trade_in", "b2b_return", "end_of_life")
_SHIPMENT_FLOW_WEIGHTS = (40, 20, 15, 15, 10)
_GENERAL_SKUS = ("LAPTOP-X13", "PHONE-P8", "EBIKE-BAT-500", "ROUTER-AX3", "DRILL-18V")
_COLD_SKUS = ("VAC-FLU-25", "INSULIN-PEN-3", "BIOLOGIC-MAB-10")
_RENTAL_SKUS = ("GEN-5KVA", "SCAFFOLD-T6", "INFUSION-PUMP-2", "CHILLER-CC-40")
_RECALL_REASONS = (
    "Battery cells may overheat while charging",
    "Faulty power supply may cause electric shock",
    "Housing can crack under load",
)
_CUSTOMERS: tuple[tuple[str, str], ...] = (
    ("Nordlicht Retail GmbH", "Hamburg"),
    ("Spree Elektronik", "Berlin"),
    ("Isar Apotheken AG", "Munich"),
    ("Rheinwerk Bau", "Cologne"),
    ("Main Medical", "Frankfurt"),
    ("Neckar Tools", "Stuttgart"),
    ("Maison Retour SA", "Paris"),
    ("Pharmacie Rhône", "Lyon"),
    ("Vieux-Port Events", "Marseille"),
    ("Grachten Tech BV", "Amsterdam"),
    ("Maas Logistics", "Rotterdam"),
    ("Atomium Care", "Brussels"),
    ("Donau Kliniken", "Vienna"),
    ("Limmat Labs", "Zurich"),
    ("Navigli Moda", "Milan"),
    ("Mole Costruzioni", "Turin"),
    ("Castellana Hogar", "Madrid"),
    ("Sagrada Salud", "Barcelona"),
    ("Tejo Energia", "Lisbon"),
    ("Wisła Serwis", "Warsaw"),
    ("Vltava Stavby", "Prague"),
    ("Duna Rendezvény", "Budapest"),
    ("Øresund Hospital", "Copenhagen"),
    ("Düssel Office", "Düsseldorf"),
)
_CITY_BY_NAME = {c.name: c for c in CITIES}
# Keep return trips long enough to be a trip, not a hop across town.
_MIN_TRIP_KM = 50.0


@dataclass(frozen=True)
class TagPlan:
    """One simulated tag and the asset it is attached to."""

    tag_id: str
    asset_id: str
    kind: str
    flow: str
    sku: str
    serial: str
    lot: str
    profile: str | None
    customer: str
    due_at: datetime | None
    origin: Place
    destination: Place
    faults: frozenset[str]


@dataclass(frozen=True)
class RecallPlan:
    """A recall to register before the fleet starts reporting."""

    sku: str
    lots: tuple[str, ...]
    serials: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class FleetPlan:
    """Everything the simulator publishes and registers."""

    tags: tuple[TagPlan, ...]
    recalls: tuple[RecallPlan, ...]


@dataclass
class _Draft:
    """A TagPlan under construction (faults are decided after the basics)."""

    index: int
    kind: str
    flow: str
    sku: str
    serial: str
    lot: str
    customer: str
    origin: Place
    destination: Place
    due_at: datetime
    profile: str | None = None
    faults: set[str] = field(default_factory=set)


def plan_fleet(
    tags: int,
    *,
    seed: int = 1,
    faults: frozenset[str] = ALL_FAULTS,
    now: datetime | None = None,
    cold_chain_profile: str = "cold_chain",
) -> FleetPlan:
    """Plan `tags` tags: ~70% return shipments across several flows, ~30% rentals.

    Every fault in `faults` is exhibited by at least one tag, stacking faults on one tag
    when the fleet is too small to give each its own.
    """
    if tags < 1:
        raise ValueError(f"tags must be at least 1, got {tags}")
    unknown = faults - ALL_FAULTS
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(ALL_FAULTS)}")
    now = _utc(now)
    rng = random.Random(seed)

    drafts = [_draft(i, kind, rng, now) for i, kind in enumerate(_kinds(tags, faults, rng))]
    shipments = [d for d in drafts if d.kind == "shipment"]
    rentals = [d for d in drafts if d.kind == "rental"]

    cold = _pick(rng, shipments or drafts, _cold_count(len(shipments), faults))
    for d in cold:
        d.profile = cold_chain_profile
        d.sku = rng.choice(_COLD_SKUS)
    if "excursion" in faults:
        for d in _pick(rng, cold, max(1, len(cold) // 3)):
            d.faults.add("excursion")

    recalls: tuple[RecallPlan, ...] = ()
    if "recall" in faults:
        recalls = (_plan_recall(rng, drafts, shipments),)

    if "overdue" in faults:
        for d in _pick(rng, rentals or drafts, max(1, round(0.1 * len(rentals)))):
            d.due_at = _minute(now - timedelta(days=2, hours=rng.randint(0, 12)))
            d.faults.add("overdue")

    if "malformed" in faults:
        clean = [d for d in drafts if not d.faults]
        _pick(rng, clean or drafts, 1)[0].faults.add("malformed")

    return FleetPlan(tags=tuple(_freeze(d, tags) for d in drafts), recalls=recalls)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return now.astimezone(UTC)


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _kinds(tags: int, faults: frozenset[str], rng: random.Random) -> list[str]:
    if tags == 1:
        # One tag cannot be both; the overdue fault is the one that needs a rental.
        rentals = 1 if "overdue" in faults else 0
    else:
        rentals = min(max(round(0.3 * tags), 1), tags - 1)
    kinds = ["rental"] * rentals + ["shipment"] * (tags - rentals)
    rng.shuffle(kinds)
    return kinds


def _cold_count(shipments: int, faults: frozenset[str]) -> int:
    count = round(0.15 * shipments)
    if "excursion" in faults or shipments >= 3:
        count = max(count, 1)
    return count


def _pick(rng: random.Random, pool: list[_Draft], count: int) -> list[_Draft]:
    return rng.sample(pool, min(count, len(pool)))


def _jitter(place: Place, rng: random.Random, km: float) -> Place:
    # ~111 km per degree of latitude; longitude degrees shrink with latitude but a
    # couple of km of street-level spread does not need to be exact.
    deg = km / 111.0
    return Place(
        place.name,
        round(place.lat + rng.uniform(-deg, deg), 6),
        round(place.lon + rng.uniform(-deg, deg), 6),
    )


def _lot(rng: random.Random) -> str:
    return f"L{rng.randint(24, 26)}{rng.randint(1, 52):02d}{rng.choice('ABCD')}"


def _draft(index: int, kind: str, rng: random.Random, now: datetime) -> _Draft:
    customer, city_name = rng.choice(_CUSTOMERS)
    site = _jitter(_CITY_BY_NAME[city_name], rng, 2.0)
    if kind == "rental":
        flow, sku = "rental_return", rng.choice(_RENTAL_SKUS)
        destination = nearest(site, DEPOTS)
        due_at = _minute(now + timedelta(days=rng.randint(2, 45)))
    else:
        flow = rng.choices(_SHIPMENT_FLOWS, weights=_SHIPMENT_FLOW_WEIGHTS)[0]
        sku = rng.choice(_GENERAL_SKUS)
        destination = nearest(site, HUBS, min_km=_MIN_TRIP_KM)
        due_at = _minute(now + timedelta(days=rng.randint(3, 14)))
    return _Draft(
        index=index,
        kind=kind,
        flow=flow,
        sku=sku,
        serial=f"SN{index + 1:05d}{rng.randrange(16**4):04X}",
        lot=_lot(rng),
        customer=customer,
        origin=site,
        destination=destination,
        due_at=due_at,
    )


def _plan_recall(rng: random.Random, drafts: list[_Draft], shipments: list[_Draft]) -> RecallPlan:
    sku, lot = rng.choice(_GENERAL_SKUS), _lot(rng)
    general = [d for d in shipments if d.profile is None]
    for d in _pick(rng, general or shipments or drafts, max(1, round(0.05 * len(drafts)))):
        d.sku, d.lot = sku, lot
        if d.kind == "shipment":
            d.flow = "recall"
    # Any other tag that happens to share the recalled sku and lot is hit as well, so
    # the fault set always matches what the gateway will see.
    for d in drafts:
        if d.sku == sku and d.lot == lot:
            d.faults.add("recall")
    return RecallPlan(sku=sku, lots=(lot,), serials=(), reason=rng.choice(_RECALL_REASONS))


def _freeze(d: _Draft, total: int) -> TagPlan:
    width = max(4, len(str(total)))
    return TagPlan(
        tag_id=f"tag-{d.index + 1:0{width}d}",
        asset_id=f"asset-{d.index + 1:0{width}d}",
        kind=d.kind,
        flow=d.flow,
        sku=d.sku,
        serial=d.serial,
        lot=d.lot,
        profile=d.profile,
        customer=d.customer,
        due_at=d.due_at,
        origin=d.origin,
        destination=d.destination,
        faults=frozenset(d.faults),
    )
