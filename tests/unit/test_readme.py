"""The README documents every setting, and its test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from stockledger.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    table = README[README.index("## Configuration") : README.index("## The event pipeline")]
    documented = set(re.findall(r"STOCKLEDGER_([A-Z_]+)", table))
    for first, suffix in re.findall(r"STOCKLEDGER_([A-Z_]+)` / `_([A-Z_]+)`", table):
        documented.add(first.rsplit("_", 1)[0] + "_" + suffix)  # `.._SECONDS` / `_EVENTS`
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"README lacks {sorted(missing)}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = re.search(r"```sh\n(python3 -m venv \.venv && [^\n]*pytest)\n```", README)
    assert command is not None
    assert command.group(1) in (ROOT / ".ci" / "run").read_text()
