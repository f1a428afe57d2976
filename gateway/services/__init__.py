"""What the REST API (and the CLI) can do, one service per resource. A service checks what
the business requires, calls the stores and the rule engine through the state database's
runner (StateDb.run: never the event loop's own time on PostgreSQL), and raises the domain
errors of `errors`, which the API maps to HTTP statuses. Routes parse, call, and answer."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.access import KeyService
from gateway.services.alerts import AlertService
from gateway.services.analytics import AnalyticsFilter, AnalyticsService
from gateway.services.assets import AssetService, RecallService, RegistryWriter
from gateway.services.errors import Conflict, Invalid, NotFound, ServiceError
from gateway.services.intake import DeadLetterService, SpeakerService
from gateway.services.places import GeofenceService, ProfileService
from gateway.services.trips import TripService
from gateway.services.webhooks import SubscriptionService

__all__ = [
    "AlertService",
    "AnalyticsFilter",
    "AnalyticsService",
    "AssetService",
    "Conflict",
    "DeadLetterService",
    "GeofenceService",
    "Invalid",
    "KeyService",
    "NotFound",
    "ProfileService",
    "RecallService",
    "RegistryWriter",
    "ServiceError",
    "Services",
    "SpeakerService",
    "SubscriptionService",
    "TripService",
]


@dataclass(frozen=True, slots=True)
class Services:
    assets: AssetService
    recalls: RecallService
    profiles: ProfileService
    geofences: GeofenceService
    alerts: AlertService
    subscriptions: SubscriptionService
    keys: KeyService
    dead_letters: DeadLetterService
    speakers: SpeakerService
    trips: TripService
    analytics: AnalyticsService
