"""Spec profiles: per metric a range, a minimum duration and a hysteresis; when an asset is
silent; its battery threshold. The built-in profiles ship here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MetricSpec:
    min: float | None = None
    max: float | None = None
    min_duration_s: float = 0.0
    """How long the metric must stay outside, by reading time, before an alert opens."""
    hysteresis: float = 0.0
    """How far back inside the range the metric must come before the alert resolves."""

    def outside(self, value: float) -> bool:
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        )

    def back_inside(self, value: float) -> bool:
        low_ok = self.min is None or value >= self.min + self.hysteresis
        high_ok = self.max is None or value <= self.max - self.hysteresis
        return low_ok and high_ok


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    silent_after_s: float | None = None
    battery_below_pct: float | None = None
    battery_hysteresis_pct: float = 5.0
    description: str = ""
    built_in: bool = False


BUILT_IN_PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="cold_chain",
            built_in=True,
            description="Pharma and food cold chain: 2-8 C, 5 minutes tolerance",
            metrics={
                "temp_c": MetricSpec(min=2, max=8, min_duration_s=300, hysteresis=0.5),
                "humidity_pct": MetricSpec(max=85, min_duration_s=1800, hysteresis=5),
            },
            silent_after_s=3600,
            battery_below_pct=15,
        ),
        Profile(
            name="ambient_electronics",
            built_in=True,
            description="Electronics in transit: 0-40 C, dry, no hard drops",
            metrics={
                "temp_c": MetricSpec(min=0, max=40, min_duration_s=900, hysteresis=1),
                "humidity_pct": MetricSpec(max=80, min_duration_s=1800, hysteresis=5),
                "shock_g": MetricSpec(max=8),
            },
            silent_after_s=6 * 3600,
            battery_below_pct=10,
        ),
        Profile(
            name="fragile",
            built_in=True,
            description="Glass, instruments: no drops over 3 g, kept upright",
            metrics={
                "shock_g": MetricSpec(max=3),
                "tilt_deg": MetricSpec(max=45, min_duration_s=60, hysteresis=5),
            },
            silent_after_s=6 * 3600,
            battery_below_pct=10,
        ),
    )
}
