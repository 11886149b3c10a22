"""Roles in a Postgres store: setting them up, adding people, and checking the login a
reviewer window connects with.

On Postgres the database enforces the roles (grants and row-level security: see
`roles_policies`). `setup_postgres` (run by an administrator: a superuser, or a role with
CREATEROLE that owns the tables) creates the group roles, applies grants and policies, and
can be re-run any time, and must be after every `signoff init-store` upgrade that adds tables.
`add_user` makes a person's login a member of one group; the password is sent to the server
already hashed (SCRAM), so it never appears in a statement log.

`check_reviewer_login` is for the reviewer window only (admin commands connect as whoever
administers the store). It refuses a login that row security would not bind:
- a superuser or a BYPASSRLS role: row security never applies to them;
- the owner of the tables (or a member of the owner role): FORCE ROW LEVEL SECURITY binds an
  owner, but the owner may switch it off (ALTER TABLE … NO FORCE / DISABLE ROW LEVEL
  SECURITY) or drop the policies at will, so the rules would hold only by its good will;
- any login on a store where setup-postgres has not run (no forced row security on tickets).
It also refuses a login that is in no Signoff group. `--allow-superuser` lets a developer past
the first three, and the window title then says DEVELOPMENT_TITLE.

On a SQLite file there are no logins: roles are advisory (the settings' role), and every
check passes with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from app.core.domain import Role
from app.core.roles_policies import (
    EVERYONE,
    GROUPS,
    NOT_SECURED,
    TABLES,
    function_statements,
    table_statements,
)
from app.core.store import Store
from app.core.store_errors import StoreError, translate_errors

DEVELOPMENT_TITLE = "DEVELOPMENT: superuser, row security off"
ADVISORY = "roles are advisory on a SQLite store: anyone who can open the file can read and change it"


class RolesError(StoreError):
    """A roles request that cannot be carried out as asked; the message says why."""


# --- who is connected ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginCheck:
    ok: bool
    login: str | None = None
    role: Role | None = None  # the login's Signoff role (None: in no Signoff group, or SQLite)
    problem: str | None = None  # why the window must not connect with this login
    bypasses_rls: bool = False  # superuser, BYPASSRLS or table owner: what --allow-superuser allows
    note: str | None = None  # something to tell the user even when ok (SQLite: advisory)

    def allowed(self, *, allow_superuser: bool = False) -> bool:
        """Whether the window may go on; with `allow_superuser` also a login that bypasses row
        security (development: say DEVELOPMENT_TITLE in the title bar)."""
        return self.ok or (allow_superuser and self.bypasses_rls)


def _login_facts(conn: Connection) -> dict[str, object]:
    row = conn.execute(
        text(
            "SELECT session_user AS login, r.rolsuper, r.rolbypassrls, "
            "c.relrowsecurity, c.relforcerowsecurity, "
            "pg_has_role(session_user, c.relowner, 'MEMBER') AS owner, "
            "pg_get_userbyid(c.relowner) AS owner_name, "
            "to_regprocedure('signoff_login_role()') IS NOT NULL AS has_roles "
            "FROM pg_roles r, pg_class c "
            "WHERE r.rolname = session_user AND c.oid = to_regclass('tickets')"
        )
    ).one()
    facts = dict(row._mapping)
    facts["role"] = conn.execute(text("SELECT signoff_login_role()")).scalar() if row.has_roles else None
    return facts


def check_reviewer_login(store: Store) -> LoginCheck:
    """Whether a reviewer window may work through this store connection (see module doc)."""
    if store.is_sqlite:
        return LoginCheck(ok=True, note=ADVISORY)
    with translate_errors(store.url), store.engine.connect() as conn:
        facts = _login_facts(conn)
    login = str(facts["login"])
    role = Role(str(facts["role"])) if facts["role"] else None
    setup_hint = "an administrator must run: signoff admin setup-postgres --store URL"
    bypass = None
    if facts["rolsuper"]:
        bypass = f"{login} is a superuser: row-level security does not apply to it"
    elif facts["rolbypassrls"]:
        bypass = f"{login} has BYPASSRLS: row-level security does not apply to it"
    elif facts["owner"]:
        bypass = (
            f"{login} owns the store's tables (as {facts['owner_name']}) and could switch row-level "
            "security off"
        )
    if bypass:
        problem = (
            f"Signoff will not open the review window as {login}: {bypass}. Connect with a "
            "reviewer's own login (signoff admin add-user), or start with --allow-superuser "
            "for development."
        )
        return LoginCheck(False, login, role, problem, bypasses_rls=True)
    if not (facts["relrowsecurity"] and facts["relforcerowsecurity"]):
        return LoginCheck(False, login, role, f"row-level security is not set up on this store; {setup_hint}")
    if role is None:
        return LoginCheck(
            False,
            login,
            None,
            f"{login} is not a Signoff user (in no signoff_* group); an administrator must run: "
            f"signoff admin add-user --store URL {login} --role reviewer",
        )
    return LoginCheck(True, login, role)


class LoginRefused(StoreError):
    """The review window must not work through this login; the message says why and what to do."""


@dataclass(frozen=True)
class WindowLogin:
    """What the review window needs from the check: who the store says this is (Postgres), and
    whether it runs in development mode (a login that bypasses row security, let in by
    --allow-superuser)."""

    login: str | None  # the name decisions and claims must carry on Postgres; None on SQLite
    role: Role | None
    development: bool = False
    note: str | None = None

    @property
    def title_note(self) -> str:
        return DEVELOPMENT_TITLE if self.development else ""


def admit_reviewer_window(store: Store, *, allow_superuser: bool = False) -> WindowLogin:
    """`check_reviewer_login`, as the window uses it: the login to work as, or LoginRefused."""
    check = check_reviewer_login(store)
    if not check.allowed(allow_superuser=allow_superuser):
        raise LoginRefused(check.problem or "this login may not open the review window")
    return WindowLogin(check.login, check.role, development=not check.ok, note=check.note)


@dataclass(frozen=True)
class StoreIdentity:
    """Who the store says this connection is: on Postgres the login (decisions, claims and the
    audit origin must carry it) and its group's role."""

    login: str
    role: Role | None


