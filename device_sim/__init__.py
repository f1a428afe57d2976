"""Boomerang's device simulator: a fleet of reverse-logistics tags speaking the wire
contract over MQTT, and nothing but the contract (it imports no other Boomerang package).

- `plan_fleet` plans tags, routes, recalls and injected faults, deterministically.
- `register_fleet` registers the plan's assets and recalls through the REST API.
- `run_simulator` publishes the readings at a steady total rate until stopped.
"""

from device_sim._fleet import ALL_FAULTS, FleetPlan, RecallPlan, TagPlan, plan_fleet
from device_sim._places import Place
from device_sim._publisher import SimConfig, SimStats, run_simulator
from device_sim._register import RegistrationError, register_fleet

__all__ = [
    "ALL_FAULTS",
    "FleetPlan",
    "Place",
    "RecallPlan",
    "RegistrationError",
    "SimConfig",
    "SimStats",
    "TagPlan",
    "plan_fleet",
    "register_fleet",
    "run_simulator",
]
