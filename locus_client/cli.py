"""`locus`: ask Locus from a pipeline whether work may run, register training runs, and check
infrastructure plans before they are applied.

Exit codes: 0 allowed, 1 denied, 2 bad input, a refused request or a redirect (a wrong URL),
3 Locus unreachable, failing (5xx) or rate limiting (429) after its retries: try again later.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from locus_client.client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    LocusClient,
    LocusError,
    LocusUnavailable,
)
from locus_client.receipts import add_receipt_commands, add_receipt_out, save_receipt

EXIT_ALLOWED = 0
EXIT_DENIED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3

DEFAULT_URL = "http://127.0.0.1:8000"
ALLOWED_OUTCOMES = {"allow", "allow_with_grant"}


class UsageError(Exception):
    """The command line or a file it names is wrong; nothing was sent."""


def _connection_options(*, suppress: bool) -> argparse.ArgumentParser:
    """--url/--token/--timeout/--json, accepted before or after the subcommand.

    The subcommands' copies default to SUPPRESS so they never overwrite what was given earlier.
    """
    unset = argparse.SUPPRESS if suppress else None
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--url", default=unset, help=f"Locus base URL (env LOCUS_URL, default {DEFAULT_URL})"
    )
    group.add_argument("--token", default=unset, help="API token (env LOCUS_TOKEN)")
    group.add_argument(
        "--timeout",
        type=float,
        default=unset,
        help=f"seconds to wait for an answer (env LOCUS_TIMEOUT, default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--retries",
        type=int,
        default=unset,
        help="times to ask again a busy or restarting Locus (429, 502-504), honouring its "
        f"Retry-After (env LOCUS_RETRIES, default {DEFAULT_RETRIES})",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print the server's raw JSON answer",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="locus",
        description="Ask Locus whether work may touch a dataset from a region.",
        epilog="Exit codes: 0 allowed, 1 denied, 2 bad input, refused or redirected, "
        "3 Locus unreachable, failing or rate limiting (try again later).",
        parents=[_connection_options(suppress=False)],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = [_connection_options(suppress=True)]

    check = commands.add_parser(
        "check", parents=shared, help="may this action on this dataset run in this region?"
    )
    check.add_argument("--dataset", required=True, help="dataset slug or URI")
    check.add_argument("--region", required=True, help="region code, e.g. aws:eu-west-1")
    check.add_argument("--purpose", required=True, help="purpose code, e.g. model-training")
    check.add_argument("--action", default="train", help="store, process, train, transfer, access")
    check.add_argument("--at", help="when the work runs, ISO 8601 (default: now)")
    check.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help="what the recipient there is, e.g. dpf-certified (repeatable): answers the scope "
        "question of an adequacy decision limited to some recipients",
    )
    check.add_argument(
        "--technique",
        action="append",
        dest="techniques",
        type=parse_technique,
        metavar="TECHNIQUE",
        help="a privacy technique the work uses (repeatable): federated, secure_aggregation, "
        "synthetic, anonymisation, pseudonymisation, or differential_privacy:epsilon=E,delta=D",
    )
    add_receipt_out(check)
    check.set_defaults(handler=run_check)

    register = commands.add_parser(
        "register-run", parents=shared, help="register a training run from a JSON file"
    )
    register.add_argument(
        "run_file",
        metavar="RUN_JSON",
        help="JSON: name, purpose, compute_regions, datasets [{dataset, version}], mode, "
        "techniques, justification ('-' reads standard input)",
    )
    add_receipt_out(register)
    register.set_defaults(handler=run_register)

    plan = commands.add_parser(
        "check-plan",
        parents=shared,
        help="may this Terraform/OpenTofu plan put data where it plans to?",
    )
    plan.add_argument(
        "plan_file",
        metavar="PLAN_JSON",
        help="the plan as `terraform show -json <planfile>` prints it ('-' reads standard input)",
    )
    plan.add_argument(
        "--purpose",
        required=True,
        help="why the data is kept there, e.g. analytics (a resource's locus:purpose tag wins)",
    )
    plan.add_argument("--at", help="when the plan is applied, ISO 8601 (default: now)")
    plan.add_argument(
        "--scope", action="append", dest="scopes", metavar="SCOPE", help="as for check"
    )
    plan.set_defaults(handler=run_check_plan)
    add_receipt_commands(commands, shared)
    return parser


def make_client(args: argparse.Namespace) -> LocusClient:
    """A client configured from flags, then the environment, then defaults."""
    url = args.url or os.environ.get("LOCUS_URL") or DEFAULT_URL
    token = args.token or os.environ.get("LOCUS_TOKEN")
    if not token:
        raise UsageError("no API token: pass --token or set LOCUS_TOKEN")
    timeout = args.timeout
    if timeout is None:
        try:
            timeout = float(os.environ.get("LOCUS_TIMEOUT") or DEFAULT_TIMEOUT)
        except ValueError as exc:
            raise UsageError(f"LOCUS_TIMEOUT is not a number of seconds: {exc}") from exc
    retries = args.retries
    if retries is None:
        try:
            retries = int(os.environ.get("LOCUS_RETRIES") or DEFAULT_RETRIES)
        except ValueError as exc:
            raise UsageError(f"LOCUS_RETRIES is not a whole number: {exc}") from exc
    try:
        return LocusClient(url, token, timeout=timeout, retries=retries)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


# --- Output ---------------------------------------------------------------------------------


def print_json(body: Any) -> None:
    print(json.dumps(body, indent=2, sort_keys=True))


def _error_path(prefix: str, key: str) -> str:
    """`datasets` + `0` -> `datasets[0]`; `datasets[0]` + `dataset` -> `datasets[0].dataset`."""
    if key.isdigit():
        return f"{prefix}[{key}]"
    if key in ("detail", "non_field_errors"):
        return prefix
    return f"{prefix}.{key}" if prefix else key


def field_errors(detail: Any, prefix: str = "") -> list[str]:
    """DRF's nested error body as lines of `field: message`."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            lines.extend(field_errors(value, _error_path(prefix, str(key))))
        return lines
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [f"{prefix}: {item}" if prefix else str(item) for item in detail]
        lines = []
        for position, item in enumerate(detail):
            if item:  # DRF gives {} for the valid items of a list
                lines.extend(field_errors(item, f"{prefix}[{position}]"))
        return lines
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def describe_decision(decision: dict[str, Any]) -> str:
    """A decision as an indented block: the pair, then rule, reason and decision id."""
    decision_id = decision.get("decision_id")
    lines = [
        f"{decision.get('outcome', '?').upper()}: {decision.get('action')} "
        f"{decision.get('dataset')} in {decision.get('region')} for {decision.get('purpose')}",
        f"  rule:     {decision.get('rule')}",
        f"  reason:   {decision.get('reason')}",
        *_verdict_lines(decision),
        f"  decision: #{decision_id}" if decision_id is not None else "  decision: (not recorded)",
    ]
    if decision.get("grant") is not None:
        lines.append(f"  grant:    #{decision['grant']}")
    if decision.get("receipt"):
        lines.append(f"  receipt:  {decision['receipt']['leaf_hash']} (the log's leaf)")
    return "\n".join(lines)


