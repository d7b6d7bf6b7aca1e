"""What an hourly cycle's syncs import in outbox mode: no pandas, no pyarrow.dataset or acero.

pyarrow imports pandas the first time it builds an array from Python values (its shim asks whether the values
are a pandas object), and an expression filter imports pyarrow.dataset and acero: ~0.3 s and ~0.15 s of the
first sync of every cycle. The syncs build their Arrow tables through DuckDB (reverse_etl/columns.py) and
filter with masks. Planting the marts may import anything: it runs in a process of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PLANT = """
import sys
from datetime import timedelta
from pathlib import Path
from reverse_etl.connection import connect
from tests.reverse_etl.slack_support import alert_row, plant_alerts
from tests.servers import customerio_warehouse as cio, hubspot_warehouse as hs
home = Path(sys.argv[1])
cio.plant(home / "customerio.duckdb", people=[cio.person(1), cio.person(2)],
          triggers=[cio.trigger(1), cio.trigger(1, person_id="teammate_of_1", trigger_id="trg_teammate")])
hs.plant(home / "hubspot.duckdb", [hs.account(i) for i in range(3)])
hs.plant_tasks(home / "hubspot.duckdb", [hs.task(0, "kickoff", 1)])
with connect(home / "slack.duckdb") as con:
    plant_alerts(con, [alert_row(1, cio.BASE, priority="P0"), alert_row(2, cio.BASE, priority="FYI")])
"""

SYNC = """
import sys
from datetime import timedelta
from pathlib import Path
from reverse_etl.connection import connect
from reverse_etl.customerio import CustomerIOSettings, sync_customerio
from reverse_etl.hubspot import HubSpotSettings, sync_hubspot
from reverse_etl.slack import run_slack_cycle
from reverse_etl.slack.settings import SlackSettings
from tests.servers.customerio_warehouse import BASE
home = Path(sys.argv[1])
cio = sync_customerio(CustomerIOSettings(outbox_dir=home / "outbox"), as_of=BASE, warehouse_path=home / "customerio.duckdb")
assert (cio.sent, cio.not_primary_contact) == (3, 1), cio
hs = sync_hubspot(HubSpotSettings(outbox_dir=home / "outbox"), as_of=BASE, warehouse_path=home / "hubspot.duckdb")
assert hs.sent == 11, hs
slack = run_slack_cycle(lambda: connect(home / "slack.duckdb"), BASE + timedelta(hours=9),
                        SlackSettings(outbox_dir=home / "outbox"))
assert slack["delivery"]["written_local"] == 2, slack
print(sorted(m for m in ("pandas", "pyarrow.dataset", "pyarrow.acero") if m in sys.modules))
"""


def test_the_three_syncs_in_outbox_mode_import_no_pandas_and_no_pyarrow_dataset(tmp_path: Path) -> None:
    for script in (PLANT, SYNC):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                              check=False, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
