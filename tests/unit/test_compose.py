"""compose.yaml, checked without Docker (no engine runs where this project is developed).

First against the Compose specification's JSON schema (check-jsonschema's vendored copy),
then for what the schema cannot see: host paths that exist, health checks behind every
`service_healthy`, the start order, real gateway settings, the Grafana provisioning's data
source and dashboard path, the InfluxDB token, org, bucket and database on every side, the
PostgreSQL service every gateway waits for and keeps its state in (its account and database),
broker accounts that the password file and the ACL accept (one per service, since the broker
makes the user name the client id on every listener), and the `scale` profile's NATS and
cluster of gateways. Each check is a small function, tested once on the real files and once
on a copy broken on purpose, so that each can fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError
from support.common import require_binary

import device_sim
from dashboards.model import DATASOURCE_UID
from gateway.app import DECODERS
from gateway.settings import CONFIG_ENV, ENV_PREFIX, Settings
from ingest.statedb import state_url

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DATASOURCES = ROOT / "dashboards/provisioning/datasources/influxdb.yaml"
PROVIDERS = ROOT / "dashboards/provisioning/dashboards/boomerang.yaml"
DASHBOARD_JSON = ROOT / "dashboards/json"
PASSWD = ROOT / "mosquitto/passwd.dev"
ACL = ROOT / "mosquitto/acl"
BROKER_CONFIGS = (ROOT / "mosquitto/mosquitto.conf", ROOT / "mosquitto/tls.conf")
DBRP_SCRIPT = ROOT / "compose/influxdb-init/create-dbrp.sh"
README = ROOT / "README.md"
README_SECTION = "## The whole stack with Docker Compose"

# Who starts after whom (the list); each edge must wait for a healthy service.
START_ORDER = {
    "grafana": {"influxdb"},
    "gateway": {"mosquitto", "influxdb", "postgres"},
    "simulator": {"gateway"},
}
SCALE = "scale"  # the profile of NATS and the cluster of gateways
NATS = "nats"
CLUSTER = ("gateway-1", "gateway-2", "gateway-3")
# The cluster's gateways wait for NATS besides what the single gateway waits for.
SCALE_START_ORDER = {name: {NATS, *START_ORDER["gateway"]} for name in CLUSTER}
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"  # GF_PATHS_PROVISIONING of the image
POSTGRES = "postgres"  # the service holding the gateway's state (BOOMERANG_STATE_URL)
POSTGRES_DATA = "/var/lib/postgresql/data"  # PGDATA of the postgres:15 image

Compose = dict[str, Any]


@pytest.fixture(autouse=True)
def _no_boomerang_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings are built from compose.yaml alone, never from this process's environment."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def compose() -> Compose:
    """A fresh copy for each test, so that a test may break it. Through JSON, so that what YAML
    aliases share (the scale gateways' settings) is copied: breaking one service breaks no
    other."""
    doc: Compose = json.loads(json.dumps(load_yaml(COMPOSE)))
    return doc


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- reading compose.yaml --------------------------------------------------------------


def unescape(value: str) -> str:
    """Compose's interpolation turns `$$` into a literal `$`."""
    return value.replace("$$", "$")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either of its two forms, as the container sees it."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {name: unescape(_env_text(value)) for name, value in raw.items()}


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def is_host_path(source: str) -> bool:
    return source.startswith((".", "/", "~"))


@dataclass(frozen=True)
class Mount:
    source: str  # a host path (bind) or a volume name
    target: str
    bind: bool


def mounts_of(service: dict[str, Any]) -> list[Mount]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) == 1:  # an anonymous volume
                continue
            mounts.append(Mount(parts[0], parts[1], is_host_path(parts[0])))
        elif volume.get("source"):
            mounts.append(Mount(volume["source"], volume["target"], volume.get("type") == "bind"))
    return mounts


def host_to_container(service: dict[str, Any], host_path: Path, root: Path) -> str | None:
    """Where `host_path` appears inside the service's container, if it is mounted at all."""
    for mount in mounts_of(service):
        if not mount.bind:
            continue
        source = (root / mount.source).resolve()
        if host_path.resolve() == source or source in host_path.resolve().parents:
            relative = host_path.resolve().relative_to(source).as_posix()
            return mount.target if relative == "." else f"{mount.target}/{relative}"
    return None


def ports_of(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(host port, container port) of each published port."""
    ports: list[tuple[str | None, str]] = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published = port.get("published")
            ports.append((None if published is None else str(published), str(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        ports.append((parts[-2] if len(parts) > 1 else None, parts[-1]))
    return ports


def option(argv: list[str], name: str) -> str | None:
    """The value after `name` in an argument list, or None."""
    return argv[argv.index(name) + 1] if name in argv else None


# --- 1. the Compose specification's JSON schema ------------------------------------------


def schema_errors(path: Path) -> str:
    """check-jsonschema's complaint about `path`, or "" when it conforms."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, timeout=120,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    assert schema_errors(COMPOSE) == ""


def _bogus_condition(doc: Compose) -> None:
    doc["services"]["grafana"]["depends_on"]["influxdb"]["condition"] = "bogus"


def _unknown_top_level_key(doc: Compose) -> None:
    doc["servics"] = {}


def _ports_as_a_mapping(doc: Compose) -> None:
    doc["services"]["grafana"]["ports"] = {"3000": 3000}


@pytest.mark.parametrize("breakage", [_bogus_condition, _unknown_top_level_key,
                                      _ports_as_a_mapping])
def test_schema_check_rejects_a_broken_copy(tmp_path: Path, compose: Compose,
                                            breakage: Any) -> None:
    breakage(compose)
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(compose, sort_keys=False))
    assert schema_errors(broken) != ""


# --- 2. files on the host -----------------------------------------------------------------


def missing_host_paths(doc: Compose, root: Path) -> list[str]:
    """Bind-mount sources and build contexts (with their Dockerfile) that do not exist."""
    problems = []
    for name, service in doc["services"].items():
        for mount in mounts_of(service):
            if mount.bind and not (root / mount.source).exists():
                problems.append(f"{name}: bind mount source {mount.source} does not exist")
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get(
                "dockerfile", "Dockerfile")
            if not (root / context / dockerfile).is_file():
                problems.append(f"{name}: no {dockerfile} in build context {context}")
    return problems


def test_every_host_path_exists(compose: Compose) -> None:
    assert missing_host_paths(compose, ROOT) == []


def test_a_missing_host_path_is_found(compose: Compose) -> None:
    volumes = compose["services"]["mosquitto"]["volumes"]
    volumes[volumes.index("./mosquitto/passwd.dev:/mosquitto/config/passwd:ro")] = (
        "./mosquitto/passwd.missing:/mosquitto/config/passwd:ro")
    compose["services"]["gateway"]["build"] = "./no-such-dir"
    assert missing_host_paths(compose, ROOT) == [
        "mosquitto: bind mount source ./mosquitto/passwd.missing does not exist",
        "gateway: no Dockerfile in build context ./no-such-dir",
    ]


def undeclared_volumes(doc: Compose) -> list[str]:
    declared = set(doc.get("volumes") or {})
    return [f"{name}: volume {mount.source} is not declared under top-level volumes"
            for name, service in doc["services"].items()
            for mount in mounts_of(service) if not mount.bind and mount.source not in declared]


def test_every_named_volume_is_declared(compose: Compose) -> None:
    assert undeclared_volumes(compose) == []


