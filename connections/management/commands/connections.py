"""Connections from the terminal: list, test, halt, reduce-only, resume.

    python manage.py connections list [--exchange X] [--json]
    python manage.py connections test (--all | --exchange X | ID ...) [--json]
    python manage.py connections halt ID ... [--cancel-open-orders] [--actor NAME] [--json]
    python manage.py connections reduce-only ID ... [--actor NAME] [--json]
    python manage.py connections resume ID ... [--actor NAME] [--json]

Every owner's connections (an operator on the host). A table by default, ``--json`` for
programs (stable snake_case keys); a progress bar on stderr for tests on a terminal. The
exit status is 1 when anything failed: a test, an unknown id, a refused change. The API key
shows as its last 4 characters; no secret is ever printed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections import batches, selectors, trading
from connections.models import ExchangeConnection
from connections.results import TestError, TestResult
from core import console
from core.errors import ServiceError
from exchanges.capabilities import EXCHANGES

DEFAULT_ACTOR = "cli"


def _connection_row(connection: ExchangeConnection) -> dict[str, Any]:
    state = getattr(connection, "state", None)
    return {
        "id": str(connection.pk),
        "name": connection.name,
        "owner": connection.owner.get_username(),
        "exchange": connection.exchange,
        "api_type": connection.api_type,
        "environment": connection.environment,
        "enabled": connection.enabled,
        "is_active": connection.is_active,
        "trading_state": connection.trading_state,
        "health": state.health_status if state else "unknown",
        "circuit": state.circuit if state else "closed",
        "api_key_last4": connection.api_key_last4,
    }


def _test_row(connection: ExchangeConnection, result: TestResult) -> dict[str, Any]:
    return {
        "id": str(connection.pk),
        "name": connection.name,
        "exchange": connection.exchange,
        "success": result.success,
        "latency_ms": result.latency_ms,
        "error_code": result.error.code if result.error else None,
        "error_message": result.error.message if result.error else None,
        "permissions": list(result.permissions),
        "warnings": list(result.warnings),
    }


class Command(BaseCommand):
    help = "List, test, halt, set reduce-only or resume exchange connections."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(
            dest="subcommand", required=True, metavar="{list,test,halt,reduce-only,resume}"
        )
        listing = commands.add_parser("list", help="every connection, oldest first")
        listing.add_argument("--exchange", choices=EXCHANGES)
        test = commands.add_parser("test", help="test connections now (exit 1 if one fails)")
        test.add_argument("ids", nargs="*", metavar="ID")
        test.add_argument("--all", action="store_true", help="every enabled connection")
        test.add_argument(
            "--exchange", choices=EXCHANGES, help="every enabled connection of this exchange"
        )
        for name, what in (
            ("halt", "send no new orders"),
            ("reduce-only", "accept only orders that reduce a position"),
            ("resume", "trade normally again (active)"),
        ):
            change = commands.add_parser(name, help=what)
            change.add_argument("ids", nargs="+", metavar="ID")
            change.add_argument(
                "--actor", default=DEFAULT_ACTOR, help="who the sync log names (default: cli)"
            )
            if name == "halt":
                change.add_argument(
                    "--cancel-open-orders",
                    action="store_true",
                    help="cancel the connections' open orders too",
                )
        for each in commands.choices.values():
            each.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        if subcommand == "list":
            self._list(options)
        elif subcommand == "test":
            self._test(options)
        else:
            state = {"halt": "halted", "reduce-only": "reduce_only", "resume": "active"}[subcommand]
            self._set_state(options, state)

    def _list(self, options: dict[str, Any]) -> None:
        connections, _ = selectors.connections_for_operator(exchange=options["exchange"])
        rows = [_connection_row(each) for each in connections]
        if options["json"]:
            console.print_json(self.stdout, {"connections": rows})
            return
        columns = (
            "id",
            "name",
            "owner",
            "exchange",
            "api_type",
            "environment",
            "enabled",
            "is_active",
            "trading_state",
            "health",
            "circuit",
        )
        headers = (
            "id",
            "name",
            "owner",
            "exchange",
            "type",
            "env",
            "enabled",
            "active",
            "trading",
            "health",
            "circuit",
            "api key",
        )
        console.print_table(
            self.stdout,
            f"{len(rows)} connection(s)",
            headers,
            [
                [row[name] for name in columns]
                + [f"••••{row['api_key_last4']}" if row["api_key_last4"] else ""]
                for row in rows
            ],
        )

    def _selected(self, options: dict[str, Any]) -> list[ExchangeConnection]:
        """The connections the ids name; an unknown id fails the command before anything
        is done."""
        connections, unknown = selectors.connections_for_operator(connection_ids=options["ids"])
        if unknown:
            raise CommandError(f"unknown connection id(s): {', '.join(unknown)}")
        return connections

    def _test(self, options: dict[str, Any]) -> None:
        chosen = [bool(options["ids"]), options["all"], options["exchange"] is not None]
        if sum(chosen) != 1:
            raise CommandError("name the connections: ID ..., --all or --exchange X (one)")
        if options["ids"]:
            connections = self._selected(options)
        else:
            connections, _ = selectors.connections_for_operator(
                exchange=options["exchange"], enabled=True
            )
        rows = []
        with console.progress(
            self.stderr, total=len(connections), description="testing", enabled=not options["json"]
        ) as steps:
            for connection in connections:
                rows.append(self._test_one(connection))
                steps.advance(connection.name)
        failed = [row for row in rows if not row["success"]]
        if options["json"]:
            console.print_json(
                self.stdout,
                {
                    "results": rows,
                    "total": len(rows),
                    "successful": len(rows) - len(failed),
                    "failed": len(failed),
                },
            )
        else:
            console.print_table(
                self.stdout,
                f"{len(rows) - len(failed)} of {len(rows)} passed",
                ("id", "name", "exchange", "result", "latency ms", "error", "warnings"),
                [
                    [
                        row["id"],
                        row["name"],
                        row["exchange"],
                        "ok" if row["success"] else "FAILED",
                        row["latency_ms"],
                        f"{row['error_code']}: {row['error_message']}" if row["error_code"] else "",
                        ", ".join(row["warnings"]),
                    ]
                    for row in rows
                ],
            )
        if failed:
            raise CommandError(f"{len(failed)} of {len(rows)} test(s) failed")

    def _test_one(self, connection: ExchangeConnection) -> dict[str, Any]:
        try:
            result = batches.connection_test_now(connection=connection)
        except ServiceError as exc:  # refused before any test ran (the paper exchange down)
            result = TestResult(
                connection_id=str(connection.pk),
                success=False,
                error=TestError(code=exc.code, message=exc.message),
            )
        return _test_row(connection, result)

    def _set_state(self, options: dict[str, Any], state: str) -> None:
        cancel = options.get("cancel_open_orders", False)
        rows, failures = [], 0
        for connection in self._selected(options):
            row: dict[str, Any] = {
                "id": str(connection.pk),
                "name": connection.name,
                "previous": connection.trading_state,
            }
            try:
                change = trading.connection_trading_state_set(
                    connection=connection,
                    state=state,
                    actor=options["actor"],
                    cancel_open_orders=cancel,
                )
            except ServiceError as exc:
                failures += 1
                row.update(
                    trading_state=connection.trading_state, canceled_orders=0, error=exc.message
                )
            else:
                row.update(
                    trading_state=change.connection.trading_state,
                    canceled_orders=change.canceled_orders,
                    error=None,
                )
            rows.append(row)
        if options["json"]:
            console.print_json(self.stdout, {"connections": rows, "failed": failures})
        else:
            console.print_table(
                self.stdout,
                f"trading state: {state}",
                ("id", "name", "was", "now", "orders canceled", "error"),
                [
                    [
                        row["id"],
                        row["name"],
                        row["previous"],
                        row["trading_state"],
                        row["canceled_orders"] if cancel else "",
                        row["error"],
                    ]
                    for row in rows
                ],
            )
        if failures:
            raise CommandError(f"{failures} connection(s) not changed")
