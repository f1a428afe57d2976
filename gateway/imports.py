"""Bulk import of assets and recalls (the rows of a CSV file, already checked cell by cell):
each row creates or updates one item; a bad row is reported and never stops the others.

An import (gateway.services) runs a chunk of CHUNK_ROWS rows at a time through the state
database's runner, letting ingest and other requests run between chunks. Each chunk is
checked against the registry as it is then and written in a transaction of its own: one
transaction over the whole file would hold the state database's one connection (and its
locks) for as long as the file takes."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from alerts.domain import Asset, Recall

if TYPE_CHECKING:
    from alerts import Profile, RuleEngine
    from alerts.geo import Zone
    from gateway.registry import AssetRegistry

ASSET_REQUIRED = ("kind", "flow")
RECALL_REQUIRED = ("sku",)
CHUNK_ROWS = 250
"""Rows between two turns of the event loop: a few milliseconds of work."""

T = TypeVar("T")


async def chunks(items: Iterable[T], size: int = CHUNK_ROWS) -> AsyncIterator[list[T]]:
    """`items` `size` at a time, letting the event loop run other tasks between two."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
        await asyncio.sleep(0)


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with a row: the field at fault ("" for the row as a whole) and why."""

    field: str
    reason: str


@dataclass(slots=True)
class ImportRow:
    """One row: its number in the file, the id it names (None: make one), and the fields it
    gives, typed (a field given as None clears it); or the problems found in its cells."""

    row: int
    id: str | None
    changes: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RowOutcome:
    row: int
    id: str | None
    outcome: Outcome
    problems: tuple[Problem, ...] = ()


def unknown_references(
    asset: Asset, profiles: Mapping[str, Profile], zones: Mapping[str, Zone]
) -> list[Problem]:
    """An asset may name only a profile and geofences that exist."""
    problems = []
    if asset.profile and asset.profile not in profiles:
        problems.append(Problem("profile", f"unknown profile {asset.profile!r}"))
    for name in ("destination", "allowed_area"):
        fence_id = getattr(asset, name)
        if fence_id and fence_id not in zones:
            problems.append(Problem(name, f"unknown geofence {fence_id!r}"))
    return problems


def _missing(changes: dict[str, Any], required: tuple[str, ...], what: str) -> list[Problem]:
    return [Problem(name, f"required for a new {what}") for name in required
            if changes.get(name) is None]


def import_asset_chunk(
    registry: AssetRegistry, engine: RuleEngine, rows: list[ImportRow], *, create_only: bool,
    before_saving: Callable[[list[Asset]], None] = lambda _new: None,
    after_saving: Callable[[list[Asset], list[Asset]], None] = lambda _new, _changed: None,
) -> tuple[list[RowOutcome], list[Asset]]:
    """Each row's outcome, in order, and the assets saved (in one transaction: the
    caller's), for the rule engine. `before_saving` is given the assets about to be
    created (every version of an id named twice); `after_saving` the last version of each
    asset saved, those created and those changed, in that transaction."""
    stored = registry.get_assets(row.id for row in rows if row.id and not row.problems)
    outcomes: dict[int, RowOutcome] = {}
    latest: dict[str, Asset] = {}  # an id named again further down builds on the row above
    staged: list[tuple[ImportRow, Asset]] = []
    for row in rows:
        base = (latest.get(row.id) or stored.get(row.id)) if row.id else None
        problems = list(row.problems)
        if not problems and base is not None and create_only:
            problems.append(Problem("id", f"asset {row.id} exists (mode=create)"))
        if not problems:
            if base is not None:
                asset = replace(base, **row.changes)
            else:
                problems += _missing(row.changes, ASSET_REQUIRED, "asset")
                if not problems:
                    asset = Asset(id=row.id or f"ast_{uuid.uuid4().hex[:16]}", **row.changes)
        if not problems:
            problems += unknown_references(asset, engine.profiles, engine.zones)
        if problems:
            outcomes[row.row] = RowOutcome(row.row, row.id, Outcome.REJECTED, tuple(problems))
            continue
        latest[asset.id] = asset
        staged.append((row, asset))
    before_saving([asset for _, asset in staged if asset.id not in stored])
    conflicts = registry.save_assets([asset for _, asset in staged])
    saved: list[Asset] = []
    saved_ids: set[str] = set()
    for (row, asset), conflict in zip(staged, conflicts, strict=True):
        if conflict is not None:
            outcomes[row.row] = RowOutcome(row.row, asset.id, Outcome.REJECTED,
                                           (Problem("tag_id", str(conflict)),))
            continue
        existed = asset.id in stored or asset.id in saved_ids
        outcomes[row.row] = RowOutcome(row.row, asset.id,
                                       Outcome.UPDATED if existed else Outcome.CREATED)
        saved.append(asset)
        saved_ids.add(asset.id)
    final = {asset.id: asset for asset in saved}  # an id named twice: its last version
    after_saving([a for a in final.values() if a.id not in stored],
                 [a for a in final.values() if a.id in stored])
    return [outcomes[row.row] for row in rows], saved


def import_recall_chunk(
    registry: AssetRegistry, rows: list[ImportRow], *, create_only: bool
) -> tuple[list[RowOutcome], list[Recall]]:
    """Each row's outcome, in order, and the recalls saved (in the caller's transaction)."""
    stored = registry.get_recalls(row.id for row in rows if row.id and not row.problems)
    outcomes: list[RowOutcome] = []
    latest: dict[str, Recall] = {}
    for row in rows:
        base = (latest.get(row.id) or stored.get(row.id)) if row.id else None
        problems = list(row.problems)
        if not problems and base is not None and create_only:
            problems.append(Problem("id", f"recall {row.id} exists (mode=create)"))
        if not problems and base is None:
            problems += _missing(row.changes, RECALL_REQUIRED, "recall")
        if problems:
            outcomes.append(RowOutcome(row.row, row.id, Outcome.REJECTED, tuple(problems)))
            continue
        if base is not None:
            recall = replace(base, **row.changes)
        else:
            recall = Recall(id=row.id or f"rcl_{uuid.uuid4().hex[:16]}", **row.changes)
        existed = recall.id in stored or recall.id in latest
        outcomes.append(RowOutcome(row.row, recall.id,
                                   Outcome.UPDATED if existed else Outcome.CREATED))
        latest[recall.id] = recall
    saved = list(latest.values())
    registry.save_recalls(saved)
    return outcomes, saved
