"""The `signoff` command: the reviewer window by default, plus headless subcommands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from app import __version__
from app.paths import home_dir

STORE_ENV = "SIGNOFF_STORE"
EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3


class UsageError(Exception):
    pass


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # SUPPRESS on the subcommand copies: otherwise their defaults overwrite values given
    # before the subcommand name (a long-standing argparse trap).
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--store",
        default=default,
        help=f"shared store as a SQLAlchemy URL (sqlite:///path.db or postgresql+psycopg://…); "
        f"default ${STORE_ENV}",
    )
    parser.add_argument(
        "--home",
        default=default,
        help="folder for this installation's replica, audit log and settings (default $SIGNOFF_HOME, "
        "else the platform's user data folder)",
    )
    parser.add_argument(
        "--reviewer", default=default, help="reviewer name for this run (default: the OS user)"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signoff", description="Signoff: review the tickets your AI pipelines hand to people."
    )
    parser.add_argument("--version", action="version", version=f"signoff {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        child = sub.add_parser(name, help=help_text, description=help_text)
        _common(child, suppress=True)
        return child

    demo = add("demo", "open the app on a throwaway demo store (made on first use)")
    demo.add_argument("--reset", action="store_true", help="start the demo store afresh")
    demo.add_argument("--tickets", type=_positive, default=300, help="how many demo tickets (default 300)")
    demo.add_argument("--no-window", action="store_true", help="prepare the demo store only")

    add("init-store", "create a shared store, or upgrade it to this version's schema")

    ingest = add("ingest", "validate a JSON Lines file of signoff.ticket/1 and store the valid tickets")
    ingest.add_argument("file", help="the .jsonl file ('-' for standard input)")

    export = add("export", "export from the store")
    export.add_argument("what", choices=["decisions"], help="what to export")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")

    audit = add("audit", "the audit trail: verify it, purge it under the retention policy, set the policy")
    audit.add_argument(
        "what",
        choices=["verify", "purge", "policy"],
        help="verify: check this installation's hash chains, or with --store every installation's chain "
        "in that store; purge: apply the store's retention policy; policy: show or set it",
    )
    audit.add_argument("--dry-run", action="store_true", help="purge: only say what would be removed")
    audit.add_argument("--interaction-days", help="policy: days to keep raw interaction text (or 'keep')")
    audit.add_argument(
        "--decision-log-days", help="policy: days to keep decision notes and log payloads (or 'keep')"
    )
    audit.add_argument("--purge-roles", help="policy: comma-separated roles allowed to purge (e.g. admin)")

    add("sync", "one sync cycle with the store (push decisions, pull tickets), headless")
    add("smoke", "start the window offscreen, decide one ticket, exit (packaging self-test)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from sqlalchemy.exc import ArgumentError

    from app.core.db import StoreConfigError

    try:
        handler = _HANDLERS.get(args.command or "", _run_gui)
        return handler(args)
    except UsageError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ArgumentError:
        url = _store_url(args, required=False) or ""
        hint = f"; did you mean sqlite:///{Path(url).resolve()} ?" if url and "://" not in url else ""
        print(
            f"signoff: {url!r} is not a store URL (sqlite:///path/to/shared.db or "
            f"postgresql+psycopg://role@host:5432/db){hint}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except StoreConfigError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `signoff export … | head` is fine
        return EXIT_OK


def _store_url(args: argparse.Namespace, *, required: bool = True) -> str | None:
    url = getattr(args, "store", None) or os.environ.get(STORE_ENV)
    if not url and required:
        raise UsageError(f"no store given: pass --store URL or set {STORE_ENV}")
    return url


def _with_saved_password(url: str) -> str:
    """A Postgres URL without a password gets the one saved in the OS keyring, if any."""
    from app.core.credentials import SessionPasswords, resolve_store_url

    return resolve_store_url(url, keyring_timeout_s=4.0, session=SessionPasswords()).url


def _home(args: argparse.Namespace) -> Path:
    return home_dir(getattr(args, "home", None))


def _fail_store(error: Exception) -> int:
    print(f"signoff: {error}", file=sys.stderr)
    return EXIT_STORE


def _cmd_init_store(args: argparse.Namespace) -> int:
    from app.core.store import Store, StoreError, redact_url

    url = _store_url(args)
    assert url
    try:
        store = Store.initialize(_with_saved_password(url))
    except StoreError as error:
        return _fail_store(error)
    print(f"store ready: {redact_url(url)} (id {store.store_id})")
    for warning in store.warnings():
        print(f"signoff: warning: {warning}", file=sys.stderr)
    store.close()
    return EXIT_OK


def _cmd_ingest(args: argparse.Namespace) -> int:
    from app.core.ingest import ingest_file
    from app.core.store import Store, StoreError

    url = _store_url(args)
    assert url
    source = Path(args.file)
    if args.file != "-":
        if source.is_dir():
            raise UsageError(f"{args.file}: is a folder, not a JSON Lines file")
        if not source.is_file():
            raise UsageError(f"{args.file}: no such file")
        with source.open("rb") as head:
            if b"\x00" in head.read(8192):
                raise UsageError(f"{args.file}: binary data, not a JSON Lines text file (UTF-8)")
    try:
        store = Store.open(_with_saved_password(url))
    except StoreError as error:
        return _fail_store(error)
    try:
        stream = sys.stdin.buffer if args.file == "-" else source.open("rb")
        with stream:
            report = ingest_file(store, stream)
    except StoreError as error:
        return _fail_store(error)
    finally:
        store.close()
    name = "<stdin>" if args.file == "-" else args.file
    for error in report.errors:
        print(error.format(name), file=sys.stderr)
    print(f"{name}: {report.summary()}")
    return EXIT_REJECTED if report.errors else EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from app.core.store import Store, StoreError

    url = _store_url(args)
    assert url
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise UsageError(f"{args.output}: its folder does not exist")
    try:
        store = Store.open(_with_saved_password(url))
        out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
        try:
            count = _write_jsonl(store.iter_decisions(), out)
        finally:
            if args.output:
                out.close()
    except StoreError as error:
        return _fail_store(error)
    _record_export(args, url, count)
    print(
        f"exported {count} decision{'s' if count != 1 else ''}"
        + (f" to {args.output}" if args.output else ""),
        file=sys.stderr,
    )
    return EXIT_OK


def _record_export(args: argparse.Namespace, url: str, count: int) -> None:
    """Exports leave the application: audit them in this installation's log of that store."""
    from app.core import audit
    from app.core.domain import Role
    from app.core.replica import Replica, replica_path
    from app.core.settings import Settings, without_password

    home = _home(args)
    settings = Settings.load(home)
    store_id = settings.known_stores.get(without_password(url))
    if store_id is None or not replica_path(home, store_id).exists():
        return  # this installation never opened that store: it has no log of it to write to
    replica = Replica.open(replica_path(home, store_id))
    try:
        replica.record_event(
            audit.AuditEvent.EXPORT_MADE,
            actor=getattr(args, "reviewer", None) or settings.reviewer,
            role=Role(settings.role),
            data=audit.export_data(
                fmt="jsonl", rows=count, query={"what": "decisions"}, file_name=args.output or "<stdout>"
            ),
        )
    finally:
        replica.close()


