"""Event names as every rule reads them: normalised, then mapped through the analysts' alias seed.

The data-quality pass runs before dbt, so it cannot read the seed as a dbt relation; it reads the same
file, `dbt_project/seeds/event_aliases.csv` (`alias,event_name`, alias written in normalised form), and
applies exactly the rule dbt staging applies (one rule, two engines; see README "Landing"):

    regexp_replace(lower(trim(event)), '[\\s_-]+', '_', 'g')   -- `Signup Completed` -> signup_completed

then `event_name` of the alias row whose `alias` equals that, if any. `raw` keeps the name as sent; the
suites, the drift checks and the stored profiles see only the mapped name, so `Signup Completed` is
validated by `expectations/signup_completed.json` and counted with `signup_completed`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from dagster_project.lib import config

ALIASES = "_quality_event_aliases"
MACRO = "quality_event_name"
_NORMALISE = r"regexp_replace(lower(trim({e})), '[\s_-]+', '_', 'g')"


def normalise_sql(expression: str) -> str:
    """The shared normalisation of an event name, as SQL over `expression`."""
    return _NORMALISE.format(e=expression)


def aliases_path() -> Path:
    return config.project_root() / "dbt_project" / "seeds" / "event_aliases.csv"


def load_aliases(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> int:
    """Create the temp alias table and the `quality_event_name(e)` macro; returns how many aliases.

    A missing file means no aliases. A file without the two columns, or with one alias mapped twice,
    is refused in one line naming the file: a silent half-read seed would misname events.
    """
    source = path or aliases_path()
    con.execute(f"create or replace temp table {ALIASES} (alias varchar primary key, event_name varchar not null)")
    if source.exists():
        cursor = con.execute("select * from read_csv(?, header = true, all_varchar = true) limit 0", [str(source)])
        columns = [d[0] for d in cursor.description]
        if "alias" not in columns or "event_name" not in columns:
            raise ValueError(f"{source}: an alias seed needs the columns alias,event_name (found {','.join(columns)})")
        try:
            con.execute(
                f"""
                insert into {ALIASES}
                select trim(alias), trim(event_name) from read_csv(?, header = true, all_varchar = true)
                where nullif(trim(alias), '') is not null and nullif(trim(event_name), '') is not null
                """,
                [str(source)],
            )
        except duckdb.ConstraintException as exc:
            raise ValueError(f"{source}: an alias is mapped more than once") from exc
    norm = normalise_sql("e")
    con.execute(
        f"create or replace temp macro {MACRO}(e) as "
        f"coalesce((select a.event_name from {ALIASES} as a where a.alias = {norm}), {norm})"
    )
    return int(con.execute(f"select count(*) from {ALIASES}").fetchone()[0])


def signup_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every name as sent that the name rule maps to `signup_completed` (the rule runs once per name)."""
    return [r[0] for r in con.execute(
        f"""
        select raw_event from (select distinct event as raw_event from raw.segment_messages where type = 'track')
        where raw_event is not null and {MACRO}(raw_event) = 'signup_completed'
        order by raw_event
        """
    ).fetchall()]
