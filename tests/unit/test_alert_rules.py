"""The alert rules of deploy/prometheus: valid, and each fires when it should (promtool).

promtool comes from Debian's `prometheus` package: used from PATH, else installed here with
apt-get when the harness runs as root (as CI does); a machine with neither fails, not skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "timeout": 600}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
        if subprocess.run(install, env=env, check=False, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update", "-q"], env=env, check=True, **quiet)  # type: ignore[call-overload]
            subprocess.run(install, env=env, check=True, **quiet)  # type: ignore[call-overload]
        found = shutil.which("promtool")
    assert found, "promtool is needed: apt-get install prometheus (Debian)"
    return found


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_and_the_prometheus_config_are_valid(promtool: str) -> None:
    checked = _run(promtool, "check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "10 rules found" in checked.stdout


def test_each_rule_fires_in_its_case_and_none_in_a_healthy_deployment(promtool: str) -> None:
    tested = _run(promtool, "test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = {
        r["alert"]
        for g in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    cases = yaml.safe_load((RULES / "alerts.test.yml").read_text())["tests"]
    healthy = cases[0]
    assert {t["alertname"] for t in healthy["alert_rule_test"]} == rules
    assert all(t["exp_alerts"] == [] for t in healthy["alert_rule_test"])
    firing = {
        t["alertname"] for case in cases[1:] for t in case["alert_rule_test"] if t["exp_alerts"]
    }
    assert firing == rules, f"rules without a firing case: {rules - firing}"