def identity(store: Store) -> StoreIdentity | None:
    """The connection's login and Signoff role on Postgres; None on SQLite (no logins)."""
    if store.is_sqlite:
        return None
    with translate_errors(store.url), store.engine.connect() as conn:
        facts = _login_facts(conn)
    return StoreIdentity(str(facts["login"]), Role(str(facts["role"])) if facts["role"] else None)


def withdrawn_tickets(store: Store, after_seq: int) -> list[int]:
    """Tickets changed after `after_seq` that this login can no longer see (a reviewer's, once
    someone else escalated them): its replica should drop its copies. Empty on SQLite, for
    roles that see every ticket, and on a store without setup-postgres."""
    return [ticket_id for ticket_id, _ in withdrawn_changes(store, after_seq)]


def withdrawn_changes(store: Store, after_seq: int) -> list[tuple[int, int]]:
    """`withdrawn_tickets` with the change number at which each left this login's view."""
    if store.is_sqlite:
        return []
    with translate_errors(store.url), store.engine.connect() as conn:
        if conn.execute(text("SELECT to_regprocedure('signoff_withdrawn_tickets(bigint)')")).scalar() is None:
            return []
        rows = conn.execute(
            text("SELECT ticket_id, change_seq FROM signoff_withdrawn_tickets(:after) ORDER BY change_seq"),
            {"after": after_seq},
        )
        return [(r.ticket_id, r.change_seq) for r in rows]


# --- setting up ---------------------------------------------------------------------------------


def _ddl(conn: Connection, statement: str) -> None:
    """DDL as written: no parameters, so a % in a function body stays a %."""
    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


@dataclass
class SetupReport:
    created_roles: list[str] = field(default_factory=list)
    secured_tables: list[str] = field(default_factory=list)
    admin_only_tables: list[str] = field(default_factory=list)  # tables TABLES does not know

    def describe(self) -> str:
        lines = [
            f"group roles: {', '.join(EVERYONE)}"
            + (f" (created {', '.join(self.created_roles)})" if self.created_roles else " (already there)"),
            f"row-level security forced on {len(self.secured_tables)} tables, default deny",
        ]
        if self.admin_only_tables:
            lines.append(
                "warning: no policy for "
                + ", ".join(self.admin_only_tables)
                + ": only signoff_admin can use them (add them to app/core/roles_policies.py)"
            )
        return "\n".join(lines)


