"""Bybit v5 private stream: ``/bybit/v5/private`` (spot and linear on one socket).

Auth: ``{"req_id"?, "op": "auth", "args": [apiKey, expires, signature]}``, ``expires`` a
future epoch-ms time, ``signature`` hex HMAC-SHA256(secret, "GET/realtime" + expires).
Answer ``{"success", "ret_msg", "op", "conn_id"}`` (+ ``req_id`` when sent). Subscribe
``{"op": "subscribe", "args": ["order", "execution", "wallet", "position"]}`` (all-in-one) or
categorised ``order.spot``, ``execution.linear``, ... (not both kinds in one request). JSON
``{"op": "ping"}`` is answered ``{"op": "pong", "args": ["<ms>"], "conn_id"}``. Messages are
``{"id", "topic", "creationTime", "data": [...]}``; no snapshot on subscribe.

PAPER-ONLY (no public source): the ``ret_msg`` texts of refusals.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from paper.engine import EngineEvent, PaperAccount, PaperOrder
from paper.streams.base import (
    LINEAR,
    SPOT,
    BadFrame,
    Connection,
    Frame,
    Outgoing,
    StreamServer,
    all_assets,
    cumulative_fee,
    cumulative_quote,
    num,
    parse_json,
    product_of,
    split_symbol,
)
from paper.wire import hmac_sha256_hex, same_secret

# "dcp" (also dcp.spot, dcp.future, dcp.option) pushes nothing here: a stream subscribes it
# so that losing the stream fires the account's DCP (paper/deadman.py)
TOPICS = ("order", "execution", "wallet", "position", "dcp")
TOPIC_SUFFIXES = ("", "spot", "linear", "inverse", "option", "future")
CATEGORIES = {SPOT: "spot", LINEAR: "linear"}
ORDER_STATUS = {
    "new": "New",
    "partially_filled": "PartiallyFilled",
    "filled": "Filled",
    "rejected": "Rejected",
}
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "PostOnly"}


def ws_signature(secret: str, expires: int | str) -> str:
    return hmac_sha256_hex(secret, f"GET/realtime{expires}")


def bybit_symbol(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}{quote}"


class BybitStreams(StreamServer):
    exchange: ClassVar[str] = "bybit"
    paths: ClassVar[tuple[tuple[str, str], ...]] = (("/v5/private", ""),)

    # -- client frames ---------------------------------------------------------------------

    def received(self, conn: Connection, text: str) -> None:
        try:
            frame = parse_json(text)
        except BadFrame as exc:
            conn.send_json(self._answer(conn, {}, "", False, f"error:{exc.reason} invalid"))
            return
        if not isinstance(frame, dict):
            conn.send_json(self._answer(conn, {}, "", False, "error:request must be an object"))
            return
        op = frame.get("op")
        if op == "ping":
            answer = {"op": "pong", "args": [str(self.now_ms())], "conn_id": conn.conn_id}
            if "req_id" in frame:
                answer["req_id"] = frame["req_id"]
            conn.send_json(answer)
        elif op == "auth":
            self._auth(conn, frame)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(conn, frame, op)
        else:
            conn.send_json(
                self._answer(conn, frame, str(op or ""), False, f"error:unsupported op {op!r}")
            )

    def _answer(
        self, conn: Connection, frame: dict[str, Any], op: str, success: bool, message: str = ""
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "success": success,
            "ret_msg": message,
            "op": op,
            "conn_id": conn.conn_id,
        }
        if "req_id" in frame:
            answer["req_id"] = frame["req_id"]
        return answer

    def _auth(self, conn: Connection, frame: dict[str, Any]) -> None:
        problem = self._auth_problem(frame)
        if problem is not None:
            self.refuse_auth()
            conn.send_json(self._answer(conn, frame, "auth", False, problem))
            return
        account = self.engine.account(self.exchange, frame["args"][0])
        assert account is not None
        self.authenticate(conn, account)
        conn.send_json(self._answer(conn, frame, "auth", True))

    def _auth_problem(self, frame: dict[str, Any]) -> str | None:
        args = frame.get("args")
        if not isinstance(args, list) or len(args) != 3:
            return "error:args must be [apiKey, expires, signature]"
        key, expires, signature = args
        if isinstance(expires, bool) or not str(expires).isdigit():
            return "error:expires must be epoch milliseconds"
        if int(expires) <= self.now_ms():
            return "error:auth expired"
        account = self.engine.account(self.exchange, str(key))
        if account is None:
            return "error:invalid apiKey"
        if not isinstance(signature, str) or not same_secret(
            signature, ws_signature(account.api_secret, str(expires))
        ):
            return "error:signature verification failed"
        return None

    def _subscribe(self, conn: Connection, frame: dict[str, Any], op: str) -> None:
        if not conn.authenticated:
            conn.send_json(self._answer(conn, frame, op, False, "error:request not authorized"))
            return
        args = frame.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            conn.send_json(self._answer(conn, frame, op, False, "error:args must be topics"))
            return
        unknown = [
            a
            for a in args
            if a.partition(".")[0] not in TOPICS or a.partition(".")[2] not in TOPIC_SUFFIXES
        ]
        if unknown:
            conn.send_json(
                self._answer(conn, frame, op, False, f"error:handler not found,topic:{unknown[0]}")
            )
            return
        if len({"." in a for a in args}) > 1:
            conn.send_json(
                self._answer(
                    conn,
                    frame,
                    op,
                    False,
                    "error:all-in-one and categorised topics cannot be mixed",
                )
            )
            return
        if op == "subscribe":
            conn.channels.update(args)
        else:
            conn.channels.difference_update(args)
        self.hub.watch_changed(conn)
        conn.send_json(self._answer(conn, frame, op, True))

    # -- which stream wants what -----------------------------------------------------------

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        return self._topic(conn, message) is not None

    def _topic(self, conn: Connection, message: Outgoing) -> str | None:
        if message.channel in conn.channels:
            return message.channel
        categorised = f"{message.channel}.{CATEGORIES.get(message.product, '')}"
        return categorised if categorised in conn.channels else None

    def encode(self, conn: Connection, message: Outgoing) -> Frame:
        payload = dict(message.payload)
        payload["topic"] = self._topic(conn, message) or message.channel
        return super().encode(conn, Outgoing(message.channel, message.product, payload))

    def _message(self, topic: str, product: str, data: list[dict[str, Any]]) -> Outgoing:
        return Outgoing(
            topic,
            product,
            {"id": uuid.uuid4().hex, "topic": topic, "creationTime": self.now_ms(), "data": data},
        )

    # -- renderers -------------------------------------------------------------------------

    def render(self, event: EngineEvent) -> list[Outgoing]:
        order = event.order
        assert order is not None
        product = product_of(order.symbol)
        if event.kind == "closed" and order.status == "filled":
            return []  # the fill already said Filled
        messages = [self._message("order", product, [self._order_row(order)])]
        if event.kind == "fill" and event.fill is not None:
            messages.append(
                self._message("execution", product, [self._execution_row(order, event)])
            )
        return messages

    def _order_row(self, order: PaperOrder) -> dict[str, Any]:
        product = product_of(order.symbol)
        quote = split_symbol(order.symbol)[1]
        price = order.price or Decimal(0)
        fee = cumulative_fee(order)
        return {
            "category": CATEGORIES[product],
            "symbol": bybit_symbol(order.symbol),
            "orderId": order.order_id,
            "orderLinkId": order.client_order_id or "",
            "blockTradeId": "",
            "side": "Buy" if order.side == "buy" else "Sell",
            "positionIdx": 0,
            "orderStatus": self._status(order),
            "cancelType": "CancelByUser" if order.canceled_by_user else "UNKNOWN",
            "rejectReason": "EC_NoError",
            "timeInForce": TIME_IN_FORCE[order.time_in_force],
            "isLeverage": "",
            "price": num(price),
            "qty": num(order.quantity),
            "avgPrice": num(order.average_price) if order.average_price else "",
            "leavesQty": num(order.remaining if order.is_open else Decimal(0)),
            "leavesValue": num(order.remaining * price if order.is_open else Decimal(0)),
            "cumExecQty": num(order.filled_quantity),
            "cumExecValue": num(cumulative_quote(order)),
            "cumExecFee": num(fee),
            "cumFeeDetail": {order.fills[-1].fee_asset if order.fills else quote: num(fee)},
            "orderType": "Market" if order.type == "market" else "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "triggerPrice": "",
            "takeProfit": "",
            "stopLoss": "",
            "triggerBy": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "placeType": "",
            "lastPriceOnCreated": "",
            "closeOnTrigger": False,
            "reduceOnly": order.reduce_only,
            "smpGroup": 0,
            "smpType": "None",
            "smpOrderId": "",
            "feeCurrency": "",
            "createdTime": str(order.created_ms),
            "updatedTime": str(order.updated_ms),
        }

    @staticmethod
    def _status(order: PaperOrder) -> str:
        if order.status in ORDER_STATUS:
            return ORDER_STATUS[order.status]
        if product_of(order.symbol) == SPOT and order.filled_quantity > 0:
            return "PartiallyFilledCanceled"
        return "Cancelled"  # no Expired on Bybit

    def _execution_row(self, order: PaperOrder, event: EngineEvent) -> dict[str, Any]:
        fill = event.fill
        assert fill is not None
        return {
            "category": CATEGORIES[product_of(order.symbol)],
            "symbol": bybit_symbol(order.symbol),
            "isLeverage": "0",
            "orderId": order.order_id,
            "orderLinkId": order.client_order_id or "",
            "side": "Buy" if order.side == "buy" else "Sell",
            "orderPrice": num(order.price),
            "orderQty": num(order.quantity),
            "leavesQty": num(order.remaining),
            "createType": "CreateByUser",
            "orderType": "Market" if order.type == "market" else "Limit",
            "stopOrderType": "",
            "execFee": num(fill.fee),
            "execId": fill.trade_id,
            "execPrice": num(fill.price),
            "execQty": num(fill.quantity),
            "execPnl": "0",
            "execType": "Trade",
            "execValue": num(fill.quantity * fill.price),
            "execTime": str(fill.time_ms),
            "isMaker": fill.maker,
            "feeRate": "0",
            "tradeIv": "",
            "markIv": "",
            "markPrice": num(self.engine.price(self.exchange, order.symbol)),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "0",
            "seq": int(fill.trade_id),
            "feeCurrency": fill.fee_asset,
        }

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        coins: list[dict[str, Any]] = []
        for asset in all_assets(assets):  # one unified wallet for every product
            free, locked = self.balance_of(account, asset)
            total = free + locked
            value = total * self._usd_price(asset)
            coins.append(
                {
                    "coin": asset,
                    "equity": num(total),
                    "usdValue": num(value),
                    "walletBalance": num(total),
                    "free": num(free),
                    "locked": num(locked),
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "availableToWithdraw": "",
                    "accruedInterest": "0",
                    "totalOrderIM": "0",
                    "totalPositionIM": "0",
                    "totalPositionMM": "0",
                    "unrealisedPnl": "0",
                    "cumRealisedPnl": "0",
                    "bonus": "0",
                    "collateralSwitch": True,
                    "marginCollateral": True,
                    "spotBorrow": "0",
                }
            )
        total_value = sum((Decimal(c["usdValue"]) for c in coins), Decimal(0))
        row = {
            "accountType": "UNIFIED",
            "accountIMRate": "0",
            "accountMMRate": "0",
            "totalEquity": num(total_value),
            "totalWalletBalance": num(total_value),
            "totalMarginBalance": num(total_value),
            "totalAvailableBalance": "",
            "totalPerpUPL": "0",
            "totalInitialMargin": "0",
            "totalMaintenanceMargin": "0",
            "accountLTV": "0",
            "coin": coins,
        }
        return [self._message("wallet", "", [row])]

    def _usd_price(self, coin: str) -> Decimal:
        if coin in ("USDT", "USDC", "USD"):
            return Decimal(1)
        try:
            return self.engine.price(self.exchange, f"{coin}/USDT")
        except Exception:  # a coin the universe does not trade is worth nothing here
            return Decimal(0)

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        rows = []
        for symbol, position in self.positions_for(account, symbols):
            size = abs(position.quantity) if position else Decimal(0)
            side = "" if position is None else ("Buy" if position.quantity > 0 else "Sell")
            mark = self.engine.price(self.exchange, symbol)
            entry = position.entry_price if position else Decimal(0)
            leverage = self.engine.leverage(account, symbol)
            now = str(self.now_ms())
            rows.append(
                {
                    "category": "linear",
                    "symbol": bybit_symbol(symbol),
                    "side": side,
                    "size": num(size),
                    "positionIdx": 0,
                    "tradeMode": 0,
                    "positionValue": num(size * entry),
                    "riskId": 1,
                    "riskLimitValue": "2000000",
                    "entryPrice": num(entry),
                    "markPrice": num(mark),
                    "leverage": str(leverage),
                    "positionBalance": num(size * entry / leverage),
                    "autoAddMargin": 0,
                    "positionIM": num(size * entry / leverage),
                    "positionMM": "0",
                    "liqPrice": "",
                    "bustPrice": "",
                    "tpslMode": "Full",
                    "takeProfit": "0",
                    "stopLoss": "0",
                    "trailingStop": "0",
                    "unrealisedPnl": num(position.unrealized_pnl if position else None),
                    "curRealisedPnl": "0",
                    "cumRealisedPnl": "0",
                    "sessionAvgPrice": "",
                    "createdTime": now,
                    "updatedTime": now,
                    "positionStatus": "Normal",
                    "adlRankIndicator": 0,
                    "isReduceOnly": False,
                    "seq": self.now_ms(),
                }
            )
        return [self._message("position", LINEAR, rows)] if rows else []
