"""A command checks the settings it needs before it starts work: a missing or malformed one is
one line naming the variable, exit code 2, never a traceback (and never the secret itself)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

DATABASE = {"STOCKLEDGER_DATABASE_URL": "postgresql://127.0.0.1:1/never-reached"}


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STOCKLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "stockledger.cli", *args],
        env={**clean, **env, "COLUMNS": "60"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "variable"),
    [
        (("replay",), DATABASE, "STOCKLEDGER_REDIS_URL is not set"),
        (("replay", "--projection", "redis"), DATABASE, "STOCKLEDGER_REDIS_URL is not set"),
        (("relay",), DATABASE, "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS is not set"),
        (("project",), DATABASE, "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS is not set"),
        (("migrate",), {}, "STOCKLEDGER_DATABASE_URL is not set"),
        (("verify",), {}, "STOCKLEDGER_DATABASE_URL is not set"),
        (("serve",), {}, "STOCKLEDGER_DATABASE_URL is not set"),
        (("serve",), {**DATABASE, "STOCKLEDGER_PORT": "eighty"}, "STOCKLEDGER_PORT is malformed"),
        (
            ("serve",),
            {**DATABASE, "STOCKLEDGER_KAFKA_COMMAND_TOPIC": "inventory.commands"},
            "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS is not set",
        ),
    ],
)
def test_a_missing_or_malformed_setting_is_one_line_and_exit_2(
    args: tuple[str, ...], env: dict[str, str], variable: str
) -> None:
    result = run(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(variable)


def test_a_malformed_api_key_list_names_the_variable_but_not_the_key() -> None:
    result = run("serve", env={**DATABASE, "STOCKLEDGER_API_KEYS": "supersecretvalue"})
    assert result.returncode == 2
    assert result.stderr.startswith("STOCKLEDGER_API_KEYS is malformed")
    assert "supersecretvalue" not in result.stderr
    assert "Traceback" not in result.stderr


def test_every_setting_reaches_a_worker_process_through_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --workers N`: each worker builds Settings() from the environment it inherits;
    what `dev` or the command line changed (keys, port, flags, the audit secret) must arrive."""
    from pydantic import SecretStr

    from stockledger.config import Settings

    given = Settings(
        database_url="postgresql://127.0.0.1:5999/shop",
        api_keys="k1:ops:warehouse,k2:shop:orders",
        port=8123,
        run_relay=False,
        log_json=False,
        audit_key=SecretStr("not-the-default"),
        expiry_interval_seconds=0.25,
    )
    for name in list(os.environ):
        if name.startswith("STOCKLEDGER_"):
            monkeypatch.delenv(name)
    for name, value in given.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == given
