"""Queued outbox rows are written before a statement that names the outbox: which statements do, decided without
building their compile state (it ran before every statement of a publishing batch)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column
from voltline_store.outbox import OutboxMessage, _touches_outbox, inbox_table, outbox_table


class _Base(DeclarativeBase):
    pass


class _Station(_Base):
    __tablename__ = "station"
    id: Mapped[int] = mapped_column(primary_key=True)


def _by_final_froms(statement: Any) -> bool:
    """The old rule: a table named outbox among (or inside) the SELECT's final FROM list."""
    froms = statement.get_final_froms() if isinstance(statement, sa.Select) else ()
    return any("outbox" in {getattr(t, "name", None) for t in sa.sql.util.find_tables(f)} for f in froms)


o, S = outbox_table, _Station
SELECTS = [
    sa.select(S),
    sa.select(S).where(S.id == 1),
    sa.select(o.c.id),
    sa.select(sa.func.count()).select_from(o),
    sa.select(S.id).where(S.id == o.c.id),
    sa.select(S.id).join(o, o.c.id == S.id),
    sa.select(sa.select(o.c.id).subquery().c.id),
    sa.select(S).where(S.id.in_(sa.select(o.c.id))),
    sa.select(OutboxMessage),
    sa.select(aliased(OutboxMessage)),
    sa.select(inbox_table.c.event_id),
    sa.select(S.id).select_from(sa.join(S, o, S.id == o.c.id)),
    sa.select(sa.literal(1)),
    sa.select(o.alias("x").c.id),
    sa.select(S).join(aliased(OutboxMessage), S.id == OutboxMessage.id),
]


@pytest.mark.parametrize("statement", SELECTS, ids=range(len(SELECTS)))
def test_selects_are_judged_as_by_their_final_froms(statement: sa.Select[Any]) -> None:
    assert _touches_outbox(statement) == _by_final_froms(statement)


def test_dml_and_text_by_their_table_or_text() -> None:
    assert _touches_outbox(sa.update(o).values(attempts=1))
    assert _touches_outbox(sa.delete(OutboxMessage))
    assert not _touches_outbox(sa.insert(S).values(id=1))
    assert _touches_outbox(sa.text("SELECT count(*) FROM Outbox"))
    assert not _touches_outbox(sa.text("SELECT 1"))


def test_a_select_without_joins_builds_no_compile_state(monkeypatch: pytest.MonkeyPatch) -> None:
    def dear(self: Any) -> Any:
        raise AssertionError("get_final_froms builds the statement's compile state")

    monkeypatch.setattr(sa.Select, "get_final_froms", dear)
    assert not _touches_outbox(sa.select(S).where(S.id == 3))
    assert _touches_outbox(sa.select(S.id).where(S.id == o.c.id))
