"""Dockerfile, docker-compose.yml and .env.example checked against the code: no drift."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path
from typing import Any

import typer
import yaml

from stockledger import tracing
from stockledger.cli import app
from stockledger.config import Settings
from stockledger.store import db

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {f"STOCKLEDGER_{name.upper()}": field for name, field in Settings.model_fields.items()}
VARIABLE = re.compile(r"STOCKLEDGER_[A-Z0-9_]+")
APP_SERVICES = {"migrate", "api"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def dockerfile() -> list[str]:
    """Instructions, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {key.strip(): value for key, value in pairs}


def test_compose_runs_exactly_the_stack() -> None:
    services = compose()["services"]
    assert (
        set(services)
        == {
            "postgres",
            "postgres-standby",
            "redis",
            "kafka",
            "prometheus",
            "grafana",
            "jaeger",
        }
        | APP_SERVICES
    )
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["postgres-standby"]["image"] == services["postgres"]["image"]
    assert services["redis"]["image"].startswith("redis:7")
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert {name: services[name]["command"] for name in APP_SERVICES} == {
        "migrate": ["migrate"],
        "api": ["serve"],  # background roles are elected: one replica leads each
    }
    assert "kafka-data:/var/lib/kafka/data" in str(services["kafka"]["volumes"])
    for name in APP_SERVICES:
        assert (services[name]["build"], services[name]["image"]) == (".", "stockledger:latest")


def test_compose_commands_are_cli_commands() -> None:
    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    for name in APP_SERVICES:
        command, *options = compose()["services"][name]["command"]
        assert command in commands, f"{name}: no `stockledger {command}`"
        known = {o for p in commands[command].params for o in (*p.opts, *p.secondary_opts)}
        assert set(options) <= known, f"{name}: unknown options {set(options) - known}"


