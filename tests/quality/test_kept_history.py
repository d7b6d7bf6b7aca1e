"""The history a pass keeps (history.py) gives the answers a scan of `raw` gives, pass after pass.

After each pass the kept tables equal a rebuild from `raw`, and each pass's staged batch (accounts,
signups) equals the one staged from `raw`, through: late arrivals, a user first seen with two accounts
at the same instant, a user first seen earlier by a later batch, a replayed hour whose clock is before
what was kept (group calls and first accounts that arrived after it must not count), an alias added to
the seed (the signups are kept under the name rule: rebuilt), and a pass restricted to some files.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from dagster_project.defs.quality import batch, history, names
from dagster_project.lib import warehouse
from tests.quality import dq_events as ev
from tests.quality.conftest import HISTORY_DAYS, Workspace

DAY = HISTORY_DAYS
T1 = ev.day_start(DAY + 1)


def _msg(n: str, kind: str, at, arrived=None, user: str = "u", group: str | None = None, **fields) -> dict:
    m = {"messageId": f"kh-{n}", "type": kind, "userId": user, "timestamp": ev.iso(at),
         "receivedAt": ev.iso(arrived or at + timedelta(seconds=1)), **fields}
    if group and kind == "group":
        m["groupId"] = group
    elif group:
        m["context"] = {"groupId": group}
    return m


def _staged_both_ways(ws: Workspace, as_of, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The staged batch (message, account, signup) from the kept history and from `raw`; asserts they are
    equal, returns it."""
    staged = []
    for from_raw in (False, True):
        with monkeypatch.context() as m, warehouse.connect(ws.db) as con:
            if from_raw:
                m.setattr(history, "usable", lambda con, load_ids: False)
            batch.stage_batch(con, as_of)
            staged.append(sorted(con.execute(
                "select message_id, account_id, signup_at from _quality_staged").fetchall(), key=str))
            batch.drop_staged(con)
            history.drop(con)
    assert staged[0] == staged[1]
    return staged[0]


def _kept(con) -> list[list[tuple]]:
    return [sorted(con.execute(f"select * from {t}").fetchall(), key=str)
            for t in (history.KEPT, history.FIRST_SEEN, history.STATE)]


