"""Alert and webhook Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

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
JUDGE_SECONDS = Histogram(
    "boomerang_rules_judge_seconds", "Time the rules took for one batch of readings",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
READINGS_JUDGED = Counter("boomerang_rules_readings_judged", "Readings the rules judged")
TICK_SECONDS = Histogram(
    "boomerang_rules_tick_seconds", "Time the timer-driven rules took for every asset",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PENDING = Gauge("boomerang_outbox_pending", "Webhook deliveries waiting to go out")
RULE_ERRORS = Counter(
    "boomerang_rules_errors", "Readings or assets a rule raised on (their changes undone)",
    ["stage"])
