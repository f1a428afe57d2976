"""Alert rules, one module per kind; each a pure function of plain data."""

from alerts.rules import out_of_spec, recall
from alerts.rules._base import Action, Transition

__all__ = ["Action", "Transition", "out_of_spec", "recall"]