def _verdict_lines(decision: dict[str, Any]) -> list[str]:
    """What the law says and what the house rules say, each on its own line."""
    lines = []
    legal, house = decision.get("legal"), decision.get("house")
    if legal:
        where = f" ({legal['regime']})" if legal.get("regime") else ""
        cited = f" [{legal['citation']}]" if legal.get("citation") else ""
        lines.append(f"  law:      {legal.get('outcome')}{where}: {legal.get('reason')}{cited}")
    if house:
        lines.append(f"  house:    {house.get('outcome')}: {house.get('reason')}")
    return lines


# --- Commands -------------------------------------------------------------------------------


def parse_technique(text: str) -> str | dict[str, Any]:
    """'federated', or 'differential_privacy:epsilon=1,delta=1e-5' (the server validates)."""
    name, _, parameters = text.partition(":")
    if not parameters:
        return name
    declared: dict[str, Any] = {"technique": name}
    for pair in parameters.split(","):
        key, equals, value = pair.partition("=")
        if not equals:
            raise argparse.ArgumentTypeError(f"{pair!r} is not KEY=VALUE")
        try:
            declared[key.strip()] = float(value)
        except ValueError:
            declared[key.strip()] = value.strip()
    return declared


def run_check(client: LocusClient, args: argparse.Namespace) -> int:
    decision = client.check(
        dataset=args.dataset,
        region=args.region,
        purpose=args.purpose,
        action=args.action,
        at=args.at,
        scopes=args.scopes,
        techniques=args.techniques,
    )
    save_receipt(decision, args.receipt_out)
    if args.json:
        print_json(decision)
    else:
        print(describe_decision(decision))
    # Anything but an explicit allow fails closed.
    return EXIT_ALLOWED if decision.get("outcome") in ALLOWED_OUTCOMES else EXIT_DENIED


