"""What the `boomerang` commands share: logging set-up, loading the settings (exit 2 on a
bad one) and tuning the garbage collector."""

from __future__ import annotations

import gc
import logging
import sys

import typer

from gateway.settings import Settings, SettingsError, load_settings


def setup_logging(level: str = "INFO", log_format: str = "kv") -> None:
    """Structured lines on stderr: logfmt (`ts=... level=... logger=... msg="..."`), or one
    JSON object a line for log shippers (BOOMERANG_LOG_FORMAT)."""
    from logfmter import Logfmter
    from pythonjsonlogger.json import JsonFormatter

    names = {"ts": "asctime", "level": "levelname", "logger": "name"}
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter("{asctime}{levelname}{name}{message}", style="{",
                                  rename_fields={v: k for k, v in names.items()
                                                 } | {"message": "msg"})
    else:
        formatter = Logfmter(keys=list(names), mapping=names)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs each request's whole URL at INFO, a webhook's user info and query string (its
    # secrets) among them; httpcore's DEBUG lines carry hosts and response headers.
    for noisy in ("amqtt", "transitions", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"boomerang: {exc}", err=True)
        raise typer.Exit(2) from None


def tune_garbage_collector() -> None:
    """Every MQTT message makes a few short-lived objects (paho's message and properties);
    with the default thresholds the cyclic collector ran a third of the busy time under load.
    What start-up built lives as long as the process: freeze it out of the collector's way."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