def test_an_undeclared_volume_is_found(compose: Compose) -> None:
    del compose["volumes"]["grafana-data"]
    assert undeclared_volumes(compose) == [
        "grafana: volume grafana-data is not declared under top-level volumes"]


def non_executable_init_scripts(doc: Compose, root: Path) -> list[str]:
    """The influxdb image runs only the executable *.sh files of /docker-entrypoint-initdb.d."""
    problems = []
    for mount in mounts_of(doc["services"]["influxdb"]):
        if mount.bind and mount.target == "/docker-entrypoint-initdb.d":
            scripts = sorted((root / mount.source).glob("*.sh"))
            if not scripts:
                problems.append(f"no *.sh in {mount.source}")
            problems += [f"{script.relative_to(root)} is not executable" for script in scripts
                         if not script.stat().st_mode & stat.S_IXUSR]
    return problems


def test_the_influxdb_init_script_is_executable(compose: Compose) -> None:
    assert non_executable_init_scripts(compose, ROOT) == []


def test_a_non_executable_init_script_is_found(tmp_path: Path, compose: Compose) -> None:
    copy = tmp_path / "compose/influxdb-init/create-dbrp.sh"
    copy.parent.mkdir(parents=True)
    shutil.copy(DBRP_SCRIPT, copy)
    copy.chmod(0o644)
    assert non_executable_init_scripts(compose, tmp_path) == [
        "compose/influxdb-init/create-dbrp.sh is not executable"]


def unescaped_dollars(value: Any, where: str = "") -> list[str]:
    """Strings Compose would interpolate. There is no .env file: a `$NAME` would silently
    become empty (a literal `$` is written `$$`)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in unescaped_dollars(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unescaped_dollars(item, f"{where}[{i}]")]
    if isinstance(value, str) and "$" in value.replace("$$", ""):
        return [f"{where.lstrip('.')}: {value}"]
    return []


def test_no_value_depends_on_an_unset_variable(compose: Compose) -> None:
    assert unescaped_dollars(compose) == []


def test_an_unescaped_dollar_is_found(compose: Compose) -> None:
    test = compose["services"]["mosquitto"]["healthcheck"]["test"]
    test[test.index("$$SYS/broker/uptime")] = "$SYS/broker/uptime"
    assert unescaped_dollars(compose) == [
        f"services.mosquitto.healthcheck.test[{test.index('$SYS/broker/uptime')}]: "
        "$SYS/broker/uptime"]


# --- 3. health checks and start order ------------------------------------------------------


def has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and check["test"] != ["NONE"] and not check.get("disable")


def unhealthy_dependencies(doc: Compose) -> list[str]:
    """`condition: service_healthy` on a service without a health check never starts."""
    problems = []
    services = doc["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            continue  # the short form waits only for "started"
        for target, spec in depends.items():
            if (spec or {}).get("condition") != "service_healthy":
                continue
            if target not in services:
                problems.append(f"{name} depends on {target}, which is no service")
            elif not has_healthcheck(services[target]):
                problems.append(f"{name} waits for {target} to be healthy; it has no healthcheck")
    return problems


def test_every_awaited_service_has_a_healthcheck(compose: Compose) -> None:
    assert unhealthy_dependencies(compose) == []


def test_grafana_has_a_healthcheck(compose: Compose) -> None:
    assert has_healthcheck(compose["services"]["grafana"])


def test_an_awaited_service_without_healthcheck_is_found(compose: Compose) -> None:
    del compose["services"]["influxdb"]["healthcheck"]
    compose["services"]["gateway"]["healthcheck"] = {"disable": True}
    assert unhealthy_dependencies(compose) == [
        "grafana waits for influxdb to be healthy; it has no healthcheck",
        "gateway waits for influxdb to be healthy; it has no healthcheck",
        "simulator waits for gateway to be healthy; it has no healthcheck",
        *(f"gateway-{n} waits for influxdb to be healthy; it has no healthcheck"
          for n in (1, 2, 3)),
    ]


def missing_start_order(doc: Compose, required: dict[str, set[str]]) -> list[str]:
    problems = []
    for name, targets in required.items():
        depends = doc["services"][name].get("depends_on") or {}
        for target in sorted(targets):
            spec = depends.get(target) if isinstance(depends, dict) else None
            if not spec or spec.get("condition") != "service_healthy":
                problems.append(f"{name} does not wait for {target} to be healthy")
    return problems


def test_services_start_in_order(compose: Compose) -> None:
    assert missing_start_order(compose, START_ORDER) == []


def test_a_missing_start_condition_is_found(compose: Compose) -> None:
    del compose["services"]["simulator"]["depends_on"]["gateway"]
    compose["services"]["gateway"]["depends_on"]["mosquitto"]["condition"] = "service_started"
    assert missing_start_order(compose, START_ORDER) == [
        "gateway does not wait for mosquitto to be healthy",
        "simulator does not wait for gateway to be healthy",
    ]


# --- 4. the gateway's settings -------------------------------------------------------------


def unknown_gateway_settings(names: Iterable[str]) -> list[str]:
    """`BOOMERANG_*` names that are no field of gateway.settings.Settings (ignored silently)."""
    known = {ENV_PREFIX + field.upper() for field in Settings.model_fields} | {CONFIG_ENV}
    return sorted(name for name in names if name.startswith(ENV_PREFIX) and name not in known)


def gateway_settings(env: dict[str, str]) -> Settings:
    """The gateway's settings from these variables, as `boomerang serve` would read them."""
    fields: dict[str, Any] = {name.removeprefix(ENV_PREFIX).lower(): value
                              for name, value in env.items()
                              if name.startswith(ENV_PREFIX) and name != CONFIG_ENV}
    return Settings(**fields)


