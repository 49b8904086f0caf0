"""The sign-in session table: bounded, expiring, never holding or showing the key."""

from __future__ import annotations

from pytest_connectors.service.ui.sessions import SessionTable
from pytest_connectors.storage.api_keys import KeyProof

KEY = "pck_abcdefgh_" + "s" * 43


def _proof() -> KeyProof:
    proof = KeyProof.of(KEY)
    assert proof is not None
    return proof


def test_a_session_expires_after_its_lifetime() -> None:
    now = [1000.0]
    table = SessionTable(lifetime=60, clock=lambda: now[0])
    session = table.open(_proof())
    now[0] += 59
    assert table.get(session.id) == session
    now[0] += 1
    assert table.get(session.id) is None
    assert len(table) == 0  # an expired session is dropped, not kept


def test_the_table_keeps_the_newest_sessions_only() -> None:
    table = SessionTable(max_sessions=3)
    opened = [table.open(_proof()) for _ in range(5)]
    assert len(table) == 3
    assert [table.get(s.id) is not None for s in opened] == [False, False, True, True, True]


def test_each_session_has_its_own_id_and_token_and_never_the_key() -> None:
    table = SessionTable()
    one, two = table.open(_proof()), table.open(_proof())
    assert one.id != two.id and one.csrf != two.csrf
    assert one.accepts(one.csrf) and not one.accepts(two.csrf) and not one.accepts(None)
    for text in (one.id, one.csrf, repr(one), repr(one.proof)):
        assert KEY not in text and KEY[13:] not in text
    table.close(one.id)
    assert table.get(one.id) is None and table.get(two.id) == two
