"""The README's configuration table lists every environment variable the code declares, with its default.

Each variable is declared once, as an `Env` (dagster_project/lib/settings.py), in the module or resource
that owns it; this test imports every module of the code location, collects the declarations and compares
them with the table under "## Configuration" in README.md. After adding a variable, print the table with

    .venv/bin/python -m tests.test_configuration_table

and paste it (the variables read by a library rather than by this code stay as they are).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import dagster_project
from dagster_project.lib.settings import Env

ROOT = Path(__file__).resolve().parents[1]
# Read by a library itself, not by this code: listed in the README, never declared here.
READ_BY_LIBRARIES = {"ANTHROPIC_BASE_URL": "the anthropic SDK", "DAGSTER_HOME": "Dagster"}


def declared() -> dict[str, Env]:
    found: dict[str, Env] = {}

    def add(env: Env, where: str) -> None:
        other = found.setdefault(env.variable, env)
        assert other == env, f"{env.variable} is declared twice, differently ({where})"

    for info in pkgutil.walk_packages(dagster_project.__path__, "dagster_project."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, Env):
                add(value, f"{info.name}.{name}")
            elif isinstance(value, type) and value.__module__ == info.name:
                for env in (getattr(value, "ENV", None) or {}).values():
                    add(env, f"{info.name}.{name}.ENV")
    return found


def readme_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([A-Z][A-Z0-9_]+)` \| (.*?) \| (.*) \|$", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice"
            rows[match.group(1)] = match.group(2)
    return rows


def render_table(envs: dict[str, Env]) -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable in sorted(envs, key=_order):
        env = envs[variable]
        lines.append(f"| `{variable}` | {env.documented_default()} | {env.meaning} |")
    return "\n".join(lines)


def _order(variable: str) -> tuple[int, str]:
    prefixes = ["ONBOARDING_HOME", "ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR", "CUSTOMERIO_", "SLACK_",
                "ONBOARDING_DIGEST_HOUR", "HUBSPOT_", "ANTHROPIC_", "ONBOARDING_LLM_", "ONBOARDING_SEGMENTATION_",
                "ONBOARDING_ENRICHMENT_", "ONBOARDING_QUALITY_", "ONBOARDING_"]
    return next(i for i, p in enumerate([*prefixes, ""]) if variable.startswith(p)), variable


def test_the_readme_lists_every_declared_variable_with_its_default() -> None:
    envs = declared()
    table = readme_table()
    assert sorted(set(envs) - set(table)) == [], "declared but not in the README table"
    assert sorted(set(table) - set(envs) - set(READ_BY_LIBRARIES)) == [], "in the README table, declared nowhere"
    wrong = {v: (table[v], e.documented_default()) for v, e in envs.items() if table[v] != e.documented_default()}
    assert wrong == {}, "README default differs from the declaration: (README, code)"


def test_the_contract_variables_are_all_declared() -> None:
    contract = {"ONBOARDING_HOME", "ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR", "CUSTOMERIO_SITE_ID",
                "CUSTOMERIO_API_KEY", "CUSTOMERIO_REGION", "CUSTOMERIO_TRACK_HOST", "SLACK_BOT_TOKEN", "SLACK_API_URL",
                "SLACK_CHANNEL_ALERTS", "SLACK_CHANNEL_DIGEST", "SLACK_CHANNEL_DATA", "HUBSPOT_ACCESS_TOKEN",
                "HUBSPOT_API_URL", "ANTHROPIC_API_KEY", "ONBOARDING_LLM_MODEL", "ONBOARDING_DIGEST_HOUR"}
    assert contract - set(declared()) == set()


def test_reverse_etl_reads_no_environment() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "reverse_etl").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"os\.environ|os\.getenv|getenv\(|EnvVar", line)
    ]
    assert offenders == []


if __name__ == "__main__":
    print(render_table(declared()))
