"""The landing's shortcuts around trim (a line starting with `{`, a value starting with a printable
ASCII character) decide exactly what the plain expressions decide, on the values where they differ
most: spaces DuckDB's trim removes (Unicode ones too) and whitespace it keeps (tabs, newlines)."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.defs.landing import load as landing

VALUES = [
    None,
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    " \t ",
    "\u00a0",
    "\u3000",
    "\u2003 ",
    "\x00",
    "\x7f",
    "~",
    "!",
    "x",
    " x",
    "\tx",
    "\u00a0x",
    "é",
    "{",
    " {",
    "\t{",
    "\n{",
    "\u00a0{",
    "[1]",
    '{"a": 1}',
    "  {}",
]


@pytest.mark.parametrize("value", VALUES)
def test_the_blank_shortcut_agrees_with_trim(value):
    con = duckdb.connect()
    plain, fast = con.execute(
        f"select v is null or trim(v) = '', {landing._blank('v')} from (select ?::varchar as v)", [value]
    ).fetchone()
    assert fast == plain


@pytest.mark.parametrize("value", VALUES)
def test_the_line_shortcuts_agree_with_trim_and_ltrim(value):
    con = duckdb.connect()
    row = con.execute(
        """
        select
            line is null or trim(line) = '',
            case when starts_with(line, '{') then false else line is null or trim(line) = '' end,
            left(ltrim(line, ' \t\r\n'), 1) <> '{',
            case when starts_with(line, '{') then false else left(ltrim(line, ' \t\r\n'), 1) <> '{' end
        from (select ?::varchar as line)
        """,
        [value],
    ).fetchone()
    assert row[1] == row[0] and row[3] == row[2]


def test_the_shortcuts_tested_are_the_ones_the_landing_runs():
    sql = landing._STAGE_SQL
    assert "case when starts_with(l.line, '{') then false else l.line is null or trim(l.line) = '' end" in sql
    assert (
        "case when starts_with(line, '{') then false else left(ltrim(line, ' \t\r\n'), 1) <> '{' end" in sql
    )
    assert all(landing._blank(f"f[{i}]") in sql for i in range(1, 5))
