"""The one settings object: `BOOMERANG_*` environment over an optional TOML file."""

from __future__ import annotations

import os
import re
import socket
import ssl
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ingest.statedb import state_url
from ingest.urls import redact_url

ENV_PREFIX = "BOOMERANG_"
CONFIG_ENV = "BOOMERANG_CONFIG"


MIN_ADMIN_KEY_LENGTH = 32
PUBLIC_DEVELOPMENT_KEYS = frozenset({"boomerang-dev-admin-key"})
"""Admin keys published in this repository (compose.yaml): refused unless
BOOMERANG_ALLOW_WEAK_ADMIN_KEY says this is a development stack."""


def _host_and_pid() -> str:
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:48] or "gateway"
    return f"{host}-{os.getpid()}"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "boomerang-gateway"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_session_expiry_s: int = Field(default=86_400, ge=1)
    mqtt_receive_maximum: int = Field(default=5000, ge=1, le=65535)
    mqtt_ca_file: Path | None = None
    """CA certificate(s), PEM, that the broker's certificate must chain to (mqtts://);
    none: the system's trusted CAs."""
    mqtt_cert_file: Path | None = None
    """The gateway's client certificate, PEM, for a broker that asks for one."""
    mqtt_key_file: Path | None = None
    """The private key of BOOMERANG_MQTT_CERT_FILE, PEM."""
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
    state_url: str = "sqlite:///{data_dir}/state.db"
    """Where the state lives (assets, alerts, outbox...): SQLite (a file) or PostgreSQL
    (postgresql://user:password@host:port/database). `{data_dir}` stands for
    BOOMERANG_DATA_DIR."""
    ingest: bool = True
    """False: this gateway consumes no MQTT and judges nothing; it serves the API and
    delivers webhooks beside one that ingests, on the same PostgreSQL."""
    nats_url: str | None = None
    """NATS with JetStream (nats://host:port): this gateway is one of a cluster on one
    PostgreSQL state database. The gateway holding the relay lease moves the broker's
    messages into a stream partitioned by tag; each partition is judged by the one gateway
    holding its lease (docs/architecture.md, "Many gateways")."""
    partitions: int = Field(default=16, ge=1, le=1024)
    """How many partitions the readings are split into (the same in every gateway of a
    cluster): the most gateways that can share the judging."""
    gateway_id: str = Field(default_factory=lambda: _host_and_pid(),
                            pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """This gateway's name in its cluster: whose the leases are."""
    lease_ttl_s: float = Field(default=6.0, ge=1, le=300)
    """How long a cluster lease lasts without renewal (renewed every third of it): how soon
    the partitions of a gateway that died or hangs are taken over."""
    registry_poll_s: float = Field(default=2.0, gt=0)
    """How often a gateway looks whether another one on the same state database changed
    assets, recalls, profiles or geofences."""
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    admin_key: SecretStr | None = None
    allow_weak_admin_key: bool = False
    """Development only: accept an admin key shorter than 32 characters, or one of the
    public development keys (compose.yaml's)."""

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
    departure_radius_m: float = Field(default=1000, gt=0, le=1_000_000)
    """A trip departs with its first located reading this far from its origin."""
    routing_cost_per_km: float = Field(default=0.5, ge=0, le=1e6)
    """Transport cost per road km, in the unit of the hubs' handling costs."""
    routing_road_factor: float = Field(default=1.3, ge=1, le=10)
    """Road distance over great-circle distance."""
    eta_default_speed_kmh: float = Field(default=40, gt=0, le=1000)
    """Effective speed (great-circle km an hour, stops included) an estimate of arrival
    assumes when neither the trip's lane nor the trip itself tells one (docs/eta.md)."""
    eta_change_min: float = Field(default=60, ge=1, le=100_000)
    """A trip's estimate of arrival is announced again once it moved this many minutes."""
    late_predicted_probability: float = Field(default=0.6, gt=0, lt=1)
    """`late_predicted` opens when the chance of arriving after the due date reaches this."""

    spool_max_points: int = Field(default=5_000_000, ge=0)
    """Points kept on disk while InfluxDB does not take writes; 0 turns the spool off."""

    dead_letter_max: int = Field(default=100_000, ge=1)
    """Dead letters kept in all; the oldest go first."""
    dead_letter_max_per_tag: int = Field(default=1000, ge=1)
    """Dead letters kept per tag, so that one tag's garbage cannot push out the others'."""

    dead_letter_payload_bytes: int = Field(default=4096, ge=64)
    """How much of a rejected payload a dead letter keeps (its head); the whole payload's
    length and SHA-256 are kept beside it."""
    dead_letter_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Payload bytes kept in all; the oldest dead letters go first."""
    dead_letter_max_bytes_per_tag: int = Field(default=1024 * 1024, ge=1024)
    """Payload bytes kept per tag, so that one tag's garbage cannot push out the others'."""

    reading_ts_min: AwareDatetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Readings timed before this are dead-lettered."""
    reading_max_future_s: float = Field(default=300, ge=0)
    """Readings timed more than this after their receipt are dead-lettered."""
    tag_rate_max_per_s: float = Field(default=10, ge=0)
    """Messages one tag may send a second of its readings' own time, sustained; the excess
    is counted and dropped (a sample dead-lettered, cause rate_limited). 0: no limit."""
    tag_rate_burst: int = Field(default=1000, ge=1)
    """Messages one tag may send at once above its rate (an offline buffer's upload)."""
    owntracks_devices_per_user: int = Field(default=5, ge=1)
    """Tag ids one OwnTracks login may speak for (`{user}-{device}`)."""

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

    @field_validator("state_url")
    @classmethod
    def _state_url_is_sqlite_or_postgresql(cls, value: str) -> str:
        try:
            state_url(value.replace("{data_dir}", "."))
        except (ArgumentError, ValueError) as exc:
            raise ValueError(f"{exc}; it must look like sqlite:///path/state.db or "
                             "postgresql://user:password@host:port/database") from None
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

    @field_validator("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"no readable file at {value}")
        return value

    @model_validator(mode="after")
    def _tls_files_need_mqtts(self) -> Settings:
        tls_files = [name for name in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file")
                     if getattr(self, name) is not None]
        if tls_files and urlsplit(self.mqtt_url).scheme != "mqtts":
            raise ValueError(f"{ENV_PREFIX}{tls_files[0].upper()} is set but "
                             f"{ENV_PREFIX}MQTT_URL is not mqtts://")
        if (self.mqtt_cert_file is None) != (self.mqtt_key_file is None):
            raise ValueError(f"{ENV_PREFIX}MQTT_CERT_FILE and {ENV_PREFIX}MQTT_KEY_FILE "
                             "go together")
        # Built once here, so that a file that is not PEM stops start-up naming its setting
        # rather than the first connection with a traceback.
        self.mqtt_ssl_context()
        return self

    def mqtt_ssl_context(self) -> ssl.SSLContext | None:
        """For mqtts://: the system's trusted CAs, or BOOMERANG_MQTT_CA_FILE's, and the
        client certificate when one is set. None for mqtt://. Raises ValueError naming the
        setting whose file will not load."""
        if urlsplit(self.mqtt_url).scheme != "mqtts":
            return None
        context = ssl.create_default_context()
        try:
            if self.mqtt_ca_file is not None:
                context.load_verify_locations(cafile=self.mqtt_ca_file)
        except ssl.SSLError as exc:
            raise ValueError(f"{ENV_PREFIX}MQTT_CA_FILE: not PEM certificates "
                             f"({exc.reason or exc})") from None
        if self.mqtt_cert_file is not None and self.mqtt_key_file is not None:
            try:
                context.load_cert_chain(self.mqtt_cert_file, self.mqtt_key_file)
            except ssl.SSLError as exc:
                raise ValueError(f"{ENV_PREFIX}MQTT_CERT_FILE / {ENV_PREFIX}MQTT_KEY_FILE: not "
                                 f"a PEM certificate and its key ({exc.reason or exc})"
                                 ) from None
        return context

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("nats", "tls") or not parts.hostname:
                raise ValueError("must look like nats://host:4222")
        return value

    @model_validator(mode="after")
    def _cluster_needs_postgresql(self) -> Settings:
        if self.nats_url is None:
            return self
        if not self.state_url.startswith("postgresql"):
            raise ValueError(f"{ENV_PREFIX}NATS_URL is set (a cluster of gateways) but "
                             f"{ENV_PREFIX}STATE_URL is not PostgreSQL: the gateways of a "
                             "cluster share one PostgreSQL state database")
        if self.shared_group:
            raise ValueError(f"{ENV_PREFIX}SHARED_GROUP and {ENV_PREFIX}NATS_URL exclude each "
                             "other: a cluster relays the broker's messages through one "
                             "session and partitions them itself")
        if not self.ingest:
            raise ValueError(f"{ENV_PREFIX}INGEST=false and {ENV_PREFIX}NATS_URL exclude each "
                             "other: every gateway of a cluster may judge")
        return self

    @model_validator(mode="after")
    def _dead_letter_bytes_nest(self) -> Settings:
        if self.dead_letter_payload_bytes > self.dead_letter_max_bytes_per_tag:
            raise ValueError(f"{ENV_PREFIX}DEAD_LETTER_PAYLOAD_BYTES is more than "
                             f"{ENV_PREFIX}DEAD_LETTER_MAX_BYTES_PER_TAG")
        if self.dead_letter_max_bytes_per_tag > self.dead_letter_max_bytes:
            raise ValueError(f"{ENV_PREFIX}DEAD_LETTER_MAX_BYTES_PER_TAG is more than "
                             f"{ENV_PREFIX}DEAD_LETTER_MAX_BYTES")
        return self

    @model_validator(mode="after")
    def _admin_key_strong(self) -> Settings:
        if self.admin_key is None or self.allow_weak_admin_key:
            return self
        key = self.admin_key.get_secret_value()
        if key in PUBLIC_DEVELOPMENT_KEYS:
            raise ValueError(f"{ENV_PREFIX}ADMIN_KEY is a public development key (compose.yaml's); "
                             "make one with `openssl rand -hex 32`, or set "
                             f"{ENV_PREFIX}ALLOW_WEAK_ADMIN_KEY=true for development")
        if len(key) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(f"{ENV_PREFIX}ADMIN_KEY is {len(key)} characters, fewer than "
                             f"{MIN_ADMIN_KEY_LENGTH}; make one with `openssl rand -hex 32`, or "
                             f"set {ENV_PREFIX}ALLOW_WEAK_ADMIN_KEY=true for development")
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
    def telemetry_store(self) -> Literal["sqlite", "influx_v1", "influx_v2"]:
        """Where telemetry goes, from the InfluxDB settings given: no URL, SQLite under the
        data dir; a token, the v2 write API; otherwise the v1 one (gateway.app.SINKS)."""
        if self.influx_url is None:
            return "sqlite"
        return "influx_v2" if self.influx_token is not None else "influx_v1"

    @property
    def state_database(self) -> str:
        """BOOMERANG_STATE_URL with its `{data_dir}` filled in."""
        return self.state_url.replace("{data_dir}", str(self.data_dir))

    @property
    def state_db(self) -> Path | None:
        """The state's SQLite file, if it lives in one."""
        url = state_url(self.state_database)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    @property
    def telemetry_db(self) -> Path:
        return self.data_dir / "telemetry.db"

    @property
    def spool_db(self) -> Path:
        return self.data_dir / "spool.db"

    @property
    def spooling(self) -> bool:
        """Whether batches InfluxDB does not take wait in `spool_db`. Not in a cluster: there
        the stream keeps them unacknowledged until InfluxDB takes them, where any gateway can
        reach them; a spool would strand them on the disk of a gateway that died."""
        return (self.influx_url is not None and self.spool_max_points > 0
                and self.nats_url is None)

    def masked(self) -> dict[str, Any]:
        """The effective settings as `BOOMERANG_*` names, secrets and URL passwords masked."""
        shown: dict[str, Any] = {}
        # mode="json" already masks SecretStr values and makes paths and tuples printable.
        for name, value in self.model_dump(mode="json").items():
            if name == "state_url" and isinstance(value, str):
                value = (make_url(value).render_as_string(hide_password=True)
                         .replace("%7Bdata_dir%7D", "{data_dir}"))
            elif name.endswith("url") and isinstance(value, str):
                value = redact_url(value)
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
            given = error.get("input")
            if name.endswith("url") and isinstance(given, str):
                given = redact_url(given)  # its user info may hold the broker's password
            got = "" if secret else f" (got {given!r})"
            problems.append(f"{ENV_PREFIX}{name.upper()}: {error['msg']}{got}")
        raise SettingsError("bad settings:\n  " + "\n  ".join(problems)) from None
    except ValueError as exc:  # a value pydantic-settings could not even parse, or bad TOML
        text = re.sub(r'field "(\w+)"', lambda m: f"{ENV_PREFIX}{m[1].upper()}", str(exc))
        where = f" (or {CONFIG_ENV}={config_file})" if config_file else ""
        raise SettingsError(f"bad settings{where}: {text}") from None
