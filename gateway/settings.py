"""The one settings object: `BOOMERANG_*` environment over an optional TOML file."""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "BOOMERANG_"
CONFIG_ENV = "BOOMERANG_CONFIG"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "boomerang-gateway"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_session_expiry_s: int = Field(default=86_400, ge=1)
    mqtt_receive_maximum: int = Field(default=5000, ge=1, le=65535)
    shared_group: str | None = None
    topic_prefix: str = Field(default="tags", pattern=r"^[A-Za-z0-9_.-]+$")
    decoders: Annotated[
        tuple[Literal["native", "owntracks", "things_stack"], ...], NoDecode
    ] = ("native", "owntracks", "things_stack")

    influx_url: AnyHttpUrl | None = None
    influx_db: str = "boomerang"
    influx_org: str | None = None
    influx_bucket: str | None = None
    influx_token: SecretStr | None = None
    influx_user: str | None = None
    influx_password: SecretStr | None = None

    data_dir: Path = Path("./boomerang-data")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    admin_key: SecretStr | None = None

    webhook_allow_private: bool = False
    webhook_allowed_networks: Annotated[
        tuple[IPv4Network | IPv6Network, ...], NoDecode
    ] = ()
    """Networks (CIDR) allowed as webhook destinations although they are not public."""
    webhook_secret_overlap_s: float = Field(default=86_400, ge=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retry_schedule_s: Annotated[tuple[float, ...], NoDecode] = (
        5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 36000,
    )
    """Delay before each retry; the delivery fails after the last. The default spans about a day."""

    overdue_grace_s: float = Field(default=3600, ge=0)
    """How long after `due_at` an asset that has not arrived becomes overdue."""
    overdue_escalate_after_s: float = Field(default=3 * 86_400, ge=0)
    """How long an overdue alert stays a warning before it escalates to critical."""
    shutdown_timeout_s: float = Field(default=15, ge=0)
    """On SIGTERM: how long to write buffered points and let deliveries under way end."""

    metrics_public: bool = False
    """/metrics without a key, for a scraper that cannot send one; by default any key."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["kv", "json"] = "kv"
    """kv: logfmt lines (key=value); json: one JSON object a line."""

    timer_interval_s: float = Field(default=30, gt=0)
    snapshot_interval_s: float = Field(default=60, ge=0)
    """How often each asset still on its way gets an `asset_states` point (on the rules'
    clock); 0: only at its alert transitions and arrival."""
    stats_interval_s: float = Field(default=10, ge=0)
    """How often the gateway writes its own counters (`gateway_stats`); 0: never."""
    clock: Literal["wall", "event"] = "wall"
    """What the timer-driven rules take as now: the wall clock, or (for simulation and
    replay) the newest reading time seen, a watermark."""
    disposition_quarantine_on: Annotated[tuple[str, ...], NoDecode] = ("recall",)
    disposition_inspect_on: Annotated[tuple[str, ...], NoDecode] = ("out_of_spec",)

    spool_max_points: int = Field(default=5_000_000, ge=0)
    """Points kept on disk while InfluxDB does not take writes; 0 turns the spool off."""

    dead_letter_max: int = Field(default=100_000, ge=1)
    """Dead letters kept in all; the oldest go first."""
    dead_letter_max_per_tag: int = Field(default=1000, ge=1)
    """Dead letters kept per tag, so that one tag's garbage cannot push out the others'."""

    batch_max_points: int = Field(default=5000, ge=1)
    batch_max_delay_s: float = Field(default=0.5, gt=0)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_is_mqtt(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://[user:pass@]host:port (or mqtts:// for TLS)")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from exc
        return value

    @field_validator(
        "webhook_retry_schedule_s", "disposition_quarantine_on", "disposition_inspect_on",
        "webhook_allowed_networks", "decoders",
        mode="before",
    )
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        """Lists in the environment are comma- or space-separated."""
        if isinstance(value, str):
            return tuple(value.replace(",", " ").split())
        return value

    @model_validator(mode="after")
    def _v2_needs_org_and_bucket(self) -> Settings:
        if self.influx_token is not None:
            if self.influx_url is None:
                raise ValueError("BOOMERANG_INFLUX_TOKEN is set but BOOMERANG_INFLUX_URL is not")
            for name in ("influx_org", "influx_bucket"):
                if not getattr(self, name):
                    raise ValueError(
                        f"BOOMERANG_INFLUX_TOKEN is set (v2 API) but {ENV_PREFIX}{name.upper()} "
                        "is missing"
                    )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def mqtt(self) -> MqttAddress:
        parts = urlsplit(self.mqtt_url)
        return MqttAddress(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if parts.scheme == "mqtts" else 1883),
            username=parts.username,
            password=parts.password,
            tls=parts.scheme == "mqtts",
        )

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def telemetry_db(self) -> Path:
        return self.data_dir / "telemetry.db"

    @property
    def spool_db(self) -> Path:
        return self.data_dir / "spool.db"

    def masked(self) -> dict[str, Any]:
        """The effective settings as `BOOMERANG_*` names, secrets and URL passwords masked."""
        shown: dict[str, Any] = {}
        # mode="json" already masks SecretStr values and makes paths and tuples printable.
        for name, value in self.model_dump(mode="json").items():
            if name == "mqtt_url" and urlsplit(value).password:
                value = value.replace(f":{urlsplit(value).password}@", ":********@")
            shown[f"{ENV_PREFIX}{name.upper()}"] = value
        return shown


class MqttAddress:
    def __init__(
        self, host: str, port: int, username: str | None, password: str | None, tls: bool
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.username, self.password = username, password


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, or raise SettingsError naming each setting at fault."""
    config_file = os.environ.get(CONFIG_ENV)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_ENV}: no such file: {config_file}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            if not name:  # a rule across settings; its message names them
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            secret = any(word in name for word in ("token", "password", "key"))
            got = "" if secret else f" (got {error.get('input')!r})"
            problems.append(f"{ENV_PREFIX}{name.upper()}: {error['msg']}{got}")
        raise SettingsError("bad settings:\n  " + "\n  ".join(problems)) from None
    except ValueError as exc:  # a value pydantic-settings could not even parse, or bad TOML
        text = re.sub(r'field "(\w+)"', lambda m: f"{ENV_PREFIX}{m[1].upper()}", str(exc))
        where = f" (or {CONFIG_ENV}={config_file})" if config_file else ""
        raise SettingsError(f"bad settings{where}: {text}") from None
