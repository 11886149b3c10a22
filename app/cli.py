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
        "--home", default=default, help="folder for this installation's replica, audit log and settings"
    )
    parser.add_argument(
        "--reviewer", default=default, help="reviewer name for this run (default: the OS user)"
    )


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
    demo.add_argument("--tickets", type=int, default=300, help="how many demo tickets (default 300)")
    demo.add_argument("--no-window", action="store_true", help="prepare the demo store only")

    add("init-store", "create a shared store, or upgrade it to this version's schema")

    ingest = add("ingest", "validate a JSON Lines file of signoff.ticket/1 and store the valid tickets")
    ingest.add_argument("file", help="the .jsonl file ('-' for standard input)")

    export = add("export", "export from the store")
    export.add_argument("what", choices=["decisions"], help="what to export")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")

    audit = add("audit", "the local audit log")
    audit.add_argument("what", choices=["verify"], help="verify: check the hash chain")

    add("sync", "one sync cycle with the store (push decisions, pull tickets), headless")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = _HANDLERS.get(args.command or "", _run_gui)
        return handler(args)
    except UsageError as error:
        print(f"signoff: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `signoff export … | head` is fine
        return EXIT_OK


def _store_url(args: argparse.Namespace, *, required: bool = True) -> str | None:
    url = getattr(args, "store", None) or os.environ.get(STORE_ENV)
    if not url and required:
        raise UsageError(f"no store given: pass --store URL or set {STORE_ENV}")
    return url


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
        store = Store.initialize(url)
    except StoreError as error:
        return _fail_store(error)
    print(f"store ready: {redact_url(url)} (id {store.store_id})")
    store.close()
    return EXIT_OK


def _cmd_ingest(args: argparse.Namespace) -> int:
    from app.core.ingest import ingest_file
    from app.core.store import Store, StoreError

    url = _store_url(args)
    assert url
    source = Path(args.file)
    if args.file != "-" and not source.is_file():
        raise UsageError(f"{args.file}: no such file")
    try:
        store = Store.open(url)
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
    try:
        store = Store.open(url)
        out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
        try:
            count = _write_jsonl(store.iter_decisions(), out)
        finally:
            if args.output:
                out.close()
    except StoreError as error:
        return _fail_store(error)
    if args.output:
        print(f"exported {count} decisions to {args.output}", file=sys.stderr)
    return EXIT_OK


def _write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count += 1
    out.flush()
    return count


def _cmd_audit(args: argparse.Namespace) -> int:
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


def _cmd_sync(args: argparse.Namespace) -> int:
    from app.core.store import StoreError
    from app.core.workspace import open_workspace

    home = _home(args)
    url = _store_url(args, required=False) or _last_store(home)
    try:
        workspace = open_workspace(home, url)
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
}

if __name__ == "__main__":
    sys.exit(main())
