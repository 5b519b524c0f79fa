"""What every command shares: the console, the settings checked before any work starts,
and the parsing of ids and instants given as options."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import typer
from pydantic import ValidationError
from rich.console import Console

from ..config import Settings
from ..domain.streams import ID_PATTERN
from ..logs import configure

console = Console(stderr=True)

DATABASE = ("database_url", "it names the Postgres database (or use `stockledger dev`)")
REDIS = ("redis_url", "the Redis projection lives there")
KAFKA = ("kafka_bootstrap_servers", "events travel through Kafka")
WHEN = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]  # a UTC date or an instant


def load_settings(*needs: tuple[str, str]) -> Settings:
    """The settings from the environment, checked before any work starts: a malformed one, or
    one this command needs that is not set, is one line naming the variable, and exit 2."""
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors(include_url=False, include_input=False):
            field = str(problem["loc"][0]) if problem["loc"] else ""
            console.print(
                f"[red]{variable(field)} is malformed[/red]: {problem['msg']}", soft_wrap=True
            )
        raise typer.Exit(2) from None
    for field, why in needs:
        if not getattr(settings, field):
            missing(variable(field), why)
    configure(settings.log_level, settings.log_json)
    return settings


def variable(field: str) -> str:
    return f"STOCKLEDGER_{field.upper()}"


def missing(variable: str, why: str) -> None:
    console.print(f"[red]{variable} is not set[/red]: {why}", soft_wrap=True)
    raise typer.Exit(2)


def utc_if_naive(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def check_ids(**given: str | None) -> None:
    """BadParameter (exit 2) for an option value that is not an id; keyword = option name."""
    for name, value in given.items():
        if value is not None and not re.fullmatch(ID_PATTERN, value):
            raise typer.BadParameter(
                f"{value!r} is not an id ({ID_PATTERN})", param_hint=f"--{name}"
            )


def as_utc(moment: datetime) -> datetime:
    """A typer datetime in UTC: a date or an instant without offset is UTC, as in the API."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