def _write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count += 1
    out.flush()
    return count


def _cmd_audit(args: argparse.Namespace) -> int:
    if args.what == "verify":
        # Only an explicit --store: $SIGNOFF_STORE must not turn a local check into a remote one.
        store_url = getattr(args, "store", None)
        return _audit_verify_store(args, store_url) if store_url else _audit_verify_local(args)
    if args.what == "purge":
        return _audit_purge(args)
    return _audit_policy(args)


def _audit_verify_local(args: argparse.Namespace) -> int:
    from app.core.audit import verify_file

    home = _home(args)
    replicas = sorted((home / "replicas").glob("*.sqlite3"))
    if not replicas:
        print(f"no audit log under {home} yet")
        return EXIT_OK
    worst = EXIT_OK
    for path in replicas:
        result = verify_file(path)
        print(f"{path.name}: {result.describe()}")
        if not result.ok:
            worst = EXIT_REJECTED
    return worst


def _audit_verify_store(args: argparse.Namespace, url: str) -> int:
    from app.core import audit_store
    from app.core.replica import Replica, replica_path
    from app.core.store import Store, StoreError

    try:
        store = Store.open(_with_saved_password(url))
    except StoreError as error:
        return _fail_store(error)
    try:
        report = audit_store.verify_store(store)
        print(report.describe())
        ok = report.ok
        local = replica_path(_home(args), store.store_id)
        if local.exists():  # this installation's own log against the store's copy of it
            replica = Replica.open(local)
            try:
                result = audit_store.verify_local_against_store(replica, store)
            finally:
                replica.close()
            print(f"this installation ({local.name}) against the store: {result.describe()}")
            ok = ok and result.ok
    except StoreError as error:
        return _fail_store(error)
    finally:
        store.close()
    return EXIT_OK if ok else EXIT_REJECTED


def _audit_actor(args: argparse.Namespace) -> tuple[str, str]:
    from app.core.settings import Settings

    settings = Settings.load(_home(args))
    return getattr(args, "reviewer", None) or settings.reviewer, settings.role


