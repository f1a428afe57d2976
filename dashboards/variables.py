"""Grafana's interpolation of InfluxQL queries, for running the dashboards' queries outside
Grafana (tests, previews): `$timeFilter`, `$__interval` and template variables, the way
Grafana's InfluxDB data source fills them in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

ALL = ".*"
"""Every variable's allValue (dashboards/model.py)."""

VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")
"""`$name`, `${name}` or `${name:format}`; the name is group 1 or 2."""


def _regex_escape(value: str) -> str:
    # What Grafana's InfluxDB data source escapes in values put into a regex.
    return re.sub(r"([\\/^$.|?*+()\[\]{}])", r"\\\1", value)


def interpolate(query: str, values: Mapping[str, str | Sequence[str]], *, start: datetime,
                end: datetime, interval: str = "1m") -> str:
    """`values`: a variable's value (used as is), or its selected values (a regex
    alternation, as Grafana writes a multi-value variable; ALL as is)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "timeFilter":
            return (f"time >= {int(start.timestamp() * 1000)}ms and "
                    f"time <= {int(end.timestamp() * 1000)}ms")
        if name == "__interval":
            return interval
        if name not in values:
            raise KeyError(f"no value for ${name} in {query!r}")
        value = values[name]
        if isinstance(value, str):
            return value
        if len(value) == 1:
            return _regex_escape(value[0])
        return "(" + "|".join(_regex_escape(v) for v in value) + ")"

    return VARIABLE.sub(fill, query)
