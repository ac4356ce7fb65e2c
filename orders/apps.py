from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connections.services import IN_FLIGHT_ORDER_CHECKS
        from orders.selectors import connection_has_orders_in_flight

        IN_FLIGHT_ORDER_CHECKS.append(connection_has_orders_in_flight)
