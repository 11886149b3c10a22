"""replica_pull.forget_tickets: withdrawn tickets leave the replica, except one a decision of
ours still waits on; a first sync's long list is fine."""

from __future__ import annotations

from pathlib import Path

from helpers import make_ticket, numbered, open_replica, replica_ticket_id, sync
from sqlalchemy import func, select

from app.core import replica_pull
from app.core.domain import Action, Role
from app.core.replica import TICKETS
from app.core.store import Store


def test_forgetting_keeps_a_ticket_with_a_waiting_decision(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.db'}")
    replica = open_replica(tmp_path, store)
    try:
        store.ingest(numbered([make_ticket(external_id=f"t-{n}") for n in range(3)]))
        sync(replica, store)
        ids = [replica_ticket_id(replica, f"t-{n}") for n in range(3)]
        replica.record_decision(ids[1], Action.APPROVE, "ai_correct", reviewer="alice", role=Role.REVIEWER)
        unknown = list(range(10_000, 12_000))  # withdrawn, never seen here: more than one chunk
        with replica.engine.begin() as conn:
            kept = replica_pull.forget_tickets(conn, [ids[0], ids[1], *unknown])
            left = set(conn.execute(select(TICKETS.c.id)).scalars())
        assert kept == [ids[1]]
        assert left == {ids[1], ids[2]}
        # Once the decision has gone (here: sent), the ticket can go too.
        sync(replica, store)
        with replica.engine.begin() as conn:
            assert replica_pull.forget_tickets(conn, [ids[1]]) == []
            assert conn.execute(select(func.count()).select_from(TICKETS)).scalar_one() == 1
    finally:
        replica.close()
        store.close()