def _record_in_local_log(args: argparse.Namespace, store_id: str, event: str, data: dict[str, Any]) -> None:
    """Audit an action on the store in this installation's chain, when it has one for that store."""
    from app.core.domain import Role
    from app.core.replica import Replica, replica_path

    path = replica_path(_home(args), store_id)
    if not path.exists():
        print(f"(no local audit log for this store under {_home(args)}: recorded in the store only)")
        return
    actor, role = _audit_actor(args)
    replica = Replica.open(path)
    try:
        replica.record_event(event, actor=actor, role=Role(role), data=data)
    finally:
        replica.close()


def _audit_purge(args: argparse.Namespace) -> int:
    from app.core import retention
    from app.core.audit import AuditEvent
    from app.core.store import Store, StoreError, redact_url

    url = _store_url(args)
    assert url
    actor, role = _audit_actor(args)
    try:
        store = Store.open(_with_saved_password(url))
        try:
            report = retention.purge_store(store, actor=actor, role=role, dry_run=args.dry_run)
            store_id = store.store_id
        finally:
            store.close()
    except retention.RetentionError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except StoreError as error:
        return _fail_store(error)
    print(report.describe())
    if report.anything and not report.dry_run:
        _record_in_local_log(
            args, store_id, AuditEvent.RETENTION_PURGE, retention.store_purge_data(report, redact_url(url))
        )
    return EXIT_OK


def _days(value: str | None, current: int | None) -> int | None:
    if value is None:
        return current
    if value.strip().lower() in ("keep", "none", "forever"):
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a number of days (or 'keep')") from None


def _audit_policy(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from app.core import audit, retention
    from app.core.store import Store, StoreError

    url = _store_url(args)
    assert url
    changing = any(
        getattr(args, name) is not None for name in ("interaction_days", "decision_log_days", "purge_roles")
    )
    actor, role = _audit_actor(args)
    changes: dict[str, tuple[Any, Any]] = {}
    try:
        store = Store.open(_with_saved_password(url))
        try:
            current = retention.load_policy(store)
            if changing:
                roles = current.purge_roles
                if args.purge_roles is not None:
                    roles = tuple(r.strip() for r in args.purge_roles.split(",") if r.strip())
                wanted = replace(
                    current,
                    interaction_days=_days(args.interaction_days, current.interaction_days),
                    decision_log_days=_days(args.decision_log_days, current.decision_log_days),
                    purge_roles=roles,
                )
                saved = retention.save_policy(store, wanted, actor=actor, role=role)
                changes = retention.policy_changes(current, saved)
                current = saved
            store_id = store.store_id
        finally:
            store.close()
    except retention.RetentionError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except StoreError as error:
        return _fail_store(error)
    print(f"retention policy: {current.describe()}")
    if changes:
        _record_in_local_log(args, store_id, audit.AuditEvent.POLICY_CHANGED, audit.changes_data(changes))
    return EXIT_OK


def _cmd_sync(args: argparse.Namespace) -> int:
    from app.core.store import StoreError
    from app.core.workspace import open_workspace

    home = _home(args)
    url = _store_url(args, required=False) or _last_store(home)
    try:
        workspace = open_workspace(home, _with_saved_password(url))
    except StoreError as error:
        return _fail_store(error)
    if getattr(args, "reviewer", None):
        workspace.settings.reviewer = args.reviewer
    try:
        syncer = workspace.syncer()
        if syncer is None:
            return _fail_store(StoreError(workspace.store_error or "store unreachable"))
        report = syncer.run_once()
    finally:
        workspace.close()
    print(f"sync: {report.describe()}")
    for decision_id, reason in report.refused.items():
        print(f"  refused {decision_id}: {reason}")
    return EXIT_OK if report.ok else EXIT_STORE


def _last_store(home: Path) -> str:
    from app.core.settings import Settings

    last = Settings.load(home).last_store
    if not last:
        raise UsageError(f"no store given: pass --store URL or set {STORE_ENV}")
    return last


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.core.demo import prepare_demo

    home = _home(args)
    url = prepare_demo(home, tickets=args.tickets, reset=args.reset)
    if args.no_window:
        print(f"demo store ready: {url}")
        return EXIT_OK
    from app.ui.application import run_app

    return run_app(home=home, store_url=url, demo=True, reviewer=args.reviewer)


def _cmd_smoke(args: argparse.Namespace) -> int:
    from app.ui.smoke import run_smoke

    return run_smoke(home=getattr(args, "home", None), reviewer=getattr(args, "reviewer", None))


def _run_gui(args: argparse.Namespace) -> int:
    from app.ui.application import run_app

    home = _home(args)
    return run_app(home=home, store_url=_store_url(args, required=False), demo=False, reviewer=args.reviewer)


_HANDLERS = {
    "init-store": _cmd_init_store,
    "ingest": _cmd_ingest,
    "export": _cmd_export,
    "audit": _cmd_audit,
    "sync": _cmd_sync,
    "demo": _cmd_demo,
    "smoke": _cmd_smoke,
}

if __name__ == "__main__":
    sys.exit(main())