def read_run(path: str, what: str = "describing the run") -> dict[str, Any]:
    """A JSON object from a file, or standard input for '-'."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        run = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(run, dict):
        raise UsageError(f"{path} must hold one JSON object {what}")
    return run


def run_register(client: LocusClient, args: argparse.Namespace) -> int:
    run = client.register_run(read_run(args.run_file))
    save_receipt(run, args.receipt_out)
    if args.json:
        print_json(run)
    else:
        print(
            f"run #{run.get('id')} {run.get('name')!r}: verdict {run.get('verdict', '?').upper()}"
        )
        for decision in run.get("decisions", []):
            print(describe_decision(decision))
    return EXIT_ALLOWED if run.get("verdict") in ALLOWED_OUTCOMES else EXIT_DENIED


def describe_store(store: dict[str, Any]) -> str:
    """A planned data store: its verdict, what it holds and where, then each decision."""
    regions = ", ".join(r for place in store.get("places", []) for r in place.get("regions", []))
    status = store.get("status")
    head = (store.get("outcome") or status or "?").upper()
    lines = [
        f"{head}: {store.get('address')} ({store.get('kind')}, {'/'.join(store.get('actions', []))})",
        f"  stores:   {store.get('reference')} in {regions or '?'}",
    ]
    if store.get("datasets"):
        lines.append(f"  datasets: {', '.join(store['datasets'])} (by {store.get('matched_by')})")
    if store.get("reason"):
        lines.append(f"  reason:   {store['reason']}")
    lines.extend(
        "  " + describe_decision(d).replace("\n", "\n  ") for d in store.get("decisions", [])
    )
    return "\n".join(lines)


def run_check_plan(client: LocusClient, args: argparse.Namespace) -> int:
    answer = client.check_plan(
        read_run(args.plan_file, "(terraform show -json <planfile>)"),
        purpose=args.purpose,
        at=args.at,
        scopes=args.scopes,
    )
    if args.json:
        print_json(answer)
    else:
        stores = answer.get("resources", [])
        print(
            f"plan: verdict {answer.get('verdict', '?').upper()} ({len(stores)} data stores, "
            f"{answer.get('other_resources', 0)} other resources)"
        )
        for store in stores:
            print(describe_store(store))
        for gap in answer.get("catalog_gaps", []):
            print(f"catalog gap: {gap} holds no dataset the catalog knows")
    return EXIT_ALLOWED if answer.get("verdict") in ALLOWED_OUTCOMES else EXIT_DENIED


def report_error(exc: LocusError, as_json: bool) -> None:
    """The server's answer: its JSON on stdout with --json, readable field errors on stderr."""
    if as_json and exc.status is not None and exc.detail is not None:
        print_json(exc.detail)
    has_fields = isinstance(exc.detail, dict) and set(exc.detail) != {"detail"}
    if exc.status is not None and exc.status < 500 and has_fields:
        print(f"locus: Locus refused the request ({exc.status}):", file=sys.stderr)
        for line in field_errors(exc.detail):
            print(f"  {line}", file=sys.stderr)
    else:
        print(f"locus: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        if getattr(args, "offline", False):  # makes a client only if it needs one
            return args.handler(make_client, args)
        with make_client(args) as client:
            return args.handler(client, args)
    except UsageError as exc:
        print(f"locus: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except LocusUnavailable as exc:
        report_error(exc, args.json)
        return EXIT_UNAVAILABLE
    except LocusError as exc:
        report_error(exc, args.json)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
