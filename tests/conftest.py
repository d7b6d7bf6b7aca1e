"""Session-wide isolation and the one generated demo workspace shared by the end-to-end tests.

Every variable of the contract is pointed into a temporary folder before any project module is
imported, so the suite never touches ./data and never shares dbt's target/ with `dagster dev`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="onboarding-tests-"))
_CONTRACT_VARS = (
    "ONBOARDING_HOME", "ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR", "CUSTOMERIO_SITE_ID",
    "CUSTOMERIO_API_KEY", "CUSTOMERIO_TRACK_HOST", "SLACK_BOT_TOKEN", "SLACK_API_URL", "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL", "DAGSTER_HOME", "HUBSPOT_ACCESS_TOKEN", "HUBSPOT_API_URL",
    # A developer's shell choosing Spark or a memory cap must not switch the whole suite.
    "ONBOARDING_ENGINE", "ONBOARDING_DUCKDB_MEMORY",
)
for _name in _CONTRACT_VARS:
    os.environ.pop(_name, None)
os.environ["ONBOARDING_HOME"] = str(_SESSION_ROOT / "default-home")
os.environ["ONBOARDING_DBT_TARGET"] = str(_SESSION_ROOT / "dbt-target")
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
os.environ["DAGSTER_DISABLE_TELEMETRY"] = "1"

# The code location reads a prepared manifest and never parses at import: prepare this session's
# (one `dbt parse` of the files under test, as `make install` does for a checkout).
from dagster_project.lib.dbt import prepare  # noqa: E402

prepare()
