"""connection.concurrently: the syncs' diffs side by side, each on its own cursor, with the caller's answers."""

from __future__ import annotations

from pathlib import Path

from reverse_etl import connection


def test_concurrent_reads_hash_in_the_callers_time_zone_and_answer_what_sequential_reads_answer(
    tmp_path: Path,
) -> None:
    """A cursor is a connection of its own: without the caller's TimeZone a timestamp's text, and so every
    row hash of the diffs (md5 over to_json), would change."""
    with connection.connect(tmp_path / "warehouse.duckdb") as con:
        con.execute("create table t as select i, timestamptz '2026-01-01 00:00:00+00' + i * interval 1 hour as ts "
                    "from range(2000) r(i)").fetchall()
        con.execute("set TimeZone = 'America/New_York'").fetchall()

        def hashes(c):  # type: ignore[no-untyped-def]
            return c.execute("select i, md5(to_json(struct_pack(i := i, ts := ts))::varchar) from t order by i").fetchall()

        def text(c):  # type: ignore[no-untyped-def]
            return c.execute("select ts::varchar from t where i = 0").fetchall()

        direct = {"hashes": hashes(con), "text": text(con)}
        side_by_side = connection.concurrently(con, {"hashes": hashes, "text": text})
    assert side_by_side == direct and direct["text"] == [("2025-12-31 19:00:00-05",)]
    assert list(side_by_side) == ["hashes", "text"]