def dockerfile_env_names(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return re.findall(rf"\b({ENV_PREFIX}[A-Z0-9_]+)=", "\n".join(lines))


def test_gateway_environment_names_real_settings(compose: Compose) -> None:
    names = list(env_of(compose["services"]["gateway"]))
    assert names and unknown_gateway_settings(names) == []
    docker_names = dockerfile_env_names((ROOT / "Dockerfile").read_text())
    assert docker_names and unknown_gateway_settings(docker_names) == []


def test_an_unknown_gateway_setting_is_found(compose: Compose) -> None:
    env = compose["services"]["gateway"]["environment"]
    env["BOOMERANG_INFLUX_TOKN"] = env.pop("BOOMERANG_INFLUX_TOKEN")
    assert unknown_gateway_settings(env_of(compose["services"]["gateway"])) == [
        "BOOMERANG_INFLUX_TOKN"]
    assert unknown_gateway_settings(dockerfile_env_names("ENV BOOMERANG_DATADIR=/data \\\n"
                                                         "    BOOMERANG_API_HOST=0.0.0.0")) == [
        "BOOMERANG_DATADIR"]


def test_gateway_environment_is_valid(compose: Compose) -> None:
    settings = gateway_settings(env_of(compose["services"]["gateway"]))
    assert settings.influx_token is not None  # the v2 API, as compose.yaml's comments say


def test_an_invalid_gateway_environment_is_refused(compose: Compose) -> None:
    del compose["services"]["gateway"]["environment"]["BOOMERANG_INFLUX_ORG"]
    with pytest.raises(ValidationError, match="BOOMERANG_INFLUX_ORG"):
        gateway_settings(env_of(compose["services"]["gateway"]))


def simulator_api_problems(doc: Compose) -> list[str]:
    """The simulator registers its fleet at the gateway's API with the gateway's admin key."""
    services = doc["services"]
    settings = gateway_settings(env_of(services["gateway"]))
    argv = [unescape(str(arg)) for arg in services["simulator"]["command"]]
    problems = []
    api = option(argv, "--register-api")
    if api is not None:
        parts = urlsplit(api)
        if (parts.hostname, parts.port or 80) != ("gateway", settings.api_port):
            problems.append(f"simulator registers at {api}, not the gateway's "
                            f"http://gateway:{settings.api_port}")
        key = option(argv, "--api-key") or env_of(services["simulator"]).get("BOOMERANG_API_KEY")
        admin = settings.admin_key.get_secret_value() if settings.admin_key else None
        if key is None or key != admin:
            problems.append("the simulator's API key is not the gateway's BOOMERANG_ADMIN_KEY")
    return problems


def test_simulator_registers_at_the_gateway(compose: Compose) -> None:
    assert simulator_api_problems(compose) == []


def test_simulator_api_mismatches_are_found(compose: Compose) -> None:
    compose["services"]["gateway"]["environment"]["BOOMERANG_API_PORT"] = "9090"
    compose["services"]["simulator"]["environment"]["BOOMERANG_API_KEY"] = "stale"
    assert simulator_api_problems(compose) == [
        "simulator registers at http://gateway:8080, not the gateway's http://gateway:9090",
        "the simulator's API key is not the gateway's BOOMERANG_ADMIN_KEY",
    ]


# --- 5. InfluxDB: one token, org, bucket and database everywhere ----------------------------


def dbrp_database(script: str, influxdb_env: dict[str, str]) -> str:
    """The InfluxQL database create-dbrp.sh maps to the bucket."""
    match = re.search(r"\$\{BOOMERANG_INFLUX_DB:-([^}]+)\}", script)
    assert match, "create-dbrp.sh no longer reads ${BOOMERANG_INFLUX_DB:-default}"
    return influxdb_env.get("BOOMERANG_INFLUX_DB") or match[1]


def influx_url_problems(doc: Compose, who: str, url: str) -> list[str]:
    parts = urlsplit(url)
    service = doc["services"].get(parts.hostname or "")
    if service is None:
        return [f"{who}: {url} names no service"]
    if parts.hostname != "influxdb":
        return [f"{who}: {url} is not the influxdb service"]
    # The influxdb image listens on 8086 (after its first-start setup on another port).
    return [] if parts.port == 8086 else [f"{who}: {url}: wrong port"]


def gateway_influx_problems(doc: Compose) -> list[str]:
    init = env_of(doc["services"]["influxdb"])
    settings = gateway_settings(env_of(doc["services"]["gateway"]))
    problems = influx_url_problems(doc, "gateway", str(settings.influx_url))
    token = settings.influx_token.get_secret_value() if settings.influx_token else None
    for what, mine, theirs in [
        ("BOOMERANG_INFLUX_TOKEN", token, init.get("DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")),
        ("BOOMERANG_INFLUX_ORG", settings.influx_org, init.get("DOCKER_INFLUXDB_INIT_ORG")),
        ("BOOMERANG_INFLUX_BUCKET", settings.influx_bucket,
         init.get("DOCKER_INFLUXDB_INIT_BUCKET")),
    ]:
        if mine != theirs:
            problems.append(f"gateway {what} is {mine!r}, InfluxDB's setup makes {theirs!r}")
    return problems


def datasource_problems(doc: Compose, provisioning: Any, uid: str, dbrp_script: str) -> list[str]:
    """The provisioned data source: the dashboards' uid, InfluxDB's token and database."""
    sources = [s for s in provisioning["datasources"] if s.get("type") == "influxdb"]
    if len(sources) != 1:
        return [f"expected one influxdb data source, found {len(sources)}"]
    source = sources[0]
    init = env_of(doc["services"]["influxdb"])
    problems = influx_url_problems(doc, "data source", source["url"])
    if source.get("uid") != uid:
        problems.append(f"data source uid {source.get('uid')!r} is not DATASOURCE_UID {uid!r}")
    headers = {value: source.get("secureJsonData", {}).get(f"httpHeaderValue{key[14:]}")
               for key, value in source.get("jsonData", {}).items()
               if key.startswith("httpHeaderName")}
    token = init.get("DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")
    if headers.get("Authorization") != f"Token {token}":
        problems.append("data source Authorization header is not `Token` + "
                        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")
    database = source.get("jsonData", {}).get("dbName")
    gateway_db = gateway_settings(env_of(doc["services"]["gateway"])).influx_db
    mapped = dbrp_database(dbrp_script, init)
    if not database == gateway_db == mapped:
        problems.append(f"databases differ: data source {database!r}, gateway {gateway_db!r}, "
                        f"DBRP mapping {mapped!r}")
    return problems


def test_gateway_uses_influxdbs_token_org_and_bucket(compose: Compose) -> None:
    assert gateway_influx_problems(compose) == []


def test_a_gateway_influx_mismatch_is_found(compose: Compose) -> None:
    env = compose["services"]["gateway"]["environment"]
    env["BOOMERANG_INFLUX_TOKEN"] = "another-token"
    env["BOOMERANG_INFLUX_URL"] = "http://influx:8086"
    assert gateway_influx_problems(compose) == [
        "gateway: http://influx:8086/ names no service",
        "gateway BOOMERANG_INFLUX_TOKEN is 'another-token', InfluxDB's setup makes "
        "'boomerang-dev-token'",
    ]


def test_datasource_matches_dashboards_and_influxdb(compose: Compose) -> None:
    assert datasource_problems(compose, load_yaml(DATASOURCES), DATASOURCE_UID,
                               DBRP_SCRIPT.read_text()) == []


def test_datasource_mismatches_are_found(compose: Compose) -> None:
    provisioning = load_yaml(DATASOURCES)
    source = provisioning["datasources"][0]
    source["secureJsonData"]["httpHeaderValue1"] = "Token stale-token"
    source["uid"] = "influx"
    source["url"] = "http://influxdb:9999"
    compose["services"]["influxdb"]["environment"]["BOOMERANG_INFLUX_DB"] = "telemetry"
    assert datasource_problems(compose, provisioning, DATASOURCE_UID,
                               DBRP_SCRIPT.read_text()) == [
        "data source: http://influxdb:9999: wrong port",
        f"data source uid 'influx' is not DATASOURCE_UID {DATASOURCE_UID!r}",
        "data source Authorization header is not `Token` + DOCKER_INFLUXDB_INIT_ADMIN_TOKEN",
        "databases differ: data source 'boomerang', gateway 'boomerang', DBRP mapping "
        "'telemetry'",
    ]


# --- 6. PostgreSQL: the gateway's state ----------------------------------------------------


def gateway_services(doc: Compose) -> list[str]:
    """Services that run the gateway: the project's image (a service that builds it, or one
    that names the image such a service builds) with `serve`, also the image's CMD."""
    services = doc["services"]
    images = {service["image"] for service in services.values()
              if "build" in service and service.get("image")}
    names = []
    for name, service in services.items():
        if "build" not in service and service.get("image") not in images:
            continue
        command = service.get("command", ["serve"])
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if argv[:1] == ["serve"]:
            names.append(name)
    return names


@dataclass(frozen=True)
class PostgresInit:
    """What the postgres image creates on its first start (an empty volume)."""
    user: str
    database: str
    password: str | None
    port: int


def postgres_init(doc: Compose) -> PostgresInit:
    env = env_of(doc["services"][POSTGRES])
    user = env.get("POSTGRES_USER") or "postgres"  # the image's defaults
    return PostgresInit(user, env.get("POSTGRES_DB") or user, env.get("POSTGRES_PASSWORD"),
                        int(env.get("PGPORT") or 5432))


def postgres_service_problems(doc: Compose) -> list[str]:
    """A postgres service whose health check asks for the database and account it creates,
    over TCP, and whose data lives in a declared named volume."""
    service = doc["services"].get(POSTGRES)
    if service is None:
        return [f"no {POSTGRES} service"]
    problems = []
    init = postgres_init(doc)
    if not has_healthcheck(service):
        problems.append(f"{POSTGRES} has no healthcheck")
    else:
        test = service["healthcheck"]["test"]
        if isinstance(test, str):
            argv = shlex.split(test)
        elif test[0] == "CMD-SHELL":
            argv = shlex.split(test[1])
        else:
            argv = [unescape(str(arg)) for arg in test[1:]]
        if argv[:1] != ["pg_isready"]:
            problems.append(f"{POSTGRES} healthcheck is not pg_isready: {argv}")
        else:
            for flag, wanted in (("-U", init.user), ("-d", init.database)):
                if option(argv, flag) != wanted:
                    problems.append(f"{POSTGRES} healthcheck: pg_isready {flag} is "
                                    f"{option(argv, flag)!r}, not {wanted!r}")
            # The image's first-start setup runs a temporary server on the Unix socket only.
            host = option(argv, "-h")
            if not host or host.startswith("/"):
                problems.append(f"{POSTGRES} healthcheck asks the Unix socket, which answers "
                                "during first-start setup: pg_isready needs -h localhost")
    declared = set(doc.get("volumes") or {})
    data = [mount for mount in mounts_of(service) if mount.target == POSTGRES_DATA]
    if not data or data[0].bind:
        problems.append(f"{POSTGRES} keeps {POSTGRES_DATA} in no named volume")
    elif data[0].source not in declared:
        problems.append(f"{POSTGRES} data volume {data[0].source} is not declared under "
                        "top-level volumes")
    return problems


def gateway_state_problems(doc: Compose) -> list[str]:
    """Every gateway waits for a healthy postgres and keeps its state there, as the account,
    with the password, in the database that postgres creates."""
    init = postgres_init(doc)
    problems = []
    for name in gateway_services(doc):
        problems += missing_start_order(doc, {name: {POSTGRES}})
        url = state_url(gateway_settings(env_of(doc["services"][name])).state_database)
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() != "postgresql":
            problems.append(f"{name} keeps its state in {shown}, not in PostgreSQL")
            continue
        for what, mine, theirs in [
            ("host", url.host, POSTGRES),
            ("port", url.port or 5432, init.port),
            ("user", url.username, init.user),
            ("password", url.password, init.password),
            ("database", url.database, init.database),
        ]:
            if mine != theirs:
                mine, theirs = ("***", "***") if what == "password" else (mine, theirs)
                problems.append(f"{name} BOOMERANG_STATE_URL {what} is {mine!r}, the "
                                f"{POSTGRES} service's is {theirs!r}")
    return problems


def test_gateway_services_are_found(compose: Compose) -> None:
    assert gateway_services(compose) == ["gateway", *CLUSTER]
    compose["services"]["gateway-4"] = {"image": "boomerang:dev"}  # the image's CMD: serve
    compose["services"]["migrate"] = {"image": "boomerang:dev", "command": "db upgrade"}
    compose["services"]["other"] = {"image": "elsewhere:1", "command": ["serve"]}
    assert gateway_services(compose) == ["gateway", *CLUSTER, "gateway-4"]


def test_postgres_has_a_healthcheck_and_a_declared_data_volume(compose: Compose) -> None:
    assert has_healthcheck(compose["services"][POSTGRES])
    assert f"postgres-data:{POSTGRES_DATA}" in compose["services"][POSTGRES]["volumes"]
    assert "postgres-data" in compose["volumes"]
    assert postgres_service_problems(compose) == []


def test_postgres_service_problems_are_found(compose: Compose) -> None:
    service = compose["services"][POSTGRES]
    test = service["healthcheck"]["test"]
    del test[test.index("-h"):test.index("-h") + 2]
    test[test.index("-d") + 1] = "postgres"
    del compose["volumes"]["postgres-data"]
    assert postgres_service_problems(compose) == [
        "postgres healthcheck: pg_isready -d is 'postgres', not 'boomerang'",
        "postgres healthcheck asks the Unix socket, which answers during first-start setup: "
        "pg_isready needs -h localhost",
        "postgres data volume postgres-data is not declared under top-level volumes",
    ]
    service["healthcheck"] = {"test": ["NONE"]}
    service["volumes"] = []
    assert postgres_service_problems(compose) == [
        "postgres has no healthcheck", f"postgres keeps {POSTGRES_DATA} in no named volume"]
    del compose["services"][POSTGRES]
    assert postgres_service_problems(compose) == ["no postgres service"]


def test_every_gateway_keeps_its_state_in_a_healthy_postgres(compose: Compose) -> None:
    assert START_ORDER["gateway"] >= {POSTGRES}
    url = state_url(gateway_settings(env_of(compose["services"]["gateway"])).state_database)
    assert (url.host, url.username, url.database) == ("postgres", "boomerang", "boomerang")
    assert gateway_state_problems(compose) == []


def test_a_gateway_not_waiting_for_postgres_is_found(compose: Compose) -> None:
    compose["services"]["gateway"]["depends_on"]["postgres"]["condition"] = "service_started"
    second = compose["services"]["gateway-4"] = dict(compose["services"]["gateway"])
    second["depends_on"] = {"mosquitto": {"condition": "service_healthy"}}
    assert gateway_state_problems(compose) == [
        "gateway does not wait for postgres to be healthy",
        "gateway-4 does not wait for postgres to be healthy",
    ]


def test_a_state_url_beside_postgres_is_found(compose: Compose) -> None:
    env = compose["services"]["gateway"]["environment"]
    env["BOOMERANG_STATE_URL"] = "postgresql://postgres:wrong@localhost:5433/state"
    assert gateway_state_problems(compose) == [
        "gateway BOOMERANG_STATE_URL host is 'localhost', the postgres service's is 'postgres'",
        "gateway BOOMERANG_STATE_URL port is 5433, the postgres service's is 5432",
        "gateway BOOMERANG_STATE_URL user is 'postgres', the postgres service's is 'boomerang'",
        "gateway BOOMERANG_STATE_URL password is '***', the postgres service's is '***'",
        "gateway BOOMERANG_STATE_URL database is 'state', the postgres service's is "
        "'boomerang'",
    ]
    del env["BOOMERANG_STATE_URL"]  # the default: SQLite in BOOMERANG_DATA_DIR
    assert gateway_state_problems(compose) == [
        "gateway keeps its state in sqlite:////data/state.db, not in PostgreSQL"]


# --- 7. Grafana's provisioning -------------------------------------------------------------


def provisioning_problems(doc: Compose, providers: Any, root: Path) -> list[str]:
    """Grafana finds the provisioning files where it looks, and the provider's path is where
    compose.yaml mounts dashboards/json."""
    grafana = doc["services"]["grafana"]
    problems = []
    for host, kind in [(DATASOURCES, "datasources"), (PROVIDERS, "dashboards")]:
        seen = host_to_container(grafana, host, root)
        if seen is None or Path(seen).parent.as_posix() != f"{GRAFANA_PROVISIONING}/{kind}":
            problems.append(f"{host.relative_to(root)} is not mounted in "
                            f"{GRAFANA_PROVISIONING}/{kind} (it is at {seen})")
    dashboards_at = host_to_container(grafana, root / "dashboards/json", root)
    for provider in providers["providers"]:
        path = provider.get("options", {}).get("path")
        if path != dashboards_at:
            problems.append(f"provider {provider.get('name')} reads {path}; compose.yaml "
                            f"mounts dashboards/json at {dashboards_at}")
    return problems


def test_grafana_provisioning_is_where_grafana_reads_it(compose: Compose) -> None:
    assert provisioning_problems(compose, load_yaml(PROVIDERS), ROOT) == []
    assert sorted(DASHBOARD_JSON.glob("*.json")), "no dashboards to provision"


def test_grafana_provisioning_mismatches_are_found(compose: Compose) -> None:
    providers = load_yaml(PROVIDERS)
    providers["providers"][0]["options"]["path"] = "/etc/dashboards"
    volumes = compose["services"]["grafana"]["volumes"]
    volumes.remove("./dashboards/provisioning/datasources:/etc/grafana/provisioning/datasources:ro")
    assert provisioning_problems(compose, providers, ROOT) == [
        "dashboards/provisioning/datasources/influxdb.yaml is not mounted in "
        "/etc/grafana/provisioning/datasources (it is at None)",
        "provider Boomerang reads /etc/dashboards; compose.yaml mounts dashboards/json at "
        "/var/lib/grafana/dashboards",
    ]


# --- 8. broker accounts: password file and ACL ----------------------------------------------


@dataclass(frozen=True)
class BrokerLogin:
    who: str
    host: str | None  # None: the container's own broker (a health check)
    user: str
    password: str
    reads: tuple[str, ...] = ()  # topic filters it must receive everything of
    writes: tuple[str, ...] = ()  # topics it publishes to


def broker_logins(doc: Compose) -> list[BrokerLogin]:
    """Every account a service logs in to mosquitto with, and what it reads and writes."""
    services = doc["services"]
    logins = []

    settings = gateway_settings(env_of(services["gateway"]))
    address = settings.mqtt
    filters = tuple(topic_filter for name in settings.decoders
                    for topic_filter in DECODERS[name](settings).topic_filters())
    logins.append(BrokerLogin("gateway", address.host, address.username or "",
                              address.password or "", reads=filters))
    logins += cluster_logins(doc)

    test = [unescape(str(arg)) for arg in services["mosquitto"]["healthcheck"]["test"]]
    if "mosquitto_sub" in test:
        topics = tuple(test[i + 1] for i, arg in enumerate(test) if arg == "-t")
        logins.append(BrokerLogin("mosquitto healthcheck", None, option(test, "-u") or "",
                                  option(test, "-P") or "", reads=topics))

    argv = [unescape(str(arg)) for arg in services["simulator"]["command"]]
    broker = urlsplit(option(argv, "--broker") or "mqtt://127.0.0.1:1883")
    tags = device_sim.plan_fleet(int(option(argv, "--tags") or 50)).tags
    prefix = device_sim.SimConfig(broker_url=broker.geturl()).topic_prefix
    tag_password = option(argv, "--tag-password")
    if tag_password is None:  # one connection with the URL's account speaks for every tag
        logins.append(BrokerLogin(
            "simulator", broker.hostname, broker.username or "", broker.password or "",
            writes=tuple(f"{prefix}/{t.tag_id}/{leaf}" for t in tags
                         for leaf in ("telemetry", "status"))))
    else:
        logins += [BrokerLogin(f"simulator tag {t.tag_id}", broker.hostname, t.tag_id,
                               tag_password, writes=(f"{prefix}/{t.tag_id}/telemetry",
                                                     f"{prefix}/{t.tag_id}/status"))
                   for t in tags]
    return logins


def cluster_logins(doc: Compose) -> list[BrokerLogin]:
    """The scale profile's gateways, one login per account. Only the gateway holding the relay
    lease logs in, so the cluster's gateways share one account (one session) by design."""
    accounts: dict[str, tuple[list[str], BrokerLogin]] = {}
    for name in cluster_gateways(doc):
        settings = gateway_settings(env_of(doc["services"][name]))
        address = settings.mqtt
        filters = tuple(topic_filter for decoder in settings.decoders
                        for topic_filter in DECODERS[decoder](settings).topic_filters())
        names, _ = accounts.setdefault(address.username or "", ([], BrokerLogin(
            "", address.host, address.username or "", address.password or "", reads=filters)))
        names.append(name)
    return [BrokerLogin(f"{', '.join(names)} (the relay)", login.host, login.user,
                        login.password, login.reads) for names, login in accounts.values()]


def wrong_broker_hosts(logins: Iterable[BrokerLogin]) -> list[str]:
    return [f"{login.who} connects to {login.host}, not the mosquitto service"
            for login in logins if login.host not in (None, "mosquitto")]


def password_matches(line_hash: str, password: str) -> bool:
    """mosquitto_passwd's hashes: $7$ (PBKDF2-SHA512, Mosquitto 2) and $6$ (salted SHA512)."""
    parts = line_hash.split("$")
    if len(parts) == 5 and parts[1] == "7":
        _, _, iterations, salt, digest = parts
        mine = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt),
                                   int(iterations))
    elif len(parts) == 4 and parts[1] == "6":
        _, _, salt, digest = parts
        mine = hashlib.sha512(password.encode() + base64.b64decode(salt)).digest()
    else:
        return False
    return mine == base64.b64decode(digest)


