"""The policy subcommands of `signoff`: QA sampling, the circuit breaker, routing policies.

Kept apart from app/cli.py (which registers them) so each part of the command line stays small.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Add = Callable[[str, str], argparse.ArgumentParser]


def add_commands(add: Add) -> None:
    sample = add(
        "sample",
        "turn a random, stratified sample of automated decisions (signoff.ticket/1 JSON Lines) "
        "into sample_audit tickets",
    )
    sample.add_argument("file", help="the .jsonl file of decisions the pipeline made on its own")
    sample.add_argument("--rate", type=float, required=True, help="share to sample, e.g. 0.02")
    sample.add_argument(
        "--stratify",
        default="workflow,confidence_band,value_tier",
        help="comma-separated keys: workflow, confidence_band, value_tier, risk_tier, source "
        "(default workflow,confidence_band,value_tier)",
    )
    sample.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same sample")
    sample.add_argument(
        "--oversample-low-confidence", type=float, default=1.0, help="rate multiplier for low confidence"
    )
    sample.add_argument(
        "--oversample-high-value", type=float, default=1.0, help="rate multiplier for value tier major"
    )
    sample.add_argument("--dry-run", action="store_true", help="only say what would be sampled")

    breaker = add("breaker", "the circuit breaker: check every workflow now, or pause / resume one by hand")
    breaker.add_argument("what", choices=["check", "pause", "resume"])
    breaker.add_argument("--workflow", help="pause, resume: which workflow")
    breaker.add_argument("--reason", help="pause, resume: why (recorded with the change)")

    policy = add("policy", "show a workflow's routing policy as JSON, or set it from a JSON file (admins)")
    policy.add_argument("what", choices=["show", "set"])
    policy.add_argument("--workflow", default="*", help="the workflow ('*': the store-wide default)")
    policy.add_argument("--file", help="set: the policy as `policy show` prints it")


def _cli() -> Any:
    from app import cli  # the shared helpers; imported late, cli imports this module

    return cli


def _open_store(url: str) -> Any:
    from app.core.store import Store

    return Store.open(_cli()._with_saved_password(url))


def _cmd_sample(args: argparse.Namespace) -> int:
    from app.core import sampling
    from app.core.store import StoreError

    cli = _cli()
    url = cli._store_url(args)
    path = Path(args.file)
    if not path.is_file():
        raise cli.UsageError(f"{args.file}: no such file (sampling reads it twice: give a file, not '-')")
    try:
        spec = sampling.SampleSpec(
            rate=args.rate,
            stratify=sampling.parse_stratify(args.stratify),
            seed=args.seed,
            oversample_low_confidence=args.oversample_low_confidence,
            oversample_high_value=args.oversample_high_value,
        )
    except sampling.SampleError as error:
        raise cli.UsageError(str(error)) from None
    try:
        store = _open_store(url)
        try:
            report = sampling.sample_file(store, path, spec, dry_run=args.dry_run)
        finally:
            store.close()
    except StoreError as error:
        return cli._fail_store(error)
    for error in report.errors:
        print(error.format(args.file), file=sys.stderr)
    print(f"{args.file}: {report.summary()}")
    for line in report.strata_lines():
        print(line)
    return cli.EXIT_REJECTED if report.errors else cli.EXIT_OK


def _cmd_breaker(args: argparse.Namespace) -> int:
    from app.core import circuit_breaker
    from app.core.policy_store import NotAllowed
    from app.core.store import StoreError

    cli = _cli()
    url = cli._store_url(args)
    if args.what != "check" and not (args.workflow and args.reason):
        raise cli.UsageError(f"breaker {args.what} needs --workflow and --reason")
    actor, role = cli._audit_actor(args)
    changes: list[circuit_breaker.Control] = []
    try:
        store = _open_store(url)
        try:
            if args.what == "check":
                changes = [circuit_breaker.trip_control(t) for t in circuit_breaker.evaluate(store)]
            else:
                act = circuit_breaker.pause if args.what == "pause" else circuit_breaker.resume
                changes = [act(store, args.workflow, args.reason, actor=actor, role=role)]
            controls = circuit_breaker.controls(store)
            store_id = store.store_id
        finally:
            store.close()
    except (NotAllowed, circuit_breaker.ControlError) as error:
        print(f"signoff: {error}", file=sys.stderr)
        return cli.EXIT_REJECTED
    except StoreError as error:
        return cli._fail_store(error)
    for control in changes:
        print(f"now {'paused' if control.paused else 'running'}: {control.workflow} — {control.reason}")
        event, data = circuit_breaker.control_event(control), circuit_breaker.control_audit_data(control)
        cli._record_in_local_log(args, store_id, event, data)
    paused = [c for c in controls if c.paused]
    print(f"automation paused for {len(paused)} workflow{'s' if len(paused) != 1 else ''}")
    for control in paused:
        print(f"  {control.describe()}")
    return cli.EXIT_OK


def _cmd_policy(args: argparse.Namespace) -> int:
    from app.core import policy_store
    from app.core.audit import AuditEvent
    from app.core.policy import Policy, PolicyError
    from app.core.store import StoreError

    cli = _cli()
    url = cli._store_url(args)
    saved = None
    try:
        wanted = None
        if args.what == "set":
            if not args.file:
                raise cli.UsageError("policy set needs --file (the JSON that `policy show` prints)")
            try:
                doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
                wanted = Policy.from_documents(doc["rules"], doc.get("settings") or {})
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise cli.UsageError(f"{args.file}: not a policy document: {error}") from None
        store = _open_store(url)
        try:
            current = policy_store.load_policy(store, args.workflow)
            if wanted is not None:
                actor, role = cli._audit_actor(args)
                saved = policy_store.save_policy(
                    store, args.workflow, wanted, expected_version=current.own_version, actor=actor, role=role
                )
                current = saved.stored
            store_id = store.store_id
        finally:
            store.close()
    except (PolicyError, policy_store.NotAllowed, policy_store.PolicyConflict) as error:
        print(f"signoff: {error}", file=sys.stderr)
        return cli.EXIT_REJECTED
    except StoreError as error:
        return cli._fail_store(error)
    if saved is not None:
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON document alone
            cli._record_in_local_log(
                args, store_id, AuditEvent.POLICY_CHANGED, policy_store.policy_audit_data(saved)
            )
    document = {
        "workflow": current.workflow,
        "version": current.version,
        "source": current.source or "defaults",
        "rules": current.policy.rules_document(),
        "settings": current.policy.settings_document(),
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return cli.EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sample": _cmd_sample,
    "breaker": _cmd_breaker,
    "policy": _cmd_policy,
}
