"""Alert and webhook Prometheus metrics."""

from prometheus_client import Counter, Histogram

TRANSITIONS = Counter(
    "boomerang_alert_transitions", "Alert transitions recorded", ["event", "kind"]
)
DELIVERY_ATTEMPTS = Counter(
    "boomerang_webhook_attempts", "Webhook delivery attempts", ["outcome"]
)
DELIVERY_LATENCY = Histogram(
    "boomerang_webhook_latency_seconds", "Webhook request duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
