"""The `signoff` command: the reviewer window by default, plus headless subcommands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from app import __version__, cli_policy
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
    parser.add_argument(
        "--allow-superuser",
        action="store_true",
        help="development only: let the review window connect as a superuser or a login that bypasses "
        "row-level security (the title bar then says so)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        child = sub.add_parser(name, help=help_text, description=help_text)
        _common(child, suppress=True)
        return child

    demo = add("demo", "open the app on a throwaway demo store (made on first use)")
    demo.add_argument("--reset", action="store_true", help="start the demo store afresh")
    demo.add_argument("--tickets", type=_positive, default=300, help="how many demo tickets (default 300)")
    demo.add_argument("--no-window", action="store_true", help="prepare the demo store only")
    demo.add_argument(
        "--no-history",
        action="store_true",
        help="only today's open tickets, without the four weeks of decisions behind the Dashboard",
    )

    add("init-store", "create a shared store, or upgrade it to this version's schema")

    ingest = add("ingest", "validate a JSON Lines file of signoff.ticket/1 and store the valid tickets")
    ingest.add_argument("file", help="the .jsonl file ('-' for standard input)")

    export = add("export", "export from the store")
    export.add_argument(
        "what",
        choices=["decisions", "labels"],
        help="decisions: signoff.decision/1 records; labels: training data per decided ticket "
        "(model input, AI output and confidence, the human decision)",
    )
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="labels: file format")
    export.add_argument(
        "--reveal-pii",
        action="store_true",
        help="labels: show personal data (only roles the store shows it to; the export is audited)",
    )

    metrics = add(
        "metrics", "every figure of the dashboard: rates, latency, SLA, calibration, drift, agreement"
    )
    metrics.add_argument("--json", action="store_true", help="print every figure as one JSON object")
    metrics.add_argument("--workflow", help="only this workflow")
    metrics.add_argument("--model-version", help="only tickets of this model version")
    metrics.add_argument("--queue", help="only tickets in this queue")
    metrics.add_argument("--since", help="tickets created from this UTC day (YYYY-MM-DD)")
    metrics.add_argument("--until", help="tickets created up to and including this UTC day (YYYY-MM-DD)")
    metrics.add_argument(
        "--target", type=float, default=0.95, help="precision auto-approval must reach (default 0.95)"
    )
    metrics.add_argument(
        "--set-shadow", choices=["on", "off"], help="with --workflow: shadow mode on or off (administrators)"
    )
    metrics.add_argument(
        "--set-second-review-share",
        type=float,
        help="with --workflow: share of tickets (0 to 1) a second reviewer decides blind (administrators)",
    )

    volume = add("volume", "store the pipeline's processed volume per workflow and day (JSON Lines or CSV)")
    volume.add_argument("file", help="the .jsonl or .csv file ('-' for standard input)")

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
    cli_policy.add_commands(add)  # sample, breaker, policy
    _add_admin(add("admin", "administer a store: roles on Postgres, who sees personal data"))
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
    if args.what == "labels":
        return _export_labels(args, url)
    from app.core.decision_export import write_decisions

    try:
        store = Store.open(_with_saved_password(url))
        out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
        try:
            count = write_decisions(store, out)
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


def _record_export(
    args: argparse.Namespace, url: str, count: int, fmt: str = "jsonl", query: dict[str, Any] | None = None
) -> None:
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
                fmt=fmt, rows=count, query=query or {"what": "decisions"}, file_name=args.output or "<stdout>"
            ),
        )
    finally:
        replica.close()


def _export_labels(args: argparse.Namespace, url: str) -> int:
    from app.core import labels
    from app.core.store import Store, StoreError

    _actor, role = _audit_actor(args)
    try:
        store = Store.open(_with_saved_password(url))
        try:
            if args.reveal_pii and not labels.may_reveal(store, role):
                raise labels.LabelsError(f"--reveal-pii: the store does not show personal data to {role}")
            # newline="": the csv module writes its own line ends.
            out: TextIO = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
            try:
                count = labels.write_labels(store, out, args.format, reveal=args.reveal_pii, role=role)
            finally:
                if args.output:
                    out.close()
        finally:
            store.close()
    except labels.LabelsError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except StoreError as error:
        return _fail_store(error)
    pii = "revealed" if args.reveal_pii else "masked"
    _record_export(args, url, count, args.format, {"what": "labels", "pii": pii})
    where = f" to {args.output}" if args.output else ""
    print(f"exported {count} label{'s' if count != 1 else ''}{where} (personal data {pii})", file=sys.stderr)
    return EXIT_OK


def _utc_day(text: str | None, *, after: bool = False) -> Any:
    """A YYYY-MM-DD option as the UTC midnight starting it (or, `after`, ending it)."""
    from datetime import UTC, date, datetime, timedelta

    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a day (YYYY-MM-DD)") from None
    return datetime.combine(day + timedelta(days=1 if after else 0), datetime.min.time(), tzinfo=UTC)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from contextlib import redirect_stdout

    from app.core import audit
    from app.core.metrics import workflow_settings
    from app.core.metrics.query import MetricsFilter
    from app.core.metrics.report import build_report
    from app.core.metrics.summary import describe
    from app.core.store import Store, StoreError

    url = _store_url(args)
    assert url
    filt = MetricsFilter(
        workflow=args.workflow,
        model_version=args.model_version,
        queue=args.queue,
        since=_utc_day(args.since),
        until=_utc_day(args.until, after=True),
    )
    if not 0 < args.target < 1:
        raise UsageError(f"--target is a precision between 0 and 1, not {args.target}")
    changing = args.set_shadow is not None or args.set_second_review_share is not None
    if changing and not args.workflow:
        raise UsageError("--set-shadow and --set-second-review-share need --workflow")
    actor, role = _audit_actor(args)
    changes: dict[str, tuple[Any, Any]] = {}
    try:
        store = Store.open(_with_saved_password(url))
        try:
            if changing:
                before, after = workflow_settings.change(
                    store,
                    args.workflow,
                    actor=actor,
                    role=role,
                    shadow_mode=None if args.set_shadow is None else args.set_shadow == "on",
                    second_review_share=args.set_second_review_share,
                )
                diff = workflow_settings.differences(before, after).items()
                changes = {f"{args.workflow}.{name}": change for name, change in diff}
            store_id = store.store_id
            report = build_report(store, filt, role=role, target=args.target)
        finally:
            store.close()
    except workflow_settings.SettingsError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except StoreError as error:
        return _fail_store(error)
    if changes:
        with redirect_stdout(sys.stderr):  # standard output carries the figures only
            _record_in_local_log(args, store_id, audit.AuditEvent.POLICY_CHANGED, audit.changes_data(changes))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print("\n".join(describe(report)))
    return EXIT_OK


def _cmd_volume(args: argparse.Namespace) -> int:
    from app.core.store import Store, StoreError
    from app.core.volume import report_volume

    url = _store_url(args)
    assert url
    if args.file != "-" and not Path(args.file).is_file():
        raise UsageError(f"{args.file}: no such file")
    try:
        store = Store.open(_with_saved_password(url))
        try:
            with sys.stdin.buffer if args.file == "-" else open(args.file, "rb") as stream:
                report = report_volume(store, stream)
        finally:
            store.close()
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not a UTF-8 text file") from None
    except StoreError as error:
        return _fail_store(error)
    name = "<stdin>" if args.file == "-" else args.file
    for error in report.errors:
        print(error.format(name), file=sys.stderr)
    print(f"{name}: {report.summary()}")
    return EXIT_REJECTED if report.errors else EXIT_OK


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
    url = prepare_demo(home, tickets=args.tickets, reset=args.reset, history=not args.no_history)
    if args.no_window:
        print(f"demo store ready: {url}")
        return EXIT_OK
    return _run_app()(home=home, store_url=url, demo=True, reviewer=args.reviewer)


def _cmd_smoke(args: argparse.Namespace) -> int:
    from app.ui.smoke import run_smoke

    return run_smoke(home=getattr(args, "home", None), reviewer=getattr(args, "reviewer", None))


def _run_app() -> Callable[..., int]:
    """The window's entry point, imported after the GUI-free core: once PySide6 is loaded it reads
    the source of every module imported after it (its __feature__ hook), tens of milliseconds of start-up."""
    import gc

    # Importing makes ~150k objects that live as long as the process: the cyclic collector would
    # scan them again and again while they load (~50 ms of start-up) and at every later full
    # collection. Collect nothing while importing, then set them aside for good.
    gc.disable()
    try:
        import app.core.workspace  # noqa: F401
        from app.ui.application import run_app
    finally:
        gc.freeze()
        gc.enable()
    return run_app


def _run_gui(args: argparse.Namespace) -> int:
    home = _home(args)
    return _run_app()(
        home=home,
        store_url=_store_url(args, required=False),
        demo=False,
        reviewer=args.reviewer,
        allow_superuser=args.allow_superuser,
    )


# --- signoff admin: roles (Postgres) and the personal-data setting ----------------------------


def _add_admin(admin: argparse.ArgumentParser) -> None:
    sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND", required=True)

    def child(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        _common(parser, suppress=True)
        return parser

    child(
        "setup-postgres",
        "create or upgrade the store, then its group roles, grants and row-level security "
        "(run as a superuser or the tables' owner with CREATEROLE; run again after every upgrade)",
    )
    user = child("add-user", "create a person's Postgres login in one Signoff role (or move it to another)")
    user.add_argument("login", help="the Postgres login name (the reviewer name decisions carry)")
    user.add_argument(
        "--role",
        choices=["reviewer", "escalation_manager", "admin"],
        default="reviewer",
        help="default reviewer",
    )
    how = user.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument(
        "--no-password",
        action="store_true",
        help="set no password (certificate, peer or GSSAPI authentication)",
    )
    personal = child("pii", "show or set who sees personal data and who may reveal it (audited)")
    personal.add_argument("--see", help="roles that see personal data, comma-separated, or 'none'")
    personal.add_argument("--reveal", help="roles that may reveal it per ticket, comma-separated, or 'none'")


def _cmd_admin(args: argparse.Namespace) -> int:
    from app.core.pii import PiiPolicyError
    from app.core.pii_access import PiiRefused
    from app.core.roles import RolesError
    from app.core.store import StoreError

    url = _store_url(args)
    assert url
    commands = {"setup-postgres": _admin_setup, "add-user": _admin_add_user, "pii": _admin_pii}
    try:
        return commands[args.admin_command](args, _with_saved_password(url))
    except (RolesError, PiiRefused, PiiPolicyError) as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except StoreError as error:
        return _fail_store(error)


def _admin_setup(args: argparse.Namespace, url: str) -> int:
    from app.core import roles
    from app.core.store import Store

    store = Store.initialize(url)
    try:
        report = roles.setup_postgres(store)
    finally:
        store.close()
    print(report.describe())
    return EXIT_OK


def _new_password(args: argparse.Namespace) -> str | None:
    """Never from the command line (shell history, process list): a prompt, or standard input."""
    import getpass

    if args.no_password:
        return None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask the password on: use --password-stdin or --no-password")
        password = getpass.getpass(f"password for {args.login}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    if not password:
        raise UsageError("empty password (use --no-password for logins without one)")
    return password


def _admin_add_user(args: argparse.Namespace, url: str) -> int:
    from app.core import roles
    from app.core.domain import Role
    from app.core.store import Store

    password = _new_password(args)
    store = Store.open(url)
    try:
        created = roles.add_user(store, args.login, Role(args.role), password)
    finally:
        store.close()
    print(f"{args.login}: {'created' if created else 'updated'}, role {args.role}")
    return EXIT_OK


def _admin_pii(args: argparse.Namespace, url: str) -> int:
    from app.core import audit, pii, pii_access, roles
    from app.core.store import Store

    def roles_of(text: str | None, current: tuple[str, ...]) -> tuple[str, ...]:
        if text is None:
            return current
        return () if text.strip().lower() == "none" else pii.parse_roles(text)

    store = Store.open(url)
    try:
        current = pii_access.load_policy(store)
        changes: dict[str, tuple[Any, Any]] = {}
        if args.see is not None or args.reveal is not None:
            wanted = pii.PiiPolicy(roles_of(args.see, current.see), roles_of(args.reveal, current.reveal))
            found = roles.identity(store)  # on Postgres the login's role; the database decides anyway
            role = str(found.role) if found is not None and found.role is not None else _audit_actor(args)[1]
            changes = pii_access.save_policy(store, wanted, role=role)
            current = wanted
        store_id = store.store_id
    finally:
        store.close()
    print(current.describe())
    if changes:
        _record_in_local_log(args, store_id, audit.AuditEvent.POLICY_CHANGED, audit.changes_data(changes))
    if store.is_sqlite:
        print(f"note: {roles.ADVISORY}")
    return EXIT_OK


_HANDLERS = {
    "init-store": _cmd_init_store,
    "ingest": _cmd_ingest,
    "export": _cmd_export,
    "metrics": _cmd_metrics,
    "volume": _cmd_volume,
    "audit": _cmd_audit,
    "sync": _cmd_sync,
    "demo": _cmd_demo,
    "smoke": _cmd_smoke,
    "admin": _cmd_admin,
}
_HANDLERS.update(cli_policy.HANDLERS)

if __name__ == "__main__":
    sys.exit(main())