def passwd_users(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if line and ":" in line)


def password_problems(passwd: str, logins: Iterable[BrokerLogin]) -> list[str]:
    users = passwd_users(passwd)
    problems = []
    for login in logins:
        if login.user not in users:
            problems.append(f"{login.who}: no account {login.user!r} in the password file")
        elif not password_matches(users[login.user], login.password):
            problems.append(f"{login.who}: the password file refuses {login.user!r}'s password")
    return problems


@dataclass(frozen=True)
class AclRule:
    access: str  # read, write, readwrite or deny
    topic: str


def parse_acl(text: str) -> tuple[dict[str | None, list[AclRule]], list[AclRule]]:
    """Mosquitto's acl_file: `topic` lines per `user` (None: before any, anonymous clients)
    and `pattern` lines for everyone."""
    users: dict[str | None, list[AclRule]] = {None: []}
    patterns: list[AclRule] = []
    user: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        if keyword == "user":
            user = rest
            users.setdefault(user, [])
            continue
        access, _, topic = rest.partition(" ")
        if access not in ("read", "write", "readwrite", "deny"):
            access, topic = "readwrite", rest
        rule = AclRule(access, topic.strip())
        if keyword == "topic":
            users[user].append(rule)
        elif keyword == "pattern":
            patterns.append(rule)
    return users, patterns


