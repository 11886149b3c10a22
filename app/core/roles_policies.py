"""What each Signoff role may do in a Postgres store, as SQL: grants, row-level security
policies and the few functions they use. `app.core.roles.setup_postgres` applies it.

Three NOLOGIN group roles; a person's login is a member of one (`signoff admin add-user`):
- signoff_reviewer: sees tickets outside the escalation queue (and not in conflict or
  escalated), plus the ones it decided itself (its decision may send a ticket there, and it
  sees how its own decisions stand); decides in its own name only (decisions.reviewer =
  session_user, role 'reviewer'); sees its own audit chain and reveals.
- signoff_escalation_manager: sees every ticket and decision, decides in its own name (role
  'escalation_manager'), reads every audit chain and the reveal log.
- signoff_admin: everything (ingest, policies, retention, setup).

Every table has ENABLE and FORCE ROW LEVEL SECURITY: no policy, no row (default deny), and the
table owner is bound too. A table this module does not know gets the admin policy only, and
setup says so. Who sees personal data (`ticket_pii`) follows the store's `pii_roles` setting,
read by `signoff_sees_pii()`. Reviewers reveal through `signoff_reveal_pii(ticket_id)`, a
SECURITY DEFINER function owned by signoff_admin: it checks the caller (session_user) against
`pii_reveal_roles` and the reviewer ticket rule, writes `pii_reveals` and returns the values in
one statement, so no login reads personal data it may not see without leaving that row. (A view
would run with its owner's rights and could not write the log; a plain SELECT grant could not
audit.)

Every sync runs the circuit breaker, so staff logins may write a breaker trip into
`automation_controls` (insert one, or pause a resumed row, as source 'breaker'); only admins
pause by hand, resume or delete. A reviewer measures on the decisions it can read, so tickets
in the escalation queue count only from a manager's or admin's sync (or `signoff breaker check`).

`signoff_withdrawn_tickets(after_seq)` tells a reviewer's sync which tickets changed since its
cursor and left its view (escalated by someone else): ids and change numbers only, so its replica
can drop its stale copies; row security alone would just stop showing them.

Identity is `session_user`, the login, as in s0002's audit triggers: SET ROLE cannot change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.circuit_breaker import BREAKER, BREAKER_ACTOR
from app.core.domain import Role

REVIEWER = "signoff_reviewer"
MANAGER = "signoff_escalation_manager"
ADMIN = "signoff_admin"
GROUPS: dict[Role, str] = {Role.REVIEWER: REVIEWER, Role.ESCALATION_MANAGER: MANAGER, Role.ADMIN: ADMIN}
STAFF = (REVIEWER, MANAGER)
EVERYONE = (REVIEWER, MANAGER, ADMIN)
POLICY_PREFIX = "signoff_"

# The columns deciding a ticket changes (store_push, second reviews); never its content.
DECIDE_COLUMNS = "status, queue, due_at, priority, updated_at, change_seq"
OWN_CLIENT = "client_id IN (SELECT client_id FROM audit_clients WHERE origin = session_user)"
VISIBLE_TICKET = "ticket_id IN (SELECT id FROM tickets)"  # under the caller's own ticket policies
# An UPDATE with a WHERE must leave a row its author can still SELECT, so a reviewer's decision
# that escalates a ticket needs this; SECURITY DEFINER, or the two tables' policies would recurse.
DECIDED_BY_ME = "signoff_decided_by_me(id)"


def reviewer_tickets(alias: str = "") -> str:
    """The tickets a reviewer sees: not in the escalation queue, not in conflict or escalated."""
    p = f"{alias}." if alias else ""
    return f"{p}queue <> 'escalation' AND {p}status NOT IN ('conflict', 'escalated')"


@dataclass(frozen=True)
class Rule:
    """One policy: `command` (SELECT, INSERT, UPDATE, DELETE, ALL) for `to`, with its USING
    (which rows) and WITH CHECK (which new rows) expressions."""

    name: str
    command: str
    to: tuple[str, ...]
    using: str | None = None
    check: str | None = None

    def sql(self, table: str) -> str:
        parts = [
            f"CREATE POLICY {POLICY_PREFIX}{self.name} ON {table} FOR {self.command} TO {', '.join(self.to)}"
        ]
        if self.using is not None:
            parts.append(f"USING ({self.using})")
        if self.check is not None:
            parts.append(f"WITH CHECK ({self.check})")
        return " ".join(parts)


@dataclass(frozen=True)
class TableAccess:
    """Grants (group -> privileges) and policies of one table, besides the admin's."""

    grants: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()


