"""Exchange Connect settings: one module, everything from the environment.

Development gets safe defaults (a SECRET_KEY and an encryption key generated once into
``var/``); ``DJANGO_ENV=production`` makes every missing secret or URL a start-up error, and
refuses DEBUG, a missing or malformed FLOWER_BASIC_AUTH and the demo seed
(config/production.py; a reachable paper exchange is refused in ConnectionsConfig.ready).
Settings never start processes: the dev stack is the Makefile's job.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.production import production_problems
from config.redis_urls import celery_broker_url
from config.webhooks import alert_webhook_url
from core.logs import FORMATS as LOG_FORMATS
from core.logs import configure_structlog, logging_config
from exchanges.hosts import parse_allowlist
from exchanges.limits import load_budgets, worker_rate_limit
from exchanges.registry import published_budgets

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"


def _required_in_production(name: str) -> None:
    if PRODUCTION and not env.str(name, default=""):
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")


for _name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CONNECTION_ENCRYPTION_KEYS"):
    _required_in_production(_name)


def _dev_secret(filename: str, make: Callable[[], str]) -> str:
    """A value generated once into var/ and reused, so dev restarts keep sessions and keys."""
    path = VAR_DIR / filename
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_secret(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
# Fernet keys, newest first: the first encrypts, all decrypt (rotate_encryption_keys).
CONNECTION_ENCRYPTION_KEYS = env.list("CONNECTION_ENCRYPTION_KEYS", default=[]) or [
    _dev_secret("encryption_key", lambda: Fernet.generate_key().decode())
]

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "dashboard",  # first: its admin/index.html (the dashboard link) wraps the admin's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "connections",
    "orders",
    "workers",
]

MIDDLEWARE = [
    # outermost: under /api/ every error answers the JSON error body, whoever produced it
    "config.middleware.ApiErrorBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # project templates first: the admin's base_site.html with the favicon
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# The dev server (runserver) reloads itself and serves every request on a new thread:
# neither persistent connections nor a pool outlive that usefully.
RUNNING_DEV_SERVER = sys.argv[1:2] == ["runserver"]
# One bounded pool of connections per process (Django's psycopg pool). Size it to the
# process's threads: gunicorn --threads, or a worker's -c plus its batch threads (10).
# A request that waits longer than the timeout for a connection is a 503.
DATABASE_POOL = env.bool("DATABASE_POOL", default=not RUNNING_DEV_SERVER)
DATABASE_POOL_MIN_SIZE = env.int("DATABASE_POOL_MIN_SIZE", default=1)
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=30)
DATABASE_POOL_TIMEOUT_SECONDS = env.float("DATABASE_POOL_TIMEOUT_SECONDS", default=5.0)


def _database() -> dict[str, object]:
    url = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/exchange_connect")
    config = environ.Env.db_url_config(url)
    # A Unix socket directory arrives percent-encoded in the host; django-environ keeps it so.
    config["HOST"] = unquote(str(config.get("HOST", "")))
    config["CONN_HEALTH_CHECKS"] = True  # with the pool: each connection checked at checkout
    if DATABASE_POOL:
        config["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django's persistence is off
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": DATABASE_POOL_MIN_SIZE,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
        }
    else:
        config["CONN_MAX_AGE"] = (
            0 if RUNNING_DEV_SERVER else env.int("DATABASE_CONN_MAX_AGE", default=60)
        )
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ec",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (tests, quick runs) whitenoise serves straight from the finders.
WHITENOISE_USE_FINDERS = True
# files served at the site's root (/favicon.ico)
WHITENOISE_ROOT = BASE_DIR / "config" / "public"
WHITENOISE_AUTOREFRESH = DEBUG

CSRF_FAILURE_VIEW = "config.api.csrf_failure"  # JSON 403 under /api/

# HTTPS in production (`manage.py check --deploy` passes with these defaults). TLS ends at
# the proxy in front, which must set X-Forwarded-Proto (and overwrite a client's own).
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# paths (regexes, no leading slash) a plain-http health probe may reach without a redirect
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[])
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
# the header only allows preloading; nothing is preloaded until the domain is submitted
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)

# API tokens expire this many hours after they were issued (0: never; logout revokes them).
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=0)
# Logins (the token endpoint and the admin's) per username and per client address, as DRF
# rates: "<count>/<second|minute|hour|day>".
LOGIN_RATE_PER_USERNAME = env.str("LOGIN_RATE_PER_USERNAME", default="10/minute")
LOGIN_RATE_PER_ADDRESS = env.str("LOGIN_RATE_PER_ADDRESS", default="30/minute")
# Proxies in front of the web process that append to X-Forwarded-For: the client address
# is the entry the last of them added (0: REMOTE_ADDR, the header is ignored).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "connections.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bounded in size and depth, numbers as Decimal (config/parsers.py)
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser"],
    # the browsable API only with DEBUG on; otherwise JSON, whatever the Accept header says
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.JSONFallbackNegotiation",
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ApiAutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange Connect API",
    "DESCRIPTION": "Exchange API connections, health and orders for a trading desk.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # one component per choice set, named once (filters, bodies and answers share them)
    "ENUM_NAME_OVERRIDES": {
        "ExchangeEnum": "exchanges.capabilities.EXCHANGES",
        "ApiTypeEnum": "exchanges.capabilities.API_TYPES",
        "EnvironmentEnum": "exchanges.capabilities.ENVIRONMENTS",
        "TradingStateEnum": "connections.models.TRADING_STATES",
        "AccountSourceEnum": "connections.serializers.ACCOUNT_SOURCES",
    },
}

# Celery: Redis broker; priority 0 is the highest on Redis.
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "queue_order_strategy": "priority",
    "visibility_timeout": 300,
}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_ROUTES = {
    "orders.*": {"queue": "orders"},
    "connections.test": {"queue": "connections"},
    "connections.batch_test": {"queue": "connections"},
    "connections.health_*": {"queue": "health"},
    "connections.heartbeat*": {"queue": "health"},
    "connections.*": {"queue": "maintenance"},
    "alerts.*": {"queue": "maintenance"},
}
# No task time limits: they do nothing under the threads pool. Every exchange call has its
# own whole-request deadline (EXCHANGE_TIMEOUT_SECONDS); each app's tasks.py says what
# bounds its tasks.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict[str, object] = {}
CELERY_TIMEZONE = "UTC"
# the queues /metrics reports the lengths of (config/metrics.py): the worker's -Q (Procfile,
# docker-compose.yml), read at each scrape
METRICS_CELERY_QUEUES = ("orders", "connections", "health", "maintenance")

# Exchange Connect knobs. Every interval is a setting so tests can shrink it.
PAPER_EXCHANGE_URL = env.str("PAPER_EXCHANGE_URL", default="http://127.0.0.1:8900")
# The rate budgets (docs/rate-limits.md): each exchange's published windows times
# RATE_LIMIT_SAFETY_FACTOR; EXCHANGE_RATE_PRESET=conservative restores the original table;
# EXCHANGE_RATE_LIMITS (JSON) overrides any window by name, figures taken as given.
RATE_LIMIT_SAFETY_FACTOR = env.float("RATE_LIMIT_SAFETY_FACTOR", default=0.8)
EXCHANGE_RATE_PRESET = env.str("EXCHANGE_RATE_PRESET", default="")
EXCHANGE_RATE_OVERRIDES = env.str("EXCHANGE_RATE_LIMITS", default="")
EXCHANGE_RATE_LIMITS = load_budgets(
    published_budgets(),
    overrides=EXCHANGE_RATE_OVERRIDES,
    preset=EXCHANGE_RATE_PRESET,
    safety_factor=RATE_LIMIT_SAFETY_FACTOR,
)
# where Binance's own rateLimits (exchangeInfo) are read at worker start and hourly:
# live (api.binance.com, fapi.binance.com), paper (PAPER_EXCHANGE_URL) or off
BINANCE_RATE_LIMITS_SOURCE = env.str("BINANCE_RATE_LIMITS_SOURCE", default="live")
# host[:port] (comma-separated) a connection may use besides the exchanges' official hosts,
# plain http/ws included; a host without a port covers 80 and 443 (docs/security.md)
EXCHANGE_HOST_ALLOWLIST = parse_allowlist(env.str("EXCHANGE_HOST_ALLOWLIST", default=""))
# the source address our requests leave from: processes with one EGRESS_ID share every
# exchange's per-IP budget and pauses; give each differently routed group its own
EGRESS_ID = env.str("EGRESS_ID", default="default")
# the whole of every exchange request, connect to last byte (seconds)
EXCHANGE_TIMEOUT_SECONDS = env.float("EXCHANGE_TIMEOUT_SECONDS", default=10.0)
# how much longer than 1 s / 60 s the limiter's windows are, for arrival jitter (ms)
RATE_LIMIT_WINDOW_MARGIN_MS = env.int("RATE_LIMIT_WINDOW_MARGIN_MS", default=50)
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
CIRCUIT_COOLDOWN_SECONDS = env.int("CIRCUIT_COOLDOWN_SECONDS", default=60)
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=30)
STALE_AFTER_SECONDS = env.int("STALE_AFTER_SECONDS", default=300)
HEALTH_RETENTION_DAYS = env.int("HEALTH_RETENTION_DAYS", default=7)
# batch tests (connections/batches.py): each test waits inside the limiter up to
# BATCH_BUDGET_WAIT_SECONDS for the exchange's budget (a restart would spend it twice), and
# is tried again after our own throttle's refusals until BATCH_THROTTLE_WAIT_LIMIT_SECONDS,
# when its result is the "throttled" error
# at most this many connections in one batch test (admin action, API, command line); the
# OpenAPI schema's maxItems is this value as the schema was built
BATCH_MAX_SIZE = env.int("BATCH_MAX_SIZE", default=50)
BATCH_BUDGET_WAIT_SECONDS = env.float("BATCH_BUDGET_WAIT_SECONDS", default=10.0)
BATCH_THROTTLE_WAIT_LIMIT_SECONDS = env.float("BATCH_THROTTLE_WAIT_LIMIT_SECONDS", default=60.0)
# the user-stream runner (manage.py run_user_streams, docs/live-session.md): each
# connection's stream is held under a Redis lease of STREAM_LEASE_SECONDS, renewed every
# third of it; runners look for connections to take every STREAM_SCAN_SECONDS. A dead
# runner's streams move to another within one lease period plus one scan.
STREAM_LEASE_SECONDS = env.float("STREAM_LEASE_SECONDS", default=15.0)
STREAM_SCAN_SECONDS = env.float("STREAM_SCAN_SECONDS", default=5.0)
# who holds a lease: unique per runner process (host, pid, and a random part so a restarted
# process with a reused pid is another holder)
STREAM_HOLDER_ID = env.str(
    "STREAM_HOLDER_ID", default=(f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")
)
# unset, each exchange's own heartbeat; set, every stream's heartbeat runs at this interval
# with its dead-stream deadline scaled alike (for a paper exchange that runs its clock faster)
STREAM_HEARTBEAT_SECONDS = env.float("STREAM_HEARTBEAT_SECONDS", default=0.0) or None
if STREAM_HEARTBEAT_SECONDS is not None and not 0 < STREAM_HEARTBEAT_SECONDS < 3600:
    raise ImproperlyConfigured("STREAM_HEARTBEAT_SECONDS must be over 0 and under 3600")
# the last message's time is written at most this often per connection
STREAM_STATE_WRITE_SECONDS = env.float("STREAM_STATE_WRITE_SECONDS", default=1.0)
# the runner's database threads (keep below DATABASE_POOL_MAX_SIZE)
STREAM_DB_THREADS = env.int("STREAM_DB_THREADS", default=16)
# the runner re-reads the tickers of its connections' markets this often, for the
# pre-checks' shared cache (orders/market_data.py keeps each MARKET_TICKER_CACHE_SECONDS)
MARKET_REFRESH_SECONDS = env.float("MARKET_REFRESH_SECONDS", default=1.0)
# how long a cached ticker stays usable for the pre-checks (read at each write and read)
MARKET_TICKER_CACHE_SECONDS = env.float("MARKET_TICKER_CACHE_SECONDS", default=5.0)
# how often the runner's market refresher lists its connections' warm symbols again
MARKET_PLAN_SECONDS = env.float("MARKET_PLAN_SECONDS", default=5.0)
# reconciliation: a pending order untouched this long lost its task; a submitting one this
# long after its last send is settled if no live sender holds its lock (a settle of an order
# whose sender is alive answers "busy" and does nothing)
ORDER_PENDING_STALE_SECONDS = env.int("ORDER_PENDING_STALE_SECONDS", default=10)
ORDER_SUBMITTING_STALE_SECONDS = env.int("ORDER_SUBMITTING_STALE_SECONDS", default=5)
# open orders refreshed per reconciliation run, least recently refreshed first (round robin)
ORDER_OPEN_REFRESH_LIMIT = env.int("ORDER_OPEN_REFRESH_LIMIT", default=200)
CLIENT_ORDER_ID_PREFIX = env.str("CLIENT_ORDER_ID_PREFIX", default="ec")
# Alerts (connections/alerts.py): a POST of JSON with a Slack-compatible ``text`` to
# ALERT_WEBHOOK_URL (http or https; blank: no alerts), at most one per subject per
# ALERT_DEDUPE_SECONDS; a stream down or an order unknown/flagged for longer than its
# threshold is found by the alerts sweep (every minute).
ALERT_WEBHOOK_URL = alert_webhook_url(env.str("ALERT_WEBHOOK_URL", default=""))
ALERT_DEDUPE_SECONDS = env.int("ALERT_DEDUPE_SECONDS", default=600)
ALERT_TIMEOUT_SECONDS = env.float("ALERT_TIMEOUT_SECONDS", default=5.0)
ALERT_STREAM_DOWN_SECONDS = env.int("ALERT_STREAM_DOWN_SECONDS", default=300)
ALERT_ORDER_STUCK_SECONDS = env.int("ALERT_ORDER_STUCK_SECONDS", default=300)
# Flower's user:password (several comma separated). Production refuses to start without one;
# development generates one into var/ (`make run` passes it to Flower and prints it).
FLOWER_BASIC_AUTH = env.str("FLOWER_BASIC_AUTH", default="") or (
    ""
    if PRODUCTION
    else _dev_secret("flower_basic_auth", lambda: f"admin:{secrets.token_urlsafe(18)}")
)
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise, compared in
# constant time). Production refuses to start without one (24 characters or more);
# development generates one into var/ (`make run` prints it). docs/operations.md.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="") or (
    "" if PRODUCTION else _dev_secret("metrics_token", lambda: secrets.token_urlsafe(32))
)
# prometheus_client's multiprocess mode: every process that records (gunicorn's workers, the
# Celery worker, the stream runner) writes its samples here and /metrics reads them all.
# Give every process of one deployment the same directory (one volume), on a local disk;
# wipe it when the whole stack starts (`make run` does), never while a process runs.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="") or str(
    VAR_DIR / "prometheus"
)
# child processes (a worker started from a test, gunicorn's workers) find it too
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
# `manage.py seed_demo` (make run) creates an admin with a published password: development only.
DEMO_SEED_ENABLED = env.bool("DEMO_SEED_ENABLED", default=not PRODUCTION)

_UNSAFE = (
    production_problems(
        debug=DEBUG,
        flower_basic_auth=FLOWER_BASIC_AUTH,
        demo_seed_enabled=DEMO_SEED_ENABLED,
        metrics_token=METRICS_TOKEN,
    )
    if PRODUCTION
    else []
)
if _UNSAFE:
    raise ImproperlyConfigured("unsafe production settings: " + "; ".join(_UNSAFE))

# Structured logs (core/logs.py, docs/operations.md): every record of the process, Django's,
# Celery's and ours, through one structlog formatter on stderr. LOG_FORMAT=json writes one
# JSON object per line (the default unless DEBUG), console aligned key=value lines (DEBUG's
# default). Records carry messages only: no handler or formatter prints a request's body,
# query string or headers (a request is logged as its method and path; an exchange call as
# its path template, status and latency); tracebacks are plain, without local variables;
# and a secret-named value that a message still quotes is masked on the rendered line.
# Secrets are also masked in Django's error reports by sensitive_variables /
# sensitive_post_parameters where they are handled.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
configure_structlog()
# Celery leaves logging to Django's LOGGING (config/celery.py answers setup_logging): its
# worker and task lines come out through the same formatter, and stdout stays stdout.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False

# Per-worker caps from the same table (the Redis limiter is the cluster-wide one): a worker
# never starts exchange tasks faster than the loosest pool's sustained rate allows.
CELERY_TASK_ANNOTATIONS = {
    name: {"rate_limit": worker_rate_limit(EXCHANGE_RATE_LIMITS)}
    for name in (
        "connections.test",
        "connections.health_check",
        "connections.heartbeat",
        "connections.rate_limits_refresh",
        "orders.submit",
        "orders.cancel",
        "orders.cancel_all",
        "orders.settle",
        "orders.refresh",
        "orders.orphans",
    )
}
