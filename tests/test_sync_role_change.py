"""A reviewer made escalation manager on Postgres: the next sync fetches what row security hid
from the reviewer, and never mistakes those tickets for a store restored from a backup."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_ticket
from sync_support import Installation, audit_events, replica_ticket_statuses
from test_sync_witness import Shared, install, opened, pg_shared  # noqa: F401  (fixtures)

from app.core import roles
from app.core.domain import Action, Role


@pytest.mark.postgres
def test_a_promoted_reviewer_pulls_the_hidden_tickets_without_a_false_restore(
    pg_shared: Shared,  # noqa: F811
    tmp_path: Path,
    opened: list[Installation],  # noqa: F811
) -> None:
    rita = install(opened, pg_shared, tmp_path, "rita")
    pg_shared.ingest([make_ticket(external_id="t-12")])
    bob = install(opened, pg_shared, tmp_path, "bob")
    bob.decide("t-12", Action.REJECT, "policy_legal")  # escalated: hidden from reviewers
    bob.decide("t-05", Action.APPROVE, "ai_correct")  # still visible, renumbered after t-12
    assert bob.sync().pushed == 2
    report = rita.sync()
    assert report.ok and not report.rebuilt, report.describe()
    assert "t-12" not in replica_ticket_statuses(rita.replica)

    admin = pg_shared.admin()
    try:
        roles.add_user(admin, "rita", Role.ESCALATION_MANAGER, password=None)
    finally:
        admin.close()
    rita.store.close()  # her next connection carries the new role
    report = rita.sync()
    assert report.ok and not report.rebuilt, report.describe()
    assert audit_events(rita.replica, "store_restore_detected") == []
    assert "t-12" in replica_ticket_statuses(rita.replica)  # what the reviewer's view hid
    again = rita.sync()
    assert again.ok and not again.rebuilt and again.pulled == 0, again.describe()
