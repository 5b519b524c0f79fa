"""A scenario's outcome, printed and appended to bench/results.md (one table for every run)."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
_NOT_RESULTS = f":(exclude,top)bench/{RESULTS.name}"  # a git pathspec
HEADER = (
    "| date (UTC) | machine | commit | scenario | figure | ceiling (same run) | ratio | goal | "
    "met |\n|---|---|---|---|---|---|---|---|---|\n"
)


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str  # "P1 reserve over HTTP, 1,000 SKUs x 3 warehouses, 64 clients, 20 s"
    figure: str  # "3,412 reservations/s, p99 31 ms"
    ceiling: str  # "2,150 inserts/s (one-INSERT POST)" or "-"
    ratio: float | None  # figure / ceiling, or None where no ceiling exists
    goal: str  # ">= 3,000/s, >= 1.5x, p99 <= 50 ms"
    met: bool | None  # None: a figure for context, with no goal


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS.parent,
        )
        dirty = subprocess.run(
            # results.md itself does not make a run dirty (it changes with every row)
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", _NOT_RESULTS],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS.parent,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(result: Result) -> str:
    """Append one row to bench/results.md and return it."""
    ratio = "-" if result.ratio is None else f"{result.ratio:.2f}x"
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {machine()} | {commit()} | {result.scenario} | "
        f"{result.figure} | {result.ceiling} | {ratio} | {result.goal} | "
        f"{'-' if result.met is None else 'yes' if result.met else 'NO'} |\n"
    )
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppended by `stockledger bench`; newest last.\n\n" + HEADER
        )
    with RESULTS.open("a") as out:
        out.write(row)
    return row
