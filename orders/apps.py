from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connections.dead_man import ORDER_SYMBOL_SOURCES
        from connections.services import IN_FLIGHT_ORDER_CHECKS
        from connections.trading import OPEN_ORDER_CANCELERS
        from orders.selectors import (
            connection_has_orders_in_flight,
            connection_live_order_symbols,
        )
        from orders.services import connection_orders_cancel

        IN_FLIGHT_ORDER_CHECKS.append(connection_has_orders_in_flight)
        ORDER_SYMBOL_SOURCES.append(connection_live_order_symbols)
        OPEN_ORDER_CANCELERS.append(connection_orders_cancel)