def read_by_all() -> TableAccess:
    """Reference data everybody reads and only admins write."""
    return TableAccess({g: "SELECT" for g in STAFF}, (Rule("read", "SELECT", STAFF, "true"),))


def _decisions() -> TableAccess:
    own = "reviewer = session_user"
    return TableAccess(
        {g: "SELECT, INSERT, UPDATE (status, change_seq)" for g in STAFF},
        (
            # Their own decisions always, so a retried push and restore detection still find
            # them after the ticket moved to the escalation queue.
            Rule("reviewer_read", "SELECT", (REVIEWER,), f"{own} OR {VISIBLE_TICKET}"),
            Rule(
                "reviewer_decide",
                "INSERT",
                (REVIEWER,),
                check=f"{own} AND role = 'reviewer' AND {VISIBLE_TICKET}",
            ),
            Rule("reviewer_mark", "UPDATE", (REVIEWER,), VISIBLE_TICKET, "true"),
            Rule("manager_read", "SELECT", (MANAGER,), "true"),
            Rule("manager_decide", "INSERT", (MANAGER,), check=f"{own} AND role = 'escalation_manager'"),
            Rule("manager_mark", "UPDATE", (MANAGER,), "true", "true"),
        ),
    )


def _audit_chain() -> TableAccess:
    return TableAccess(
        {g: "SELECT, INSERT" for g in STAFF},
        (
            Rule("reviewer_read", "SELECT", (REVIEWER,), OWN_CLIENT),
            Rule("manager_read", "SELECT", (MANAGER,), "true"),
            Rule("push", "INSERT", STAFF, check=OWN_CLIENT),
        ),
    )


def _automation_controls() -> TableAccess:
    # Every sync runs the circuit breaker, so any staff login may write a trip: a pause by the
    # breaker, over a row that is not paused. Only admins resume, pause by hand or edit reasons.
    trip = f"paused AND source = '{BREAKER}' AND set_by = '{BREAKER_ACTOR}'"
    return TableAccess(
        {g: "SELECT, INSERT, UPDATE" for g in STAFF},
        (
            Rule("read", "SELECT", STAFF, "true"),
            Rule("trip", "INSERT", STAFF, check=trip),
            Rule("retrip", "UPDATE", STAFF, "NOT paused", trip),
        ),
    )