def covers(acl_filter: str, wanted: str) -> bool:
    """Whether every topic `wanted` (a topic or a filter) matches is matched by `acl_filter`.
    As in MQTT, a wildcard at the first level does not match `$` topics."""
    have, want = acl_filter.split("/"), wanted.split("/")
    if want[0].startswith("$") and have[0] != want[0]:
        return False
    for i, level in enumerate(have):
        if level == "#":
            return True
        if i >= len(want) or want[i] == "#":
            return False
        if level != "+" and level != want[i]:
            return False
    return len(have) == len(want)


def acl_grants(acl: str, user: str, access: str, topic: str) -> bool:
    users, patterns = parse_acl(acl)
    rules = users.get(user, []) + [AclRule(p.access, p.topic.replace("%u", user))
                                   for p in patterns]
    if any(rule.access == "deny" and covers(rule.topic, topic) for rule in rules):
        return False
    return any(rule.access in (access, "readwrite") and covers(rule.topic, topic)
               for rule in rules)


def acl_problems(acl: str, logins: Iterable[BrokerLogin]) -> list[str]:
    problems = []
    for login in logins:
        problems += [f"{login.who} ({login.user}) may not read {topic}"
                     for topic in login.reads if not acl_grants(acl, login.user, "read", topic)]
        problems += [f"{login.who} ({login.user}) may not write {topic}"
                     for topic in login.writes if not acl_grants(acl, login.user, "write", topic)]
    return problems


