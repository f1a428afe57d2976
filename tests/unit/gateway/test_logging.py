"""Log lines are structured either way BOOMERANG_LOG_FORMAT chooses, and parse back."""

from __future__ import annotations

import json
import logging
import shlex

import pytest

from gateway.cli import setup_logging
from gateway.settings import Settings, SettingsError, load_settings


def test_json_lines_parse_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "json")
    logging.getLogger("ingest.consumer").warning("mqtt connection lost (%s)", "timed out")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "WARNING" and line["logger"] == "ingest.consumer"
    assert line["msg"] == "mqtt connection lost (timed out)" and line["ts"]


def test_kv_lines_quote_what_has_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "kv")
    logging.getLogger("alerts.engine").info('alert.opened "recall" for %s', "asset 1")
    logging.getLogger("alerts.engine").debug("not at INFO")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    fields = dict(part.split("=", 1) for part in shlex.split(lines[0]))
    assert fields["level"] == "INFO" and fields["logger"] == "alerts.engine"
    assert fields["msg"] == 'alert.opened "recall" for asset 1'


def test_an_unknown_format_stops_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOMERANG_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="BOOMERANG_LOG_FORMAT"):
        load_settings()
    monkeypatch.delenv("BOOMERANG_LOG_FORMAT")
    assert Settings().log_format == "kv"