TABLES: dict[str, TableAccess] = {
    "store_info": read_by_all(),
    "workflows": read_by_all(),
    "reason_codes": read_by_all(),
    "retention_policy": read_by_all(),
    "retention_purges": read_by_all(),
    "counters": TableAccess(
        {g: "SELECT, UPDATE" for g in STAFF},  # every write takes change numbers here
        (Rule("read", "SELECT", STAFF, "true"), Rule("count", "UPDATE", STAFF, "true", "true")),
    ),
    "tickets": TableAccess(
        {g: f"SELECT, UPDATE ({DECIDE_COLUMNS})" for g in STAFF},
        (
            Rule("reviewer_read", "SELECT", (REVIEWER,), f"{reviewer_tickets()} OR {DECIDED_BY_ME}"),
            Rule(
                "reviewer_decide", "UPDATE", (REVIEWER,), f"{reviewer_tickets()} OR {DECIDED_BY_ME}", "true"
            ),
            Rule("manager_read", "SELECT", (MANAGER,), "true"),
            Rule("manager_decide", "UPDATE", (MANAGER,), "true", "true"),
        ),
    ),
    "ticket_revisions": TableAccess(
        {g: "SELECT" for g in STAFF},
        (
            Rule("reviewer_read", "SELECT", (REVIEWER,), VISIBLE_TICKET),
            Rule("manager_read", "SELECT", (MANAGER,), "true"),
        ),
    ),
    "decisions": _decisions(),
    "claims": TableAccess(
        {g: "SELECT, INSERT, UPDATE, DELETE" for g in STAFF},
        (
            Rule("read", "SELECT", STAFF, "true"),
            Rule("take", "INSERT", STAFF, check="holder = session_user"),
            Rule("renew", "UPDATE", STAFF, "true", "holder = session_user"),
            Rule("release", "DELETE", STAFF, "true"),  # deciding a ticket ends anyone's lease
        ),
    ),
    "audit_clients": TableAccess(
        {g: "SELECT, INSERT" for g in STAFF},
        (
            Rule("reviewer_read", "SELECT", (REVIEWER,), "origin = session_user"),
            Rule("manager_read", "SELECT", (MANAGER,), "true"),
            Rule("register", "INSERT", STAFF, check="origin = session_user"),  # s0002's trigger sets it
        ),
    ),
    "audit_entries": _audit_chain(),
    "audit_checkpoints": _audit_chain(),
    "ticket_pii": TableAccess(
        {g: "SELECT" for g in STAFF},
        (Rule("read", "SELECT", STAFF, f"signoff_sees_pii() AND {VISIBLE_TICKET}"),),
    ),
    "pii_reveals": TableAccess(  # written by signoff_reveal_pii only (as signoff_admin)
        {g: "SELECT" for g in STAFF},
        (
            Rule("reviewer_read", "SELECT", (REVIEWER,), "login = session_user"),
            Rule("manager_read", "SELECT", (MANAGER,), "true"),
        ),
    ),
    # Issue 5 part A (policy and metrics): read by everyone, written by admins, except the
    # second-review pairs a push opens and closes.
    "policies": read_by_all(),
    "automation_controls": _automation_controls(),
    "workflow_settings": read_by_all(),
    "processed_volume": read_by_all(),
    "second_reviews": TableAccess(
        {g: "SELECT, INSERT, UPDATE" for g in STAFF},
        (
            Rule("reviewer_read", "SELECT", (REVIEWER,), VISIBLE_TICKET),
            Rule("reviewer_write", "INSERT", (REVIEWER,), check=VISIBLE_TICKET),
            Rule("reviewer_close", "UPDATE", (REVIEWER,), VISIBLE_TICKET, "true"),
            Rule("manager_all", "ALL", (MANAGER,), "true", "true"),
        ),
    ),
}
NOT_SECURED = ("alembic_version",)  # Alembic's own: read-only for every group, no row security

# --- functions ---------------------------------------------------------------------------------


def _member(group: str) -> str:
    # By oid from pg_roles, so a missing group is "no", not an error.
    return (
        f"EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = '{group}' "
        "AND pg_has_role(session_user, r.oid, 'MEMBER'))"
    )


LOGIN_ROLE = f"""
CREATE OR REPLACE FUNCTION signoff_login_role() RETURNS text LANGUAGE sql STABLE AS $fn$
    SELECT CASE
        WHEN {_member(ADMIN)} THEN 'admin'
        WHEN {_member(MANAGER)} THEN 'escalation_manager'
        WHEN {_member(REVIEWER)} THEN 'reviewer'
    END
$fn$"""

DECIDED_BY_ME_FUNCTION = """
CREATE OR REPLACE FUNCTION signoff_decided_by_me(p_ticket_id integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    SELECT EXISTS (SELECT 1 FROM decisions d WHERE d.ticket_id = p_ticket_id AND d.reviewer = session_user)
$fn$"""

WITHDRAWN = f"""
CREATE OR REPLACE FUNCTION signoff_withdrawn_tickets(p_after bigint)
RETURNS TABLE (ticket_id integer, change_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    SELECT t.id, t.change_seq FROM tickets t
    WHERE t.change_seq > p_after
      AND signoff_login_role() = 'reviewer'
      AND NOT ({reviewer_tickets("t")})
      AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.ticket_id = t.id AND d.reviewer = session_user)
$fn$"""

