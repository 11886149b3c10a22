"""Claims under contention (issue 3, test 4): many reviewers, one queue.

Every claimer is a thread with its own Store (its own engine and connections), released at the
same instant by a barrier. Postgres is the store for teams; SQLite runs the same tests.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers import BACKENDS, backend_url, make_ticket, numbered, pg_database
from sqlalchemy import select, update
from sync_support import Installation

from app.core import store_claims
from app.core.store import Store
from app.core.store_claims import ClaimState
from app.core.store_models import Claim, StoreTicket

CLAIMS = Claim.__table__
TICKETS = StoreTicket.__table__
CLAIMERS = 20
T = TypeVar("T")

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = backend_url(request, tmp_path)
    store = Store.initialize(url)
    store.ingest(numbered(make_ticket(external_id=f"q-{n:03d}") for n in range(60)))
    store.close()
    return url


@pytest.fixture
def stores(store_url: str) -> Iterator[list[Store]]:
    opened = [Store.open(store_url) for _ in range(CLAIMERS)]
    yield opened
    for store in opened:
        store.close()


def all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) on `count` threads released together by a barrier."""
    barrier = threading.Barrier(count, timeout=60)

    def run(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def claim_rows(store: Store) -> dict[int, Any]:
    with store.engine.connect() as conn:
        return {r.ticket_id: r for r in conn.execute(select(CLAIMS))}


def ticket_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(TICKETS.c.id).order_by(TICKETS.c.id)).scalars())


def claim_with_lease(store: Store, ticket_id: int, client_id: str, lease: timedelta) -> ClaimState:
    with store.engine.begin() as conn:
        return store_claims.claim(
            conn, ticket_id, holder=f"r-{client_id[:4]}", client_id=client_id, lease=lease
        )


def test_twenty_claimers_racing_for_the_same_tickets_each_ticket_gets_one_holder(
    stores: list[Store],
) -> None:
    clients = [str(uuid.uuid4()) for _ in stores]
    tickets = ticket_ids(stores[0])[:30]

    def claim_all(i: int) -> list[ClaimState]:
        # Everyone goes for all thirty, each in its own order, as fast as it can.
        order = random.Random(i).sample(tickets, len(tickets))
        return [stores[i].claim(t, holder=f"reviewer-{i}", client_id=clients[i]) for t in order]

    answers = all_at_once(CLAIMERS, claim_all)
    wins: dict[int, list[str]] = {t: [] for t in tickets}
    for i, states in enumerate(answers):
        for state in states:
            if state.held_by(clients[i]):
                wins[state.ticket_id].append(clients[i])
    assert {t: len(w) for t, w in wins.items()} == {t: 1 for t in tickets}, "a ticket claimed twice"
    assert sum(len(w) for w in wins.values()) == len(tickets)
    rows = claim_rows(stores[0])
    assert sorted(rows) == sorted(tickets)
    for ticket_id, row in rows.items():
        assert row.client_id == wins[ticket_id][0]
        assert row.version == 1  # nobody overwrote the winner's lease
    # Every loser was told who holds it.
    for states in answers:
        for state in states:
            assert state.client_id == rows[state.ticket_id].client_id
    assert {c.ticket_id: c.client_id for c in stores[0].active_claims()} == {t: w[0] for t, w in wins.items()}


def test_an_expired_lease_is_taken_over_by_exactly_one_claimer(stores: list[Store]) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    ticket = ticket_ids(stores[0])[0]
    live = stores[0].claim(ticket, holder="first", client_id=first)
    assert live.held_by(first)
    # A live lease of someone else's stays where it is.
    assert stores[1].claim(ticket, holder="second", client_id=second).held_by(first)
    # Its holder renews it.
    renewed = stores[0].claim(ticket, holder="first", client_id=first)
    assert renewed.held_by(first) and renewed.version == live.version + 1
    # It expires (its client died): one of twenty claimers takes it over, exactly one.
    expired = claim_with_lease(stores[0], ticket, first, timedelta(seconds=-1))
    assert expired.held_by(first)
    assert stores[0].active_claims() == []
    clients = [str(uuid.uuid4()) for _ in stores]
    answers = all_at_once(CLAIMERS, lambda i: stores[i].claim(ticket, holder=f"r{i}", client_id=clients[i]))
    winners = [clients[i] for i, state in enumerate(answers) if state.held_by(clients[i])]
    assert len(winners) == 1
    row = claim_rows(stores[0])[ticket]
    assert (row.client_id, row.version) == (winners[0], expired.version + 1)
    assert {a.client_id for a in answers} == {winners[0]}


def test_a_lease_expired_by_its_clock_is_taken_over(stores: list[Store]) -> None:
    """The same through expires_at itself, as time passing would leave it."""
    owner, taker = str(uuid.uuid4()), str(uuid.uuid4())
    ticket = ticket_ids(stores[0])[1]
    held = stores[0].claim(ticket, holder="owner", client_id=owner)
    with stores[0].engine.begin() as conn:
        now = store_claims.store_now(conn)
        conn.execute(update(CLAIMS).where(CLAIMS.c.ticket_id == ticket).values(expires_at=now - timedelta(1)))
    taken = stores[1].claim(ticket, holder="taker", client_id=taker)
    assert taken.held_by(taker) and taken.version == held.version + 1
    assert not stores[0].claim(ticket, holder="owner", client_id=owner).held_by(owner)


def test_claim_batch_by_two_clients_at_once_never_overlaps(stores: list[Store]) -> None:
    open_tickets = set(ticket_ids(stores[0]))
    for round_ in range(4):
        with stores[0].engine.begin() as conn:
            conn.execute(CLAIMS.delete())
        clients = [str(uuid.uuid4()), str(uuid.uuid4())]
        count = 35 + round_ * 5

        def take_offline(i: int, clients: list[str] = clients, count: int = count) -> list[ClaimState]:
            return stores[i].claim_batch(holder=f"offline-{i}", client_id=clients[i], count=count)

        batches = all_at_once(2, take_offline)
        taken = [{c.ticket_id for c in batch} for batch in batches]
        assert not taken[0] & taken[1], f"round {round_}: {sorted(taken[0] & taken[1])} taken by both"
        for i, batch in enumerate(batches):
            assert all(c.held_by(clients[i]) and c.offline for c in batch)
            assert len(batch) == len(taken[i])
        rows = claim_rows(stores[0])
        assert {t: r.client_id for t, r in rows.items()} == {t: clients[i] for i in (0, 1) for t in taken[i]}
        assert taken[0] | taken[1] <= open_tickets


def test_a_decision_ends_the_claim_and_replicas_show_who_reviews_what(store_url: str, tmp_path: Path) -> None:
    ann = Installation.open(store_url, tmp_path / "ann.sqlite3", "ann")
    ben = Installation.open(store_url, tmp_path / "ben.sqlite3", "ben")
    try:
        assert ann.sync().ok and ben.sync().ok
        mine = ann.tid("q-000")
        assert ann.store.claim(mine, holder="ann", client_id=ann.replica.client_id).held_by(
            ann.replica.client_id
        )
        assert ben.sync().ok
        view = ben.replica.ticket(mine)
        assert view is not None and view.claimed_by == "ann"
        assert ann.replica.ticket(mine).claimed_by is None  # type: ignore[union-attr] # not shown to its holder
        ann.decide("q-000")
        assert ann.sync().pushed == 1
        assert claim_rows(ann.store) == {}
        assert ben.sync().ok
        assert ben.replica.ticket(mine).claimed_by is None  # type: ignore[union-attr]
    finally:
        ann.close()
        ben.close()
