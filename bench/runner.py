"""`stockledger bench [SCENARIO...]`: runs the registered scenarios in order."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.console import Console

from .results import Result, record

Scenario = Callable[["Context"], Awaitable[list[Result]]]
SCENARIOS: dict[str, tuple[str, Scenario]] = {}


@dataclass
class Context:
    """What a scenario may use; `quick` shrinks sizes and durations (for a smoke run)."""

    console: Console
    quick: bool = False


def scenario(name: str, title: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario under its id (P1, P2, ..., M1)."""

    def register(run: Scenario) -> Scenario:
        SCENARIOS[name.upper()] = (title, run)
        return run

    return register


def discover() -> None:
    from . import scenarios

    for module in pkgutil.iter_modules(scenarios.__path__):
        importlib.import_module(f"{scenarios.__name__}.{module.name}")


async def run(names: list[str], context: Context) -> list[Result]:
    discover()
    chosen = [n.upper() for n in names] or sorted(SCENARIOS)
    unknown = [n for n in chosen if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(sorted(SCENARIOS))}")
    results: list[Result] = []
    for name in chosen:
        title, scenario_run = SCENARIOS[name]
        context.console.rule(f"{name}: {title}")
        for result in await scenario_run(context):
            context.console.print(record(result), end="")
            results.append(result)
    return results


def main(names: list[str], quick: bool = False) -> None:
    asyncio.run(run(names, Context(Console(), quick)))
