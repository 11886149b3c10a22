"""Roles enforced by Postgres: after `setup_postgres`, each role connects with its own login and
the database itself decides what it can read and write (row-level security, grants, the
audited reveal function). Also the reviewer window's refusal of logins that bypass all that."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import make_decision, make_ticket, numbered, open_replica, replica_ticket_id, syncer
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.core import pii, pii_access, retention, roles
from app.core.domain import Action, Role, TicketStatus
from app.core.pii_access import PiiRefused
from app.core.roles_policies import EVERYONE, TABLES
from app.core.store import Store, StoreRefused
from app.core.store_models import StoreDecision, StoreTicket, TicketPii

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
PII_TABLE = TicketPii.__table__
PEOPLE = {
    "alice": Role.REVIEWER,
    "bob": Role.REVIEWER,
    "erin": Role.ESCALATION_MANAGER,
    "ada": Role.ADMIN,
}


@dataclass
class Secured:
    """A store set up with roles, as its superuser left it, plus a URL per login."""

    admin_url: str
    server: Any
    dbname: str

    def url(self, login: str) -> str:
        return self.server.url(self.dbname, user=login)

    def open(self, login: str) -> Store:
        return Store.open(self.url(login))

    def superuser(self, *statements: str) -> list[Any]:
        engine = create_engine(self.admin_url)
        try:
            with engine.begin() as conn:
                results = [conn.execute(text(s)) for s in statements]
                return [r.all() if r.returns_rows else None for r in results]
        finally:
            engine.dispose()


def _tickets() -> list[dict[str, Any]]:
    return [
        make_ticket(external_id="open-1"),
        make_ticket(external_id="open-2"),
        make_ticket(external_id="esc-1", routing={"queue": "escalation"}),
    ]


def _ids(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {r.external_id: r.id for r in conn.execute(select(TICKETS.c.id, TICKETS.c.external_id))}


@pytest.fixture
def secured(pg_server: Any, pg_url: str) -> Iterator[Secured]:
    store = Store.initialize(pg_url)
    store.ingest(numbered(_tickets()))
    roles.setup_postgres(store)
    for login, role in PEOPLE.items():
        roles.add_user(store, login, role, password=None)  # trust auth in the test cluster
    store.close()
    yield Secured(pg_url, pg_server, make_url(pg_url).database or "")


def _external_ids(store: Store) -> set[str]:
    return {row["external_id"] for row in store.pull_tickets(0)}


# --- setup -----------------------------------------------------------------------------------------


def test_setup_forces_row_security_on_every_table_and_can_run_again(secured: Secured) -> None:
    store = Store.open(secured.admin_url)
    try:
        again = roles.setup_postgres(store)  # idempotent: resets grants and policies
    finally:
        store.close()
    assert again.created_roles == []
    assert again.admin_only_tables == [], "every store table needs a policy in roles_policies.TABLES"
    (rows,) = secured.superuser(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'alembic_version'"
    )
    assert rows and all(r.relrowsecurity and r.relforcerowsecurity for r in rows), rows
    assert {r.relname for r in rows} <= set(TABLES)
    (groups,) = secured.superuser(
        "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'signoff\\_%' ORDER BY rolname"
    )
    assert {g.rolname for g in groups} >= set(EVERYONE)
    assert not any(g.rolcanlogin for g in groups if g.rolname in EVERYONE)


def test_setup_and_add_user_refuse_a_sqlite_store(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        with pytest.raises(roles.RolesError, match="advisory"):
            roles.setup_postgres(store)
        with pytest.raises(roles.RolesError, match="advisory"):
            roles.add_user(store, "alice", Role.REVIEWER, None)
        check = roles.check_reviewer_login(store)
        assert check.ok and check.note == roles.ADVISORY
    finally:
        store.close()


def test_add_user_sends_only_a_scram_verifier_and_moves_a_login_between_groups(secured: Secured) -> None:
    store = Store.open(secured.admin_url)
    try:
        assert roles.add_user(store, "carol", Role.REVIEWER, "correct horse battery") is True
        assert roles.add_user(store, "carol", Role.ESCALATION_MANAGER, None) is False
        with pytest.raises(roles.RolesError):
            roles.add_user(store, "postgres", Role.REVIEWER, None)
        with pytest.raises(roles.RolesError):
            roles.add_user(store, "signoff_admin", Role.REVIEWER, None)
    finally:
        store.close()
    passwords, groups = secured.superuser(
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'carol'",
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'carol'",
    )
    assert passwords[0].rolpassword.startswith("SCRAM-SHA-256$")
    assert "correct horse" not in passwords[0].rolpassword
    assert [g.rolname for g in groups] == ["signoff_escalation_manager"]
    store = secured.open("carol")
    try:
        assert roles.check_reviewer_login(store).role == Role.ESCALATION_MANAGER
    finally:
        store.close()


# --- reading ---------------------------------------------------------------------------------------


def test_a_reviewer_reads_neither_the_escalation_queue_nor_personal_data(secured: Secured) -> None:
    store = secured.open("alice")
    try:
        assert _external_ids(store) == {"open-1", "open-2"}
        assert store.ticket_count() == 2
        payload = json.loads(store.pull_tickets(0)[0]["payload"])
        assert payload["subject"]["display_name"] == pii.MASK
        with store.engine.connect() as conn:
            assert conn.execute(select(PII_TABLE)).all() == []  # row security: no rows at all
        with pytest.raises(PiiRefused):
            pii_access.personal_data(store, _ids(store)["open-1"], role=str(Role.REVIEWER))
    finally:
        store.close()


def test_an_escalation_manager_reads_every_ticket_and_its_personal_data(secured: Secured) -> None:
    store = secured.open("erin")
    try:
        assert _external_ids(store) == {"open-1", "open-2", "esc-1"}
        shown = pii_access.personal_data(store, _ids(store)["esc-1"], role=str(Role.ESCALATION_MANAGER))
        assert shown.values["subject.display_name"] == make_ticket()["subject"]["display_name"]
        assert pii_access.reveals(store) == []  # seeing by role is not a reveal
    finally:
        store.close()


def test_the_database_withholds_personal_data_when_the_setting_changes(secured: Secured) -> None:
    admin = Store.open(secured.admin_url)
    try:
        pii_access.save_policy(admin, pii.PiiPolicy(see=("admin",), reveal=("reviewer",)), role="admin")
    finally:
        admin.close()
    store = secured.open("erin")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(PII_TABLE)).all() == []
        with pytest.raises(PiiRefused):  # the setting no longer lets managers reveal either
            pii_access.reveal(store, _ids(store)["open-1"], login="erin", role="escalation_manager")
    finally:
        store.close()


def test_an_admin_reads_everything(secured: Secured) -> None:
    store = secured.open("ada")
    try:
        assert _external_ids(store) == {"open-1", "open-2", "esc-1"}
        with store.engine.connect() as conn:
            assert len(conn.execute(select(PII_TABLE)).all()) == 3
    finally:
        store.close()


# --- revealing -------------------------------------------------------------------------------------


def test_a_reviewer_reveal_goes_through_the_database_which_logs_it(secured: Secured) -> None:
    store = secured.open("alice")
    try:
        ids = _ids(store)
        shown = pii_access.reveal(store, ids["open-1"], login="anyone-else", role="admin")  # claims ignored
        assert shown.values["subject.email"] == make_ticket()["subject"]["email"]
        log = pii_access.reveals(store)
        assert [(r["login"], r["role"], r["ticket_id"]) for r in log] == [
            ("alice", "reviewer", ids["open-1"])
        ]
        assert json.loads(log[0]["fields"]) == sorted(pii.field_names(shown.values))
        with pytest.raises(PiiRefused, match="not visible"):
            pii_access.reveal(store, _escalated_id(secured), login="alice", role="reviewer")
    finally:
        store.close()
    other = secured.open("bob")
    try:
        assert pii_access.reveals(other) == []  # a reviewer sees only its own reveals
    finally:
        other.close()
    manager = secured.open("erin")
    try:
        assert [r["login"] for r in pii_access.reveals(manager)] == ["alice"]
    finally:
        manager.close()


def _escalated_id(secured: Secured) -> int:
    (rows,) = secured.superuser("SELECT id FROM tickets WHERE external_id = 'esc-1'")
    return int(rows[0].id)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM ticket_pii",  # no rows, checked above; writing is what is refused here
        "INSERT INTO pii_reveals (ticket_id, revision, login, role, fields, revealed_at) "
        "SELECT id, 1, 'alice', 'reviewer', '[]', now() FROM tickets LIMIT 1",
        "UPDATE tickets SET payload = '{}'",
        "UPDATE tickets SET title = 'x'",
        "DELETE FROM decisions",
        "INSERT INTO ticket_pii (ticket_id, revision, content_hash, fields, recorded_at) "
        "SELECT id, 99, 'x', '{}', now() FROM tickets LIMIT 1",
        "UPDATE store_info SET value = 'reviewer' WHERE key = 'pii_roles'",
        "ALTER TABLE tickets DISABLE ROW LEVEL SECURITY",
    ],
)
def test_a_reviewer_cannot_write_around_the_rules(secured: Secured, statement: str) -> None:
    with psycopg.connect(_dsn(secured, "alice"), autocommit=True) as conn:
        if statement.startswith("SELECT"):
            assert conn.execute(statement).fetchall() == []
            return
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def _dsn(secured: Secured, login: str) -> str:
    url = make_url(secured.url(login))
    return f"host={url.host} port={url.port} dbname={url.database} user={login}"


# --- deciding --------------------------------------------------------------------------------------


def test_a_reviewer_decides_only_in_its_own_name_and_role(secured: Secured) -> None:
    ticket = _tickets()[0]
    store = secured.open("alice")
    try:
        for forged in (
            make_decision(ticket, reviewer="bob"),
            make_decision(ticket, reviewer="alice", role=Role.ESCALATION_MANAGER),
        ):
            with pytest.raises(StoreRefused, match="row-level security"):
                store.push_decisions([forged])
        own = make_decision(ticket, reviewer="alice")
        assert store.push_decisions([own]).accepted == [own.decision_id]
    finally:
        store.close()


def test_a_reviewer_cannot_decide_an_escalated_ticket(secured: Secured) -> None:
    store = secured.open("alice")
    try:
        escalated = make_decision(_tickets()[2], reviewer="alice")
        assert escalated.decision_id in store.push_decisions([escalated]).refused  # not visible to alice
    finally:
        store.close()


def test_reviewers_sync_end_to_end_and_an_escalation_leaves_the_others_view(
    secured: Secured, tmp_path: Path
) -> None:
    store = secured.open("alice")
    replica = open_replica(tmp_path, store, "alice")
    try:
        report = syncer(replica, store, "alice").run_once()
        assert report.ok, report.error
        assert report.pulled == 2 and report.audit_error is None
        ticket_id = replica_ticket_id(replica, "open-1")
        replica.record_decision(
            ticket_id, Action.REJECT, "policy_legal", reviewer="alice", role=Role.REVIEWER
        )
        report = syncer(replica, store, "alice").run_once()
        assert report.ok and report.pushed == 1 and not report.refused, report.describe()
        # Her own decision and the ticket it escalated stay readable to her: a retried push is
        # still a no-op, restore detection finds her last decision, and she sees how it stands.
        again = syncer(replica, store, "alice").run_once()
        assert again.ok and not again.rebuilt, again.describe()
        assert replica.ticket(ticket_id).status == TicketStatus.ESCALATED
        assert make_ticket()["subject"]["email"].encode() not in replica.path.read_bytes()
    finally:
        replica.close()
        store.close()
    other = secured.open("bob")
    try:
        assert _external_ids(other) == {"open-2"}  # escalated by alice: out of bob's view
        # ...and his sync learns which of his copies went stale, without seeing the ticket.
        assert sorted(roles.withdrawn_tickets(other, 0)) == sorted([ticket_id, _escalated_id(secured)])
        assert roles.withdrawn_tickets(other, 10_000) == []
    finally:
        other.close()
    for login in ("alice", "erin"):  # her own decision's ticket; a manager sees them all
        store = secured.open(login)
        try:
            assert ticket_id not in roles.withdrawn_tickets(store, 0)
        finally:
            store.close()


def test_two_reviewers_conflict_and_the_escalation_manager_settles(secured: Secured) -> None:
    ticket = _tickets()[1]
    for login in ("alice", "bob"):
        store = secured.open(login)
        try:
            decision = make_decision(ticket, reviewer=login, action=Action.APPROVE)
            assert store.push_decisions([decision]).accepted == [decision.decision_id]
        finally:
            store.close()
    manager = secured.open("erin")
    try:
        with manager.engine.connect() as conn:
            row = conn.execute(select(TICKETS).where(TICKETS.c.external_id == "open-2")).one()
            statuses = conn.execute(select(DECISIONS.c.status)).scalars().all()
        assert (row.status, row.queue) == ("conflict", "escalation")
        assert sorted(statuses) == ["conflict", "conflict"]
        settle = make_decision(ticket, reviewer="erin", role=Role.ESCALATION_MANAGER)
        assert manager.push_decisions([settle]).accepted == [settle.decision_id]
    finally:
        manager.close()
    reviewer = secured.open("alice")
    try:
        # She still sees the ticket she decided and the decisions on it, now settled.
        with reviewer.engine.connect() as conn:
            seen = conn.execute(select(DECISIONS.c.reviewer, DECISIONS.c.status)).all()
        assert sorted(seen) == [("alice", "superseded"), ("bob", "superseded"), ("erin", "final")]
        assert _external_ids(reviewer) == {"open-1", "open-2"}
    finally:
        reviewer.close()
    secured.superuser("CREATE ROLE carl LOGIN", "GRANT signoff_reviewer TO carl")
    try:
        bystander = secured.open("carl")
        try:
            assert _external_ids(bystander) == {"open-1"}  # the escalation queue is not his
            with bystander.engine.connect() as conn:
                assert conn.execute(select(DECISIONS)).all() == []
        finally:
            bystander.close()
    finally:
        secured.superuser("DROP OWNED BY carl", "DROP ROLE carl")


def test_claims_carry_the_login(secured: Secured) -> None:
    store = secured.open("alice")
    try:
        ticket_id = _ids(store)["open-1"]
        client = str(uuid.uuid4())
        assert store.claim(ticket_id, holder="alice", client_id=client).held_by(client)
        with pytest.raises(StoreRefused, match="row-level security"):
            store.claim(_ids(store)["open-2"], holder="bob", client_id=client)
    finally:
        store.close()


def test_an_admin_ingests_and_purges_personal_data(secured: Secured) -> None:
    from datetime import timedelta

    from app.core.domain import utcnow

    store = secured.open("ada")
    try:
        outcome = store.ingest(numbered([make_ticket(external_id="new-1")]))
        assert outcome.inserted == 1
        decided = make_decision(make_ticket(external_id="new-1"), reviewer="ada", role=Role.ADMIN)
        store.push_decisions([decided])
        retention.save_policy(store, retention.RetentionPolicy(interaction_days=1), actor="ada", role="admin")
        report = retention.purge_store(store, actor="ada", role="admin", now=utcnow() + timedelta(days=3))
        assert report.tickets == 1
        with store.engine.connect() as conn:
            kept = conn.execute(
                select(PII_TABLE.c.ticket_id).where(PII_TABLE.c.ticket_id == _ids(store)["new-1"])
            ).all()
        assert kept == []
    finally:
        store.close()


# --- the reviewer window's login check -------------------------------------------------------------


def test_the_window_refuses_a_superuser_unless_in_development(secured: Secured) -> None:
    store = Store.open(secured.admin_url)
    try:
        check = roles.check_reviewer_login(store)
    finally:
        store.close()
    assert not check.ok and check.bypasses_rls
    assert "superuser" in (check.problem or "") and "--allow-superuser" in (check.problem or "")
    assert not check.allowed() and check.allowed(allow_superuser=True)
    store = Store.open(secured.admin_url)
    try:
        with pytest.raises(roles.LoginRefused, match="superuser"):
            roles.admit_reviewer_window(store)
        admitted = roles.admit_reviewer_window(store, allow_superuser=True)
        assert admitted.development and admitted.title_note == "DEVELOPMENT: superuser, row security off"
    finally:
        store.close()
    reviewer = secured.open("alice")
    try:
        admitted = roles.admit_reviewer_window(
            reviewer, allow_superuser=True
        )  # the flag changes nothing here
        assert (admitted.login, admitted.role, admitted.development) == ("alice", Role.REVIEWER, False)
    finally:
        reviewer.close()


def test_the_window_refuses_a_bypassrls_login(secured: Secured) -> None:
    secured.superuser("CREATE ROLE bypasser LOGIN BYPASSRLS", "GRANT signoff_reviewer TO bypasser")
    try:
        store = secured.open("bypasser")
        try:
            check = roles.check_reviewer_login(store)
        finally:
            store.close()
        assert not check.ok and check.bypasses_rls and "BYPASSRLS" in (check.problem or "")
    finally:
        secured.superuser("DROP OWNED BY bypasser", "DROP ROLE bypasser")


def test_the_window_refuses_the_table_owner(secured: Secured) -> None:
    secured.superuser(
        "CREATE ROLE owner_login LOGIN",
        "GRANT signoff_reviewer TO owner_login",
        "ALTER TABLE tickets OWNER TO owner_login",
    )
    try:
        store = secured.open("owner_login")
        try:
            check = roles.check_reviewer_login(store)
        finally:
            store.close()
        assert not check.ok and check.bypasses_rls and "owns" in (check.problem or "")
    finally:
        secured.superuser(
            "ALTER TABLE tickets OWNER TO postgres", "DROP OWNED BY owner_login", "DROP ROLE owner_login"
        )


def test_the_window_accepts_each_signoff_login_with_its_role(secured: Secured) -> None:
    for login, role in PEOPLE.items():
        store = secured.open(login)
        try:
            check = roles.check_reviewer_login(store)
            assert (check.ok, check.role, check.login) == (True, role, login), check.problem
            assert roles.identity(store) == roles.StoreIdentity(login, role)
        finally:
            store.close()


def test_the_window_refuses_a_login_outside_signoff_and_a_store_without_setup(
    pg_server: Any, secured: Secured
) -> None:
    secured.superuser("CREATE ROLE stranger LOGIN", "GRANT SELECT ON alembic_version TO stranger")
    try:
        store = secured.open("stranger")
        try:
            check = roles.check_reviewer_login(store)
        finally:
            store.close()
        assert not check.ok and not check.bypasses_rls and "add-user" in (check.problem or "")
    finally:
        secured.superuser("DROP OWNED BY stranger", "DROP ROLE stranger")
    # Another database of the same cluster, never set up, where a DBA granted alice plain
    # table access: her login and group exist, the rules do not.
    with pg_server.temp_database() as url:
        Store.initialize(url).close()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice"))
        engine.dispose()
        store = Store.open(pg_server.url(make_url(url).database, user="alice"))
        try:
            check = roles.check_reviewer_login(store)
        finally:
            store.close()
    assert not check.ok and "setup-postgres" in (check.problem or "")