def _accounts(ws: Workspace, as_of, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The staged batch's account per message (staged both ways)."""
    return {m: a for m, a, _ in _staged_both_ways(ws, as_of, monkeypatch)}


def _cycle_keeping(ws: Workspace, as_of) -> None:
    """A cycle, then the kept history must equal a rebuild from `raw`."""
    ws.cycle(as_of)
    _assert_kept_equals_a_rebuild(ws)


def _assert_kept_equals_a_rebuild(ws: Workspace) -> None:
    with warehouse.connect(ws.db) as con:
        kept = _kept(con)
        names.load_aliases(con)
        history.rebuild(con, history.rule(con))
        assert _kept(con) == kept
        assert kept[0] and kept[1]


def test_the_kept_history_answers_as_raw_does(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day = ev.day_start(DAY)
    _assert_kept_equals_a_rebuild(ws)  # the history pass kept its share
    extra = [
        # P: user v's first account, seen on day 3 but arriving on day 10 (a late arrival).
        _msg("p", "track", ev.day_start(3), ev.day_start(10), user="v", group="acc_p", event="project_created",
             properties={"project_id": "p"}),
        # u calls group for acc_y on day 14: an identify replayed at an earlier clock must not see it.
        _msg("uy", "group", day + timedelta(hours=3), user="u", group="acc_y", traits={"name": "Y"}),
        # t is first seen with two accounts at the same instant: the smaller one.
        _msg("t1", "track", day + timedelta(hours=4), user="t", group="acc_t2", event="project_created",
             properties={"project_id": "t2"}),
        _msg("t2", "track", day + timedelta(hours=4), user="t", group="acc_t1", event="project_created",
             properties={"project_id": "t1"}),
        _msg("ti", "identify", day + timedelta(hours=5), user="t", traits={"email": "t@example.com"}),
        # w signs up under a name no alias maps yet.
        _msg("ws", "track", day + timedelta(hours=6), user="w", group="acc_w", event="Account Signed Up",
             properties={"plan_tier": "starter"}),
    ]
    ws.land("day.jsonl", ev.day_messages(DAY) + extra)
    staged = _accounts(ws, T1, monkeypatch)
    assert staged["kh-ti"] == "acc_t1"
    _cycle_keeping(ws, T1)

    # A later batch sees t first with another account, earlier (a late arrival): t's first account moves.
    t2 = T1 + timedelta(hours=1)
    ws.land("later.jsonl", [
        _msg("t0", "page", day - timedelta(days=1), t2 - timedelta(minutes=5), user="t", group="acc_t0"),
        _msg("ti2", "identify", t2 - timedelta(minutes=4), user="t", traits={"email": "t@example.com"}),
    ])
    staged = _accounts(ws, t2, monkeypatch)
    assert staged["kh-ti2"] == "acc_t0"
    _cycle_keeping(ws, t2)

    # A replayed hour (a file landed late, clock on day 6): u's group call and v's first account arrived after it.
    replay = ev.day_start(6)
    ws.land("late.jsonl", [
        _msg("ug", "group", ev.day_start(2), user="u", group="acc_x", traits={"name": "X"}),
        _msg("ui", "identify", ev.day_start(5), user="u", traits={"email": "u@example.com"}),
        _msg("vq", "track", ev.day_start(5), user="v", group="acc_q", event="project_created",
             properties={"project_id": "q"}),
        _msg("vi", "identify", ev.day_start(5) + timedelta(minutes=1), user="v", traits={"email": "v@example.com"}),
    ])
    with warehouse.connect(ws.db) as con:
        assert not history.first_seen_is_kept(con, replay)
    staged = _accounts(ws, replay, monkeypatch)
    assert (staged["kh-ui"], staged["kh-vi"]) == ("acc_x", "acc_q")
    _cycle_keeping(ws, replay)

    # An alias added to the seed: w's day-14 signup becomes a signup, so the kept signups are rebuilt.
    seed = tmp_path / "event_aliases.csv"
    shutil.copy(names.aliases_path(), seed)
    seed.write_text(seed.read_text() + "account_signed_up,signup_completed\n")
    monkeypatch.setattr(names, "aliases_path", lambda: seed)
    t3 = t2 + timedelta(hours=1)
    ws.land("w.jsonl", [_msg("wp", "track", t3 - timedelta(minutes=5), user="w", group="acc_w",
                             event="project_created", properties={"project_id": "w"})])
    signups = {m: s for m, _, s in _staged_both_ways(ws, t3, monkeypatch)}
    assert signups["kh-wp"] == day + timedelta(hours=6)
    _cycle_keeping(ws, t3)

    # A pass restricted to some files marks the others validated unread: the kept history is rebuilt after it.
    t4 = t3 + timedelta(hours=1)
    ws.land("a.jsonl", [_msg("a1", "track", t4 - timedelta(minutes=5), user="ua", group="acc_a",
                             event="project_created", properties={"project_id": "a"})])
    ws.land("b.jsonl", [_msg("b1", "group", t4 - timedelta(minutes=5), user="ub", group="acc_b", traits={"name": "B"})])
    (load_a,) = ws.query("select load_id from raw.loaded_files where path = 'a.jsonl' or path like '%/a.jsonl'")[0]
    ws.cycle(t4, load_ids=[load_a])
    assert ws.query(f"select count(*) from {history.STATE}") == [(0,)]
    t5 = t4 + timedelta(hours=1)
    ws.land("c.jsonl", [_msg("c1", "identify", t5 - timedelta(minutes=5), user="ub", traits={"email": "b@x.com"})])
    staged = _accounts(ws, t5, monkeypatch)
    assert staged["kh-c1"] == "acc_b"
    _cycle_keeping(ws, t5)

    # Restricted to a file with nothing pending, a pass still marks the others validated: rebuilt as well.
    t6 = t5 + timedelta(hours=1)
    ws.land("d.jsonl", [_msg("d1", "group", t6 - timedelta(minutes=5), user="ud", group="acc_d", traits={"name": "D"})])
    ws.cycle(t6, load_ids=[load_a])
    assert ws.query(f"select count(*) from {history.STATE}") == [(0,)]
    ws.land("e.jsonl", [_msg("e1", "identify", t6 + timedelta(minutes=5), user="ud", traits={"email": "d@x.com"})])
    _cycle_keeping(ws, t6 + timedelta(hours=1))