def _require_postgres(store: Store) -> None:
    if store.is_sqlite:
        raise RolesError(f"a SQLite store has no database roles; {ADVISORY}")


def setup_postgres(store: Store) -> SetupReport:
    """Create the group roles, grants, functions and row-level security policies (idempotent:
    every run resets them to what this version of Signoff says)."""
    _require_postgres(store)
    report = SetupReport()
    with translate_errors(store.url), store.engine.begin() as conn:
        me = conn.execute(
            text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).one()
        if not (me.rolsuper or me.rolcreaterole):
            raise RolesError(
                "setting up roles needs a superuser or a role with CREATEROLE that owns the store's tables"
            )
        existing = set(
            conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"), {"names": list(EVERYONE)}
            ).scalars()
        )
        for group in EVERYONE:
            if group not in existing:
                _ddl(conn, f"CREATE ROLE {group} NOLOGIN")
                report.created_roles.append(group)
        if not me.rolsuper:
            # FORCE binds the owner too: a non-superuser owner works through the admin policies.
            _ddl(conn, f"GRANT {GROUPS[Role.ADMIN]} TO current_user")
        for statement in function_statements():
            _ddl(conn, statement)
        groups = ", ".join(EVERYONE)
        _ddl(conn, f"GRANT USAGE ON SCHEMA public TO {groups}")
        _ddl(conn, f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {groups}")
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
        for table in list(tables):
            if table in NOT_SECURED:
                _ddl(conn, f"GRANT SELECT ON {table} TO {groups}")
                continue
            policies = list(
                conn.execute(
                    text(
                        "SELECT policyname FROM pg_policies "
                        "WHERE schemaname = current_schema() AND tablename = :t"
                    ),
                    {"t": table},
                ).scalars()
            )
            for statement in table_statements(table, policies):
                _ddl(conn, statement)
            report.secured_tables.append(table)
            if table not in TABLES:
                report.admin_only_tables.append(table)
    return report


# --- people -------------------------------------------------------------------------------------


def add_user(store: Store, login: str, role: Role, password: str | None) -> bool:
    """Create (or update) a LOGIN role in exactly one Signoff group. `password` None leaves an
    existing password alone (or sets none, for certificate or peer authentication). Returns
    True when the login was created. Refuses names of the groups themselves and superusers."""
    _require_postgres(store)
    if not login or login in EVERYONE or login.startswith("pg_"):
        raise RolesError(f"{login!r} cannot be a Signoff login")
    from psycopg import sql  # the driver's own quoting for DDL, which takes no parameters

    with translate_errors(store.url), store.engine.begin() as conn:
        raw = conn.connection.driver_connection
        found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :l"), {"l": login}).first()
        if found is not None and found.rolsuper:
            raise RolesError(f"{login} is a superuser: a reviewer window would refuse it")
        have = set(
            conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"), {"n": list(EVERYONE)}
            ).scalars()
        )
        if GROUPS[role] not in have:
            raise RolesError(
                "the Signoff group roles do not exist yet: run signoff admin setup-postgres first"
            )
        statement = sql.SQL("CREATE ROLE {} LOGIN" if found is None else "ALTER ROLE {} LOGIN").format(
            sql.Identifier(login)
        )
        if password is not None:
            verifier = raw.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(verifier.decode()))
        _ddl(conn, statement.as_string(raw))
        for other_role, group in GROUPS.items():
            if other_role != role and group in have:
                _ddl(
                    conn,
                    sql.SQL("REVOKE {} FROM {}")
                    .format(sql.Identifier(group), sql.Identifier(login))
                    .as_string(raw),
                )
        _ddl(
            conn,
            sql.SQL("GRANT {} TO {}")
            .format(sql.Identifier(GROUPS[role]), sql.Identifier(login))
            .as_string(raw),
        )
    return found is None