def test_compose_waits_for_what_each_service_needs() -> None:
    services = compose()["services"]
    for name in ("postgres", "postgres-standby", "redis", "kafka", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "/health" in str(services["api"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "postgres-standby": {"condition": "service_healthy"},  # the primary's commits wait for it
    }
    for name in APP_SERVICES - {"migrate"}:
        needs = services[name]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}, name
        for other, condition in needs.items():
            if condition["condition"] == "service_healthy":
                assert services[other]["healthcheck"].get("test"), f"{name} waits on {other}"
    assert {"kafka", "redis"} <= set(services["api"]["depends_on"])


def test_compose_runs_a_synchronous_hot_standby_and_follows_a_failover() -> None:
    """A primary that waits for its standby (nothing acknowledged lost in a failover), the
    standby streaming from it and serving reads, and stockledger given both hosts."""
    loaded = compose()
    services, configs = loaded["services"], loaded["configs"]
    primary, standby = services["postgres"], services["postgres-standby"]
    # The primary: a replication role, its pg_hba line, and the standby it waits for, set in
    # its own data directory at first initialisation (not on the command line the init
    # scripts' temporary server also gets: its commits would wait for a standby not yet there).
    init = {c["source"]: c["target"] for c in primary["configs"]}
    assert init["replication"].startswith("/docker-entrypoint-initdb.d/")
    assert init["replication"].endswith(".sh")
    setup = configs["replication"]["content"]
    assert "CREATE ROLE replicator REPLICATION LOGIN" in setup
    assert "ALTER SYSTEM SET synchronous_standby_names = 'standby'" in setup
    assert "host replication replicator" in setup
    assert "synchronous_standby_names" not in str(primary["command"])
    # The standby: a base backup on an empty volume, streaming as `standby`, a hot standby
    # whose copy of the primary's setting is cleared (promoted, it would wait for itself).
    assert standby["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert standby["entrypoint"][-1] == standby["configs"][0]["target"]
    assert standby["configs"][0]["source"] == "standby-entrypoint"
    entry = configs["standby-entrypoint"]["content"]
    assert "pg_basebackup -h postgres -U replicator" in entry
    assert "-X stream" in entry
    assert "application_name=standby" in entry
    assert "synchronous_standby_names = ''" in entry
    assert "hot_standby_feedback = on" in entry
    assert "standby.signal" in entry
    assert "PG_VERSION" in entry, "a base backup only on an empty volume"
    assert "postgres-standby-data:/var/lib/postgresql/data" in standby["volumes"]
    assert "postgres-standby-data" in loaded["volumes"]
    assert "$$" in entry, "shell variables escaped from compose's interpolation"
    assert "${" not in entry.replace("$${", ""), "no compose variable in the script itself"
    for script in (setup, entry):  # what the container runs, once compose has unescaped `$$`
        checked = subprocess.run(
            ["bash", "-n"], input=script.replace("$$", "$").encode(), capture_output=True
        )
        assert checked.returncode == 0, checked.stderr.decode()
    # stockledger: both hosts for writes (the one that takes them is chosen), the standby
    # for the replica reads; the api starts once both are up.
    for name in APP_SERVICES:
        url = services[name]["environment"]["STOCKLEDGER_DATABASE_URL"]
        assert re.search(r"@postgres:5432,postgres-standby:5432/stockledger\?", url), name
        assert url.endswith("?target_session_attrs=read-write"), name
    read = services["api"]["environment"]["STOCKLEDGER_READ_DATABASE_URL"]
    assert re.search(r"@postgres-standby:5432/stockledger$", read)
    assert "stockledger_app:" in read, "the replica reads as the application's role"
    assert services["api"]["depends_on"]["postgres-standby"] == {"condition": "service_healthy"}


def test_api_scales_without_a_fixed_host_port() -> None:
    ports = compose()["services"]["api"].get("ports", [])
    assert all(":" not in str(port) for port in ports), "`--scale api=3` needs no fixed host port"


def test_the_api_sends_its_traces_to_jaeger() -> None:
    """Tracing is on in the stack (README, "Tracing"): OTLP/HTTP to Jaeger, sampled at 10%."""
    services = compose()["services"]
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert all(str(port).startswith("127.0.0.1:") for port in jaeger["ports"])
    env = services["api"]["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_TRACES_SAMPLER"].endswith(":-parentbased_traceidratio}")
    assert env["OTEL_TRACES_SAMPLER_ARG"].endswith(":-0.1}")
    assert "jaeger" in services["api"]["depends_on"]
    assert tracing.wanted({k: str(v) for k, v in env.items()})
    install = next(line for line in dockerfile() if "/opt/venv/bin/pip install" in line)
    assert "[tracing]" in install, "the image carries the tracing extra"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "opentelemetry-sdk" in str(extras["optional-dependencies"]["tracing"])


def test_compose_uses_only_settings_with_their_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(VARIABLE.findall(text))
    assert used <= set(SETTINGS), f"not Settings fields: {sorted(used - set(SETTINGS))}"
    for name in APP_SERVICES:
        env = compose()["services"][name]["environment"]
        assert {k for k in env if not k.startswith("OTEL_")} <= set(SETTINGS), name
    for name, default in re.findall(r"\$\{(STOCKLEDGER_[A-Z0-9_]+):-([^}]*)\}", text):
        expected = SETTINGS[name].default
        shown = str(expected).lower() if isinstance(expected, bool) else str(expected)
        assert default == shown, f"{name}: compose default {default!r}, Settings {shown!r}"


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    listed = set(env_example())
    assert listed == set(SETTINGS), (
        f"missing: {sorted(set(SETTINGS) - listed)}, unknown: {sorted(listed - set(SETTINGS))}"
    )
    mentioned = set(VARIABLE.findall((ROOT / ".env.example").read_text()))
    assert mentioned <= set(SETTINGS)


def test_dockerfile_builds_a_slim_non_root_image_that_serves() -> None:
    lines = dockerfile()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage build"
    assert " AS builder" in stages[0]
    assert stages[-1].startswith("FROM python:3.11-slim")
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "sets a USER"
    assert users[-1] not in ("root", "0"), "runs as a non-root user"
    healthcheck = next(line for line in lines if line.startswith("HEALTHCHECK "))
    assert "/health" in healthcheck
    assert "curl" not in healthcheck
    assert 'ENTRYPOINT ["stockledger"]' in lines
    assert 'CMD ["serve"]' in lines
    assert "EXPOSE 8000" in lines
    assert any(line.startswith("ENV ") and "STOCKLEDGER_HOST=0.0.0.0" in line for line in lines)
    used = set(VARIABLE.findall((ROOT / "Dockerfile").read_text()))
    assert used <= set(SETTINGS)


def test_the_image_installs_the_wheel_and_copies_nothing_beside_it() -> None:
    """The migrations travel in the wheel: nothing is copied into the venv by hand."""
    copies = [line for line in dockerfile() if line.startswith("COPY ")]
    assert not [line for line in copies if "/opt/venv" in line and "--from=builder" not in line]
    assert not [line for line in copies if "migrations" in line or "alembic.ini" in line]


def test_the_package_carries_its_alembic_environment() -> None:
    """`stockledger migrate` finds the environment as package data, wherever it is installed."""
    found = resources.files("stockledger") / "migrations"
    assert Path(str(found)) == db.MIGRATIONS
    assert {"env.py", "script.py.mako", "versions"} <= {x.name for x in found.iterdir()}
    assert db.head_revisions(), "alembic reads the revisions there"


def test_the_wheel_takes_every_file_of_the_alembic_environment() -> None:
    """Its folders are packages without __init__.py (namespace discovery) and every file that
    is not Python is listed as package data, so the built wheel holds all of it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"].get("namespaces", True)
    data = setuptools["package-data"]["stockledger.migrations"]
    files = [
        path.relative_to(db.MIGRATIONS).as_posix()
        for path in db.MIGRATIONS.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert "env.py" in files
    left_out = [f for f in files if not f.endswith(".py") and not any(fnmatch(f, g) for g in data)]
    assert left_out == []


def test_prometheus_loads_the_rules_and_scrapes_the_api() -> None:
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    (scrape,) = config["scrape_configs"]
    assert scrape["dns_sd_configs"][0]["names"] == ["api"]
    assert scrape["dns_sd_configs"][0]["port"] == services["api"]["environment"]["STOCKLEDGER_PORT"]


def test_the_dashboard_charts_only_metrics_the_code_exports() -> None:
    from stockledger import metrics

    exported = {
        name
        for value in vars(metrics).values()
        if (name := getattr(value, "_name", None)) and str(name).startswith("stockledger_")
    }
    dashboard = json.loads((ROOT / "deploy/grafana/stockledger.json").read_text())
    charted = {
        name.removesuffix("_bucket").removesuffix("_count").removesuffix("_total")
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"stockledger_[a-z_]+", target["expr"])
    }
    assert charted, "the dashboard charts something"
    assert charted <= {n.removesuffix("_total") for n in exported}, charted - exported