SEES_PII = """
CREATE OR REPLACE FUNCTION signoff_sees_pii() RETURNS boolean LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(signoff_login_role() = ANY (string_to_array(
        coalesce((SELECT value FROM store_info WHERE key = 'pii_roles'), ''), ',')), false)
$fn$"""

REVEAL_PII = rf"""
CREATE OR REPLACE FUNCTION signoff_reveal_pii(p_ticket_id integer)
RETURNS TABLE (ticket_id integer, revision integer, external_id text, workflow text, fields text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
    caller text := signoff_login_role();
    sees text[] := string_to_array(coalesce((SELECT value FROM store_info WHERE key = 'pii_roles'), ''), ',');
    reveals text[] := string_to_array(
        coalesce((SELECT value FROM store_info WHERE key = 'pii_reveal_roles'), ''), ',');
    t record;
    kept text;
BEGIN
    IF caller IS NULL OR NOT (caller = ANY (sees) OR caller = ANY (reveals)) THEN
        RAISE EXCEPTION 'personal data refused: the store''s setting lets % neither see nor reveal it',
            coalesce(caller, session_user::text) USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT tk.id, tk.revision, tk.external_id, tk.workflow, tk.queue, tk.status INTO t
        FROM tickets tk WHERE tk.id = p_ticket_id;
    IF NOT FOUND OR (caller = 'reviewer' AND NOT ({reviewer_tickets("t")})) THEN
        RAISE EXCEPTION 'personal data refused: ticket % is not visible to %', p_ticket_id, session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT p.fields INTO kept FROM ticket_pii p WHERE p.ticket_id = t.id AND p.revision = t.revision;
    IF kept IS NOT NULL AND NOT caller = ANY (sees) THEN
        INSERT INTO pii_reveals (ticket_id, revision, login, role, fields, revealed_at)
        VALUES (t.id, t.revision, session_user, caller,
                (SELECT coalesce(json_agg(DISTINCT regexp_replace(k, '\[[0-9]+\]', '[]', 'g')), '[]')::text
                   FROM jsonb_object_keys(kept::jsonb) AS k),
                now());
    END IF;
    RETURN QUERY SELECT t.id, t.revision, t.external_id::text, t.workflow::text, kept;
END
$fn$"""


def function_statements() -> list[str]:
    groups = ", ".join(EVERYONE)
    return [
        LOGIN_ROLE,
        SEES_PII,
        DECIDED_BY_ME_FUNCTION,
        WITHDRAWN,
        REVEAL_PII,
        *(
            statement
            for function in (
                "signoff_reveal_pii(integer)",
                "signoff_decided_by_me(integer)",
                "signoff_withdrawn_tickets(bigint)",
            )
            for statement in (
                f"ALTER FUNCTION {function} OWNER TO {ADMIN}",
                f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC",
                f"GRANT EXECUTE ON FUNCTION {function} TO {groups}",
            )
        ),
        f"GRANT EXECUTE ON FUNCTION signoff_login_role(), signoff_sees_pii() TO {groups}",
    ]


def table_statements(table: str, existing_policies: list[str]) -> list[str]:
    """Reset one table's grants and Signoff policies to what TABLES says (admin only when it
    is not listed), with row security on and forced."""
    access = TABLES.get(table, TableAccess())
    statements = [f"REVOKE ALL ON {table} FROM {', '.join(EVERYONE)}", f"GRANT ALL ON {table} TO {ADMIN}"]
    statements += [f"GRANT {privileges} ON {table} TO {group}" for group, privileges in access.grants.items()]
    statements += [
        f"DROP POLICY {name} ON {table}" for name in existing_policies if name.startswith(POLICY_PREFIX)
    ]
    statements += [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        Rule("admin", "ALL", (ADMIN,), "true", "true").sql(table),
    ]
    statements += [rule.sql(table) for rule in access.rules]
    return statements
