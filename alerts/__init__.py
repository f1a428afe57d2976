"""Alerts: rules over readings, the alert lifecycle, the durable outbox and webhook delivery."""

from alerts.conditions import AssetCondition, Condition
from alerts.engine import (
    AlertEvent,
    ArrivalEvent,
    EngineEvent,
    RuleEngine,
    TripChanged,
    alert_data,
)
from alerts.events import Event
from alerts.outbox import Delivery, WebhookOutbox
from alerts.profiles import BUILT_IN_PROFILES, MetricSpec, Profile
from alerts.rules import EnginePolicy
from alerts.store import AlertFilter, AlertStore
from alerts.subscriptions import EVENT_TYPES, Filters, Subscription, SubscriptionStore
from alerts.webhooks import UnsafeWebhookUrl, UrlPolicy, WebhookDispatcher, check_webhook_url

__all__ = [
    "BUILT_IN_PROFILES",
    "EVENT_TYPES",
    "AlertEvent",
    "AlertFilter",
    "AlertStore",
    "ArrivalEvent",
    "AssetCondition",
    "Condition",
    "Delivery",
    "EngineEvent",
    "EnginePolicy",
    "Event",
    "Filters",
    "MetricSpec",
    "Profile",
    "RuleEngine",
    "Subscription",
    "SubscriptionStore",
    "TripChanged",
    "UnsafeWebhookUrl",
    "UrlPolicy",
    "WebhookDispatcher",
    "WebhookOutbox",
    "alert_data",
    "check_webhook_url",
]
