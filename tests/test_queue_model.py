"""The queue model at length: an id for every loaded row, full rows only in a bounded cache, rows
fetched again by id when scrolled back to, decided rows removed in place, pages continued by keyset
after the last row received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from app.core.domain import Action, QueueQuery, Role
from app.core.replica import Replica, replica_path
from app.ui import queue_model
from app.ui.queue_model import TICKET_ID_ROLE, QueueModel
from app.ui.tasks import TaskRunner
from benchmarks import generate

pytestmark = pytest.mark.gui

TICKETS = 1500


@pytest.fixture
def replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replica]:
    monkeypatch.setenv("SIGNOFF_BENCH_CACHE", str(tmp_path / "cache"))
    home = generate.window_home(TICKETS, seed=5)
    opened = Replica.open(replica_path(home, generate.STORE_ID))
    yield opened
    opened.close()


@pytest.fixture
def runner(qtbot: Any) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    tasks.shutdown()


def shown_model(qtbot: Any, runner: TaskRunner, replica: Replica, sort: str, rows: Any = None) -> QueueModel:
    """A model over the replica with its first page in."""
    model = QueueModel(runner, replica.queue_page, replica.queue_count, rows or replica.queue_rows)
    with qtbot.waitSignal(model.page_loaded):
        model.set_query(QueueQuery(sort=sort))
    return model


def load_all(qtbot: Any, model: QueueModel) -> None:
    while model.canFetchMore():
        with qtbot.waitSignal(model.page_loaded):
            model.fetchMore()


def expected_order(replica: Replica, query: QueueQuery) -> list[int]:
    return [r.id for r in replica.queue_page(query, None, TICKETS + 10)]


@pytest.mark.parametrize("sort", ["due", "confidence", "age"])
def test_every_row_arrives_once_in_sort_order_with_growing_pages(
    qtbot: Any, runner: TaskRunner, replica: Replica, sort: str
) -> None:
    model = shown_model(qtbot, runner, replica, sort)
    assert model.rowCount() == queue_model.PAGE_SIZE  # the first screen comes as one small page
    load_all(qtbot, model)
    assert model.loaded_ids() == expected_order(replica, QueueQuery(sort=sort))
    assert not model.canFetchMore()


def test_full_rows_are_held_in_a_bounded_cache_and_fetched_again_when_shown(
    qtbot: Any, runner: TaskRunner, replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_model, "ROW_CACHE", 300)
    model = shown_model(qtbot, runner, replica, "confidence")
    load_all(qtbot, model)
    assert model.rowCount() == replica.queue_count(QueueQuery()) > 1000
    assert model.cached_rows() <= 300  # the rest are ids only
    row = 250  # long dropped from the cache by the pages after it
    index = model.index(row, 1)
    assert model.data(index, TICKET_ID_ROLE) == model.ticket_id(row)
    with qtbot.waitSignal(model.dataChanged):
        assert model.data(index) == "…"  # shown as on its way, and asked for
    expected = {r.id: r for r in replica.queue_page(QueueQuery(sort="confidence"), None, TICKETS)}
    for shown in range(200, 400):  # its whole refill page came back, from the right place
        ticket_id = model.ticket_id(shown)
        assert model.data(model.index(shown, 1)) == expected[ticket_id].title
        assert model.data(model.index(shown, 2)) == expected[ticket_id].workflow
    assert model.cached_rows() <= 300


def test_rows_after_a_removed_one_are_fetched_again_by_their_own_ids(
    qtbot: Any, runner: TaskRunner, replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_model, "ROW_CACHE", 300)
    model = shown_model(qtbot, runner, replica, "due")
    visible = replica.queue_count(QueueQuery())  # a reviewer's queue: escalations are not in it
    qtbot.waitUntil(lambda: model.total == visible)
    load_all(qtbot, model)
    order = model.loaded_ids()
    gone = order[150]
    assert model.remove_ticket(gone) == 150
    assert model.row_of(gone) is None and model.rowCount() == visible - 1
    assert model.total == visible - 1
    # Row 399 now holds what was row 400, and its refill asks for the ids now at 200..399.
    with qtbot.waitSignal(model.dataChanged):
        model.data(model.index(399, 0))
    assert model.data(model.index(399, 0), TICKET_ID_ROLE) == order[400]
    assert model.data(model.index(399, 1)) != "…"
    assert model.remove_ticket(10**9) is None


def test_a_new_filter_drops_a_late_page_of_the_old_one(
    qtbot: Any, runner: TaskRunner, replica: Replica
) -> None:
    model = QueueModel(runner, replica.queue_page, replica.queue_count, replica.queue_rows)
    model.set_query(QueueQuery(sort="due"))
    workflow = generate.WORKFLOWS[0]
    everything = replica.queue_count(QueueQuery())
    with qtbot.waitSignal(model.total_changed, check_params_cb=lambda n: n < everything):
        model.set_query(QueueQuery(sort="due", workflow=workflow))
    qtbot.waitUntil(lambda: not model.is_loading)
    shown = {model.data(model.index(row, 2)) for row in range(model.rowCount())}
    assert shown == {workflow}
    assert model.rowCount() <= model.total
    assert not model.index(0, 0).parent().isValid() and model.rowCount(QModelIndex()) > 0


def test_the_next_page_follows_the_last_row_received_even_once_it_is_removed(
    qtbot: Any, runner: TaskRunner, replica: Replica
) -> None:
    model = shown_model(qtbot, runner, replica, "confidence")
    first_page = model.loaded_ids()
    last = first_page[-1]
    assert model.remove_ticket(last) == len(first_page) - 1  # decided: gone from the list
    load_all(qtbot, model)
    expected = expected_order(replica, QueueQuery(sort="confidence"))
    expected.remove(last)
    assert model.loaded_ids() == expected  # no gap, no repeat where the removed row was


def test_a_row_that_left_the_view_shows_as_gone_and_is_not_asked_for_again(
    qtbot: Any, runner: TaskRunner, replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_model, "ROW_CACHE", 300)
    asked: list[int] = []

    def rows(query: QueueQuery, ids: Any) -> Any:
        asked.append(len(ids))
        return replica.queue_rows(query, ids)

    model = shown_model(qtbot, runner, replica, "due", rows)
    load_all(qtbot, model)
    row = 250  # long dropped from the cache
    gone = model.ticket_id(row)
    replica.record_decision(gone, Action.APPROVE, "ai_correct", reviewer="ana", role=Role.REVIEWER)
    with qtbot.waitSignal(model.dataChanged):
        model.data(model.index(row, 1))
    assert model.data(model.index(row, 1)) == "(no longer in this view)"
    assert model.data(model.index(row + 1, 1)) not in ("…", "(no longer in this view)")
    assert asked == [queue_model.REFILL_SIZE]  # painting it again asks nothing more