def shared_accounts(logins: Iterable[BrokerLogin]) -> list[str]:
    """Logins that use one account at the same time. The broker makes a client's id its user
    name (use_username_as_clientid), so the second would disconnect the first, over and over."""
    seen: dict[str, str] = {}
    problems = []
    for login in logins:
        if login.user in seen:
            problems.append(f"{seen[login.user]} and {login.who} both log in as {login.user}")
        seen.setdefault(login.user, login.who)
    return problems


def test_broker_logins_are_what_compose_says(compose: Compose) -> None:
    logins = broker_logins(compose)
    assert [login.user for login in logins[:3]] == [
        "boomerang-gateway", "boomerang-gateway-2", "broker-healthcheck"]
    assert logins[0].reads == ("tags/+/telemetry", "owntracks/+/+", "v3/+/devices/+/up")
    assert logins[1].who == "gateway-1, gateway-2, gateway-3 (the relay)"
    assert logins[1].reads == logins[0].reads
    assert logins[2].reads == ("$SYS/broker/uptime",)
    assert [login.user for login in logins[3:]] == [f"tag-{n:04d}" for n in range(1, 51)]
    assert wrong_broker_hosts(logins) == []


def test_a_wrong_broker_host_is_found(compose: Compose) -> None:
    compose["services"]["gateway"]["environment"]["BOOMERANG_MQTT_URL"] = (
        "mqtt://boomerang-gateway:boomerang-dev@localhost:1883")
    assert wrong_broker_hosts(broker_logins(compose)) == [
        "gateway connects to localhost, not the mosquitto service"]


def test_no_two_services_share_a_broker_account(compose: Compose) -> None:
    assert shared_accounts(broker_logins(compose)) == []


def test_a_shared_broker_account_is_found(compose: Compose) -> None:
    test = compose["services"]["mosquitto"]["healthcheck"]["test"]
    test[test.index("-u") + 1] = "boomerang-gateway"
    compose["services"]["gateway-3"]["environment"]["BOOMERANG_MQTT_URL"] = (
        "mqtt://boomerang-gateway:boomerang-dev@mosquitto:1883")
    assert shared_accounts(broker_logins(compose)) == [
        "gateway and gateway-3 (the relay) both log in as boomerang-gateway",
        "gateway and mosquitto healthcheck both log in as boomerang-gateway",
    ]


def test_the_password_file_accepts_every_login(compose: Compose) -> None:
    assert password_problems(PASSWD.read_text(), broker_logins(compose)) == []


def test_refused_logins_are_found(compose: Compose) -> None:
    services = compose["services"]
    services["gateway"]["environment"]["BOOMERANG_MQTT_URL"] = (
        "mqtt://boomerang-gateway:wrong@mosquitto:1883")
    command = services["simulator"]["command"]
    command[command.index("--tags") + 1] = "51"
    assert password_problems(PASSWD.read_text(), broker_logins(compose)) == [
        "gateway: the password file refuses 'boomerang-gateway''s password",
        "simulator tag tag-0051: no account 'tag-0051' in the password file",
    ]


def test_the_acl_grants_every_login_what_it_needs(compose: Compose) -> None:
    assert acl_problems(ACL.read_text(), broker_logins(compose)) == []


def test_acl_gaps_are_found(compose: Compose) -> None:
    acl = ACL.read_text()
    for line in ("topic read owntracks/#\n", "topic read $SYS/broker/uptime\n",
                 "pattern write tags/%u/status\n"):
        assert line in acl
        acl = acl.replace(line, "")
    problems = acl_problems(acl, broker_logins(compose))
    assert problems[:4] == [
        "gateway (boomerang-gateway) may not read owntracks/+/+",
        "gateway-1, gateway-2, gateway-3 (the relay) (boomerang-gateway-2) may not read "
        "owntracks/+/+",
        "mosquitto healthcheck (broker-healthcheck) may not read $SYS/broker/uptime",
        "simulator tag tag-0001 (tag-0001) may not write tags/tag-0001/status",
    ]
    assert len(problems) == 3 + 50


def test_acl_topic_coverage() -> None:
    assert covers("tags/+/telemetry", "tags/+/telemetry")
    assert covers("v3/#", "v3/+/devices/+/up")
    assert covers("owntracks/#", "owntracks")
    assert not covers("tags/+/telemetry", "tags/#")
    assert not covers("tags/+", "tags/a/telemetry")
    assert not covers("#", "$SYS/broker/uptime")
    assert covers("$SYS/broker/#", "$SYS/broker/uptime")
    acl = "user a\ntopic read x/#\ntopic deny x/secret\npattern write t/%u/#\n"
    assert acl_grants(acl, "a", "read", "x/y") and not acl_grants(acl, "a", "read", "x/secret")
    assert acl_grants(acl, "b", "write", "t/b/1") and not acl_grants(acl, "b", "write", "t/a/1")
    assert not acl_grants(acl, "b", "read", "x/y")


def test_accounts_write_only_their_own_topics_one_level_deep() -> None:
    acl = ACL.read_text()
    # The Things Stack: an application's account ({app}@{tenant}) writes its own uplinks only.
    assert acl_grants(acl, "returns@ttn", "write", "v3/returns@ttn/devices/pallet-1/up")
    assert not acl_grants(acl, "returns@ttn", "write", "v3/other@ttn/devices/pallet-1/up")
    assert not acl_grants(acl, "returns@ttn", "write", "v3/returns@ttn/devices/pallet-1/down")
    assert not acl_grants(acl, "tts-bridge", "write", "v3/returns@ttn/devices/pallet-1/up")
    # OwnTracks: owntracks/{user}/{device}, one device level, under the login's own name.
    assert acl_grants(acl, "anna", "write", "owntracks/anna/phone")
    assert not acl_grants(acl, "anna", "write", "owntracks/anna/phone/extra")
    assert not acl_grants(acl, "anna", "write", "owntracks/bob/phone")
    # A tag reads no other tag's telemetry.
    assert not acl_grants(acl, "tag-0001", "read", "tags/+/telemetry")


def gateway_accounts(acl: str, gateway: str) -> list[str]:
    """The accounts whose ACL block is `gateway`'s: one per gateway process."""
    users, _ = parse_acl(acl)
    return [user for user, rules in users.items() if user and rules == users[gateway]]


