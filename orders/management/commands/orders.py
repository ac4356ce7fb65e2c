"""Orders from the terminal: list, reconcile, cancel-all.

    python manage.py orders list [--connection ID] [--status S] [--flagged] [--limit N] [--json]
    python manage.py orders reconcile [ORDER_ID ...] [--connection ID] [--json]
    python manage.py orders cancel-all CONNECTION_ID ... [--symbol S] [--json]

Every owner's orders (an operator on the host). A table by default, ``--json`` for programs
(stable snake_case keys); a progress bar on stderr for reconciliation on a terminal. The
exit status is 1 when anything failed: an unknown id, an exchange that could not be asked,
a cancel that was refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.selectors import connections_for_operator
from core import console
from core.errors import ServiceError
from exchanges.errors import ExchangeError
from orders import selectors
from orders.models import STATUSES, Order
from orders.reconcile import order_reconcile
from orders.services import connection_orders_cancel

DEFAULT_LIMIT = 50


def _plain(value: Decimal | None) -> str | None:
    """A quantity or price without trailing zeros, never in exponent form."""
    if value is None:
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "id": str(order.pk),
        "created_at": order.created_at.isoformat(timespec="seconds"),
        "connection_id": str(order.connection_id),
        "connection": order.connection.name,
        "exchange": order.connection.exchange,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "quantity": _plain(order.quantity),
        "price": _plain(order.price),
        "status": order.status,
        "filled_quantity": _plain(order.filled_quantity),
        "flagged": order.flagged,
        "client_order_id": order.client_order_id,
    }


def _error_text(exc: Exception) -> str:
    return (getattr(exc, "message", "") or str(exc) or type(exc).__name__)[:300]


class Command(BaseCommand):
    help = "List orders, reconcile them with the exchange, or cancel every open order."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(
            dest="subcommand", required=True, metavar="{list,reconcile,cancel-all}"
        )
        listing = commands.add_parser("list", help="orders, newest first")
        listing.add_argument(
            "--connection",
            action="append",
            metavar="ID",
            help="only this connection's (repeatable)",
        )
        listing.add_argument(
            "--status",
            action="append",
            choices=STATUSES,
            help="only orders in this status (repeatable)",
        )
        listing.add_argument(
            "--flagged", action="store_true", help="only orders flagged for an operator"
        )
        listing.add_argument(
            "--limit",
            type=int,
            default=DEFAULT_LIMIT,
            help=f"at most this many (default {DEFAULT_LIMIT}; 0: all)",
        )
        reconcile = commands.add_parser(
            "reconcile",
            help="bring orders up to date with the exchange now (default: "
            "every submitting, unknown and open order)",
        )
        reconcile.add_argument("ids", nargs="*", metavar="ORDER_ID")
        reconcile.add_argument(
            "--connection",
            action="append",
            metavar="ID",
            help="only this connection's unsettled orders (repeatable)",
        )
        cancel_all = commands.add_parser(
            "cancel-all", help="cancel every open order of these connections"
        )
        cancel_all.add_argument("ids", nargs="+", metavar="CONNECTION_ID")
        cancel_all.add_argument("--symbol", help="only this symbol's orders (BTC/USDT)")
        for each in commands.choices.values():
            each.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        {"list": self._list, "reconcile": self._reconcile, "cancel-all": self._cancel_all}[
            options["subcommand"]
        ](options)

    def _connection_ids(self, ids: list[str] | None) -> list[str] | None:
        if ids is None:
            return None
        connections, unknown = connections_for_operator(connection_ids=ids)
        if unknown:
            raise CommandError(f"unknown connection id(s): {', '.join(unknown)}")
        return [str(each.pk) for each in connections]

    def _list(self, options: dict[str, Any]) -> None:
        if options["limit"] < 0:
            raise CommandError("--limit is 0 (all) or more")
        orders = selectors.orders_for_operator(
            connection_ids=self._connection_ids(options["connection"]),
            statuses=options["status"],
            flagged=True if options["flagged"] else None,
            limit=options["limit"] or None,
        )
        rows = [_order_row(each) for each in orders]
        if options["json"]:
            console.print_json(self.stdout, {"orders": rows, "count": len(rows)})
            return
        columns = (
            "id",
            "created_at",
            "connection",
            "symbol",
            "side",
            "type",
            "quantity",
            "price",
            "status",
            "filled_quantity",
            "flagged",
        )
        headers = (
            "id",
            "created",
            "connection",
            "symbol",
            "side",
            "type",
            "quantity",
            "price",
            "status",
            "filled",
            "flagged",
        )
        console.print_table(
            self.stdout,
            f"{len(rows)} order(s), newest first",
            headers,
            [[row[name] for name in columns] for row in rows],
        )

    def _reconcile(self, options: dict[str, Any]) -> None:
        if options["ids"] and options["connection"]:
            raise CommandError("give order ids or --connection, not both")
        if options["ids"]:
            orders, unknown = selectors.orders_by_ids(order_ids=options["ids"])
            if unknown:
                raise CommandError(f"unknown order id(s): {', '.join(unknown)}")
        else:
            orders = selectors.orders_for_operator(
                connection_ids=self._connection_ids(options["connection"]),
                statuses=list(selectors.UNSETTLED),
            )
        rows = []
        with console.progress(
            self.stderr, total=len(orders), description="reconciling", enabled=not options["json"]
        ) as steps:
            for order in orders:
                row: dict[str, Any] = {
                    "id": str(order.pk),
                    "client_order_id": order.client_order_id,
                    "before": order.status,
                }
                try:
                    row.update(result=order_reconcile(order_id=order.pk), error=None)
                except (ServiceError, ExchangeError) as exc:
                    row.update(result=None, error=_error_text(exc))
                row["status"] = Order.objects.get(pk=order.pk).status
                rows.append(row)
                steps.advance(order.client_order_id)
        failed = [row for row in rows if row["error"]]
        if options["json"]:
            console.print_json(
                self.stdout, {"orders": rows, "total": len(rows), "failed": len(failed)}
            )
        else:
            console.print_table(
                self.stdout,
                f"{len(rows)} order(s) reconciled",
                ("id", "client_order_id", "before", "now", "result", "error"),
                [
                    [
                        row["id"],
                        row["client_order_id"],
                        row["before"],
                        row["status"],
                        row["result"],
                        row["error"],
                    ]
                    for row in rows
                ],
            )
        if failed:
            raise CommandError(f"{len(failed)} of {len(rows)} order(s) not reconciled")

    def _cancel_all(self, options: dict[str, Any]) -> None:
        connections, unknown = connections_for_operator(connection_ids=options["ids"])
        if unknown:
            raise CommandError(f"unknown connection id(s): {', '.join(unknown)}")
        rows = []
        for connection in connections:
            row: dict[str, Any] = {"id": str(connection.pk), "name": connection.name}
            try:
                row.update(
                    canceled=connection_orders_cancel(
                        connection=connection, actor=None, symbol=options["symbol"]
                    ),
                    error=None,
                )
            except (ServiceError, ExchangeError) as exc:
                row.update(canceled=0, error=_error_text(exc))
            rows.append(row)
        failed = [row for row in rows if row["error"]]
        if options["json"]:
            console.print_json(self.stdout, {"connections": rows, "failed": len(failed)})
        else:
            console.print_table(
                self.stdout,
                "cancel-all (the exchange is told too)",
                ("id", "name", "orders canceled or asked to cancel", "error"),
                [[row["id"], row["name"], row["canceled"], row["error"]] for row in rows],
            )
        if failed:
            raise CommandError(f"{len(failed)} connection(s) not canceled")
