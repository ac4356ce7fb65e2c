from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Exchange connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rest_framework.authtoken.models import Token

        from connections.auth import token_name

        Token.__str__ = token_name  # type: ignore[method-assign,assignment]
        # every exchange call of this process counted for /metrics (exchanges.observe logs it)
        from core.metrics import exchange_call_observed
        from exchanges import observe

        observe.register(exchange_call_observed)
        if settings.PRODUCTION:
            refuse_a_reachable_paper_exchange()


def refuse_a_reachable_paper_exchange() -> None:
    """Production must not reach the paper exchange: its control API fills orders, sets
    prices and injects faults. Checked here, once per process at django.setup() (gunicorn,
    every Celery process, every management command), because system checks never run under
    gunicorn or Celery and settings do no I/O. Bounded and offline-safe: at most
    PAPER_PROBE_TIMEOUT_SECONDS, and only a real answer refuses (connections/paper.py)."""
    from connections.paper import paper_control_answers

    if paper_control_answers():
        raise ImproperlyConfigured(
            f"the paper exchange's control API answers at PAPER_EXCHANGE_URL "
            f"({settings.PAPER_EXCHANGE_URL}); production must not reach it: stop it, or "
            f"point PAPER_EXCHANGE_URL elsewhere"
        )