def test_every_gateway_account_reads_what_the_gateway_does(compose: Compose) -> None:
    gateway = broker_logins(compose)[0]
    accounts = gateway_accounts(ACL.read_text(), gateway.user)
    assert accounts == ["boomerang-gateway", "boomerang-gateway-2"]
    # The dev stack's second gateway logs in with the first one's password (docs/operations.md).
    assert password_problems(PASSWD.read_text(), [
        BrokerLogin(f"gateway {account}", "mosquitto", account, gateway.password)
        for account in accounts]) == []


def test_a_gateway_account_that_reads_less_is_found() -> None:
    acl = ACL.read_text().replace("user boomerang-gateway-2\ntopic read tags/+/telemetry\n",
                                  "user boomerang-gateway-2\n")
    assert gateway_accounts(acl, "boomerang-gateway") == ["boomerang-gateway"]


def test_mosquitto_readme_adds_a_gateway_with_a_copy_of_its_acl_block() -> None:
    readme = (ROOT / "mosquitto/README.md").read_text()
    snippet = re.search(r"cat >> /mosquitto/config/acl <<'EOF'\n(.*?)\nEOF\n", readme, re.S)
    assert snippet is not None
    acl = ACL.read_text() + snippet[1]
    assert gateway_accounts(acl, "boomerang-gateway")[-1] == "boomerang-gateway-3"


def listeners_lending_client_ids(config: str) -> list[str]:
    """Listeners on which a client may choose its own id. use_username_as_clientid is a listener
    option: each `listener` line needs its own, before the next."""
    problems = []
    listener: str | None = None
    tied = False
    for raw in [*config.splitlines(), "listener (end)"]:
        line = raw.strip()
        if line.startswith("listener "):
            if listener is not None and not tied:
                problems.append(listener)
            listener, tied = line, False
        elif line == "use_username_as_clientid true":
            tied = True
    return problems


@pytest.mark.parametrize("config", BROKER_CONFIGS, ids=lambda path: path.name)
def test_every_listener_makes_the_user_name_the_client_id(config: Path) -> None:
    text = config.read_text()
    assert "listener " in text
    assert listeners_lending_client_ids(text) == []


def test_a_listener_without_user_name_ids_is_found() -> None:
    main, tls = (path.read_text() for path in BROKER_CONFIGS)
    config = main + tls.replace("use_username_as_clientid true", "")
    assert listeners_lending_client_ids(config) == ["listener 8883"]


@pytest.fixture
def regenerated_passwd(tmp_path: Path) -> Path:
    """mosquitto/make-dev-passwd.sh run on a copy, so the committed file stays untouched."""
    require_binary("mosquitto_passwd")
    script = tmp_path / "make-dev-passwd.sh"
    shutil.copy(ROOT / "mosquitto/make-dev-passwd.sh", script)
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=120)
    return tmp_path / "passwd.dev"


def test_make_dev_passwd_recreates_the_committed_accounts(compose: Compose,
                                                          regenerated_passwd: Path) -> None:
    fresh = regenerated_passwd.read_text()
    assert sorted(passwd_users(fresh)) == sorted(passwd_users(PASSWD.read_text()))
    assert password_problems(fresh, broker_logins(compose)) == []


# --- 9. the README says what compose.yaml does ---------------------------------------------


def readme_problems(readme: str, doc: Compose, dashboard_titles: Iterable[str]) -> list[str]:
    """The README's compose section names the dashboards, the Grafana login and the URLs."""
    start = readme.find(README_SECTION)
    if start < 0:
        return [f"no section {README_SECTION!r}"]
    end = readme.find("\n## ", start + 1)
    section = readme[start:] if end < 0 else readme[start:end]
    services = doc["services"]
    grafana = env_of(services["grafana"])
    wanted = [title.removeprefix("Boomerang / ") for title in dashboard_titles]
    wanted += [grafana["GF_SECURITY_ADMIN_USER"], grafana["GF_SECURITY_ADMIN_PASSWORD"],
               "docker compose up", "docker compose down -v"]
    influx = env_of(services["influxdb"])
    wanted += [influx["DOCKER_INFLUXDB_INIT_USERNAME"], influx["DOCKER_INFLUXDB_INIT_PASSWORD"]]
    for name in ("grafana", "gateway", "influxdb"):
        wanted += [f"http://localhost:{host}" for host, _ in ports_of(services[name]) if host]
    return [f"the README's compose section does not mention {text!r}"
            for text in wanted if text not in section]


def dashboard_titles() -> list[str]:
    return [str(json.loads(path.read_text())["title"])
            for path in sorted(DASHBOARD_JSON.glob("*.json"))]


def test_readme_describes_the_stack(compose: Compose) -> None:
    titles = dashboard_titles()
    assert len(titles) == 6
    assert readme_problems(README.read_text(), compose, titles) == []


def test_readme_omissions_are_found(compose: Compose) -> None:
    compose["services"]["grafana"]["ports"] = ["127.0.0.1:3300:3000"]
    readme = README.read_text().replace("Rentals", "Leases")
    assert readme_problems(readme, compose, dashboard_titles()) == [
        "the README's compose section does not mention 'Rentals'",
        "the README's compose section does not mention 'http://localhost:3300'",
    ]


# --- 10. the scale profile: NATS and a cluster of gateways --------------------------------


def profiles_of(service: dict[str, Any]) -> list[str]:
    return [str(profile) for profile in service.get("profiles") or []]


def cluster_gateways(doc: Compose) -> list[str]:
    """The gateways of the scale profile."""
    return [name for name in gateway_services(doc)
            if SCALE in profiles_of(doc["services"][name])]


def nats_problems(doc: Compose) -> list[str]:
    """A NATS service in the scale profile, with JetStream stored in a named volume, and a
    health check that fails while JetStream is not up."""
    service = doc["services"].get(NATS)
    if service is None:
        return [f"no {NATS} service"]
    problems = []
    if profiles_of(service) != [SCALE]:
        problems.append(f"{NATS} is in the profiles {profiles_of(service)}, not [{SCALE!r}]")
    command = service.get("command") or []
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not {"-js", "--jetstream"} & set(argv):
        problems.append(f"{NATS} runs without JetStream (-js): {argv}")
    store = option(argv, "-sd") or option(argv, "--store_dir")
    volumes = {mount.target: mount for mount in mounts_of(service) if not mount.bind}
    if store is None or store not in volumes:
        problems.append(f"{NATS} keeps JetStream's store ({store}) in no named volume")
    check = service.get("healthcheck") or {}
    if not has_healthcheck(service) or "js-enabled-only=true" not in " ".join(
            map(str, check.get("test") or [])):
        problems.append(f"{NATS} has no healthcheck that asks for JetStream")
    return problems


OWN_TO_EACH = ("BOOMERANG_GATEWAY_ID", "API port", "spool volume")
"""What each gateway of the cluster has of its own; it shares the rest of cluster_problems'."""


def cluster_problems(doc: Compose) -> list[str]:
    """The cluster's gateways: real settings, on this NATS and one PostgreSQL state database,
    each its own id, spool and API port, all with one partition count and one broker account
    (one MQTT session, held by the relay)."""
    services = doc["services"]
    names = cluster_gateways(doc)
    if not names:
        return [f"no gateway in the {SCALE} profile"]
    problems = []
    seen: dict[str, dict[str, str]] = {}
    for name in names:
        env = env_of(services[name])
        unknown = unknown_gateway_settings(env)
        problems += [f"{name}: {setting} is no gateway setting" for setting in unknown]
        settings = gateway_settings({k: v for k, v in env.items() if k not in unknown})
        nats = urlsplit(settings.nats_url or "")
        if (nats.hostname, nats.port) != (NATS, 4222):
            problems.append(f"{name} BOOMERANG_NATS_URL is {settings.nats_url!r}, not the "
                            f"{NATS} service's nats://{NATS}:4222")
        spool = [mount.source for mount in mounts_of(services[name])
                 if mount.target == str(settings.data_dir)]
        this = {"BOOMERANG_GATEWAY_ID": settings.gateway_id,
                "BOOMERANG_STATE_URL": settings.state_url,
                "BOOMERANG_PARTITIONS": str(settings.partitions),
                "broker account": settings.mqtt.username or "",
                "API port": ",".join(host or "" for host, _ in ports_of(services[name])),
                "spool volume": ",".join(spool)}
        for what, value in this.items():
            if what in OWN_TO_EACH:
                others = [other for other, theirs in seen.items() if theirs[what] == value]
                if others:
                    problems.append(f"{name} and {others[0]} have the same {what} {value!r}")
            elif seen and value != seen[names[0]][what]:
                problems.append(f"{name} {what} is {value!r}, {names[0]}'s is "
                                f"{seen[names[0]][what]!r}")
        seen[name] = this
    return problems


def profile_dependency_problems(doc: Compose, profile: str) -> list[str]:
    """Each service of `profile` waits for services that are healthy, exist and run under that
    profile (none, or it among their profiles)."""
    services = doc["services"]
    problems = []
    for name, service in services.items():
        if profile not in profiles_of(service):
            continue
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        for target, spec in depends.items():
            if target not in services:
                problems.append(f"{name} depends on {target}, which is no service")
                continue
            theirs = profiles_of(services[target])
            if theirs and profile not in theirs:
                problems.append(f"{name} depends on {target}, which runs only in the profiles "
                                f"{theirs}")
            if (spec or {}).get("condition") != "service_healthy":
                problems.append(f"{name} does not wait for {target} to be healthy")
            elif not has_healthcheck(services[target]):
                problems.append(f"{name} waits for {target} to be healthy; it has no healthcheck")
    return problems


def published_port_clashes(doc: Compose) -> list[str]:
    """Host ports published by two services (the second could not start)."""
    owners: dict[str, str] = {}
    problems = []
    for name, service in doc["services"].items():
        for host, _ in ports_of(service):
            if host is None:
                continue
            if host in owners:
                problems.append(f"{name} and {owners[host]} both publish port {host}")
            owners.setdefault(host, name)
    return problems


def test_nats_runs_jetstream_in_the_scale_profile(compose: Compose) -> None:
    assert nats_problems(compose) == []


def test_nats_problems_are_found(compose: Compose) -> None:
    nats = compose["services"][NATS]
    nats["profiles"] = []
    nats["command"] = ["-sd", "/elsewhere"]
    nats["healthcheck"] = {"disable": True}
    assert nats_problems(compose) == [
        "nats is in the profiles [], not ['scale']",
        "nats runs without JetStream (-js): ['-sd', '/elsewhere']",
        "nats keeps JetStream's store (/elsewhere) in no named volume",
        "nats has no healthcheck that asks for JetStream",
    ]
    del compose["services"][NATS]
    assert nats_problems(compose) == ["no nats service"]


def test_three_gateways_share_the_fleet(compose: Compose) -> None:
    assert cluster_gateways(compose) == list(CLUSTER)
    ids = [env_of(compose["services"][name])["BOOMERANG_GATEWAY_ID"] for name in CLUSTER]
    assert ids == list(CLUSTER)
    state_urls = {env_of(compose["services"][name])["BOOMERANG_STATE_URL"]
                  for name in (*CLUSTER, "gateway")}
    assert len(state_urls) == 1
    assert cluster_problems(compose) == []


def test_cluster_problems_are_found(compose: Compose) -> None:
    first, second, third = (compose["services"][name] for name in CLUSTER)
    second["environment"]["BOOMERANG_GATEWAY_ID"] = "gateway-1"
    second["environment"]["BOOMERANG_PARTITIONS"] = "8"
    second["ports"] = list(first["ports"])
    third["environment"]["BOOMERANG_STATE_URL"] = (
        "postgresql://boomerang:boomerang-dev-postgres@postgres:5432/other")
    third["environment"]["BOOMERANG_NATS_URL"] = "nats://localhost:4222"
    third["environment"]["BOOMERANG_MQTT_URL"] = (
        "mqtt://boomerang-gateway:boomerang-dev@mosquitto:1883")
    third["environment"]["BOOMERANG_PARTITION"] = "3"
    third["volumes"] = ["gateway-1-data:/data"]
    assert cluster_problems(compose) == [
        "gateway-2 and gateway-1 have the same BOOMERANG_GATEWAY_ID 'gateway-1'",
        "gateway-2 BOOMERANG_PARTITIONS is '8', gateway-1's is '16'",
        "gateway-2 and gateway-1 have the same API port '8081'",
        "gateway-3: BOOMERANG_PARTITION is no gateway setting",
        "gateway-3 BOOMERANG_NATS_URL is 'nats://localhost:4222', not the nats service's "
        "nats://nats:4222",
        "gateway-3 BOOMERANG_STATE_URL is "
        "'postgresql://boomerang:boomerang-dev-postgres@postgres:5432/other', gateway-1's is "
        "'postgresql://boomerang:boomerang-dev-postgres@postgres:5432/boomerang'",
        "gateway-3 broker account is 'boomerang-gateway', gateway-1's is 'boomerang-gateway-2'",
        "gateway-3 and gateway-1 have the same spool volume 'gateway-1-data'",
    ]
    for name in CLUSTER:
        compose["services"][name]["profiles"] = []
    assert cluster_problems(compose) == ["no gateway in the scale profile"]


def test_the_scale_profile_waits_for_healthy_services_that_run(compose: Compose) -> None:
    assert missing_start_order(compose, SCALE_START_ORDER) == []
    assert profile_dependency_problems(compose, SCALE) == []
    assert published_port_clashes(compose) == []


def test_scale_dependency_problems_are_found(compose: Compose) -> None:
    services = compose["services"]
    services["grafana"]["profiles"] = ["dashboards"]
    first, second, third = (services[name] for name in CLUSTER)
    first["depends_on"]["grafana"] = {"condition": "service_healthy"}
    second["depends_on"]["nats"]["condition"] = "service_started"
    third["depends_on"]["broker"] = third["depends_on"].pop("mosquitto")
    del services[NATS]["healthcheck"]
    assert profile_dependency_problems(compose, SCALE) == [
        "gateway-1 waits for nats to be healthy; it has no healthcheck",
        "gateway-1 depends on grafana, which runs only in the profiles ['dashboards']",
        "gateway-2 does not wait for nats to be healthy",
        "gateway-3 waits for nats to be healthy; it has no healthcheck",
        "gateway-3 depends on broker, which is no service",
    ]
    assert missing_start_order(compose, SCALE_START_ORDER) == [
        "gateway-2 does not wait for nats to be healthy",
        "gateway-3 does not wait for mosquitto to be healthy",
    ]


def test_a_published_port_clash_is_found(compose: Compose) -> None:
    compose["services"]["gateway-3"]["ports"] = ["127.0.0.1:8080:8080"]
    assert published_port_clashes(compose) == [
        "gateway-3 and gateway both publish port 8080"]
