"""Allocator settings, read from the environment.

Every variable is listed in `.env.example` and in the README's configuration table. Defaults make local
development work with no servers: SQLite, a file-backed Celery broker, the simulated provider and the
console email backend. Production (ALLOCATOR_ENV=production) refuses to start with DEBUG on, the
development secret key, or no encryption keys.
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ
import structlog
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

ALLOCATOR_ENV = env.str("ALLOCATOR_ENV", default="development")
PRODUCTION = ALLOCATOR_ENV == "production"

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-0123456789abcdef"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION or not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off or ALLOCATOR_ENV=production.")
    SECRET_KEY = DEV_SECRET_KEY
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when ALLOCATOR_ENV=production.")
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 40:
        raise ImproperlyConfigured("SECRET_KEY must be a long random value in production.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Links in emails and Slack messages. `make run` sets it from its PORT (the worker, which sends them, is given
# another PORT by honcho, so this default is only for a web process started by hand).
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")

# Fernet keys for secrets at rest (provider admin credentials, pending key secrets, webhook URLs).
# The first key encrypts; every key decrypts, so a new key can be prepended and old rows re-encrypted
# with `manage.py rotate_encryption` before the old key is dropped.
ALLOCATOR_ENCRYPTION_KEYS = env.list("ALLOCATOR_ENCRYPTION_KEYS", default=[])
if not ALLOCATOR_ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured("ALLOCATOR_ENCRYPTION_KEYS must be set in production.")
    ALLOCATOR_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "django_structlog",
    "accounts",
    "allocator",
    "budgets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "allocator.urls"
WSGI_APPLICATION = "allocator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env.bool("DATABASE_JIT", default=False):
    # PostgreSQL's JIT compiles each of the many small aggregate queries the pages and summaries run, costing far
    # more than it saves at this size (a sync's summary rebuild: 12.5 s with it, 1.7 s without).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()

# One cache shared by every web worker and Celery process (Slack replay protection relies on `cache.add` being
# seen by all of them). Default: a table in the main database, created by `migrate`; production: Redis,
# e.g. CACHE_URL=redis://127.0.0.1:6379/2. A per-process memory cache (locmemcache://) is never right here.
CACHE_TABLE = "allocator_cache"
CACHES = {"default": env.cache_url("CACHE_URL", default=f"dbcache://{CACHE_TABLE}")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses every sign-in (password or SSO) while the account or the address is locked out.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Optional single sign-on: set OIDC_RP_CLIENT_ID (and the endpoints) to turn it on.
OIDC_ENABLED = bool(env.str("OIDC_RP_CLIENT_ID", default=""))
if OIDC_ENABLED:
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.insert(1, "accounts.oidc.EmailOIDCBackend")
    OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
    OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
    OIDC_RP_SCOPES = "openid email profile"
    OIDC_USE_PKCE = True  # S256; providers that do not know it ignore the extra parameters, many require it

# Login abuse (django-axes): after LOGIN_FAILURE_LIMIT failed sign-ins for one account, or from one address, that
# account or address is refused for LOGIN_COOLOFF_MINUTES (the login page says so); a success resets the count.
# The address is the TCP peer unless LOGIN_PROXY_COUNT says how many proxies in front append to X-Forwarded-For,
# so a client cannot dodge the per-address limit by sending its own header.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False
# Admins read every failed sign-in (Django admin → Axes → Access failures), at most 1,000 kept per account.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_IPWARE_PROXY_COUNT = env.int("LOGIN_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# Pages show times in this zone; everything is stored and computed in UTC.
DISPLAY_TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

FISCAL_YEAR_START_MONTH = env.int("FISCAL_YEAR_START_MONTH", default=1)
if not 1 <= FISCAL_YEAR_START_MONTH <= 12:
    raise ImproperlyConfigured("FISCAL_YEAR_START_MONTH must be 1-12.")

# A production ("run") project with at least this share of its run spend on one provider or account is flagged on
# the concentration page (an outage, a price change or a rate limit there hits it fully).
CONCENTRATION_SHARE_PERCENT = env.int("CONCENTRATION_SHARE_PERCENT", default=90)
if not 1 <= CONCENTRATION_SHARE_PERCENT <= 100:
    raise ImproperlyConfigured("CONCENTRATION_SHARE_PERCENT must be 1-100.")

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Development writes each email as a file under var/mail/ (readable, out of the worker log); production without
# EMAIL_URL or EMAIL_BACKEND logs them to the console.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.console.EmailBackend"
        if PRODUCTION
        else "django.core.mail.backends.filebased.EmailBackend"
    ),
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="allocator@localhost")
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))

# Celery. The default broker is kombu's filesystem transport: no server needed for `make run`.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'celery' / 'results'}")
CELERY_FILESYSTEM_BROKER_DIR = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "celery" / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_BROKER_DIR),
        "data_folder_out": str(CELERY_FILESYSTEM_BROKER_DIR),
        "control_folder": str(CELERY_FILESYSTEM_BROKER_DIR / "control"),
        "store_processed": False,
    }
    # The filesystem transport has no fanout exchange, so remote control (broadcast) cannot work.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")
SYNC_INTERVAL_MINUTES = env.int("SYNC_INTERVAL_MINUTES", default=15)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "allocator.tasks.heartbeat", "schedule": 60.0},
    "sync-all-accounts": {"task": "allocator.tasks.sync_all_accounts", "schedule": SYNC_INTERVAL_MINUTES * 60.0},
    # The built-in simulated provider costs nothing to pull: every two minutes, so demo spend visibly moves.
    "sync-simulated": {
        "task": "allocator.tasks.sync_all_accounts",
        "schedule": 120.0,
        "kwargs": {"kinds": ["simulated"]},
    },
    # Approved requests whose mint task was never sent (broker down at approval) or was lost.
    "sweep-unminted-requests": {"task": "allocator.tasks.sweep_unminted_requests", "schedule": crontab(minute="*/5")},
    "expire-key-secrets": {"task": "allocator.tasks.expire_key_secrets", "schedule": crontab(minute="*/10")},
    # Usage retention: raw buckets older than Policy.usage_retention_months go; daily rollups stay.
    "drop-old-usage": {"task": "allocator.tasks.drop_old_usage", "schedule": crontab(hour=3, minute=17)},
    # Budgets: the alert outbox (retries with backoff) every minute; enforcement also runs after each sync.
    "deliver-alerts": {"task": "budgets.tasks.deliver_alerts", "schedule": 60.0},
    # Keys near a hard cap (or runaway) are synced and enforced every minute, within a call budget.
    "fast-lane": {"task": "budgets.tasks.fast_lane", "schedule": 60.0},
    # Providers that keep a short history (Cursor about a week): one alert per stretch of days no sync pulled.
    "history-gaps": {"task": "budgets.tasks.history_gap_alerts", "schedule": crontab(minute=41)},
    # Provider-side spend-limit increase requests (Anthropic) join the approvals inbox.
    "increase-requests": {"task": "budgets.tasks.increase_requests_sync", "schedule": crontab(minute="*/5")},
    # Capacity: rate limits once a day, minute demand peaks (and capacity alerts) every hour.
    "capacity-limits": {"task": "allocator.capacity.tasks.capacity_limits_all", "schedule": crontab(hour=4, minute=11)},
    "capacity-demand": {"task": "allocator.capacity.tasks.capacity_demand_all", "schedule": crontab(minute=7)},
}
# Capacity alerts: a day's busiest minute at or above this percent of a limit, and a projected crossover fewer
# than this many days away.
CAPACITY_ALERT_PERCENT = env.int("CAPACITY_ALERT_PERCENT", default=80)
CAPACITY_CROSSOVER_DAYS = env.int("CAPACITY_CROSSOVER_DAYS", default=14)

SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")

# Stripe invoices for the quarterly chargeback (optional): the secret API key, the API base (blank = Stripe itself;
# set it to point at a fake such as localstripe) and the webhook endpoint's signing secret.
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")

REST_FRAMEWORK = {
    # Session first: a signed-in browser; then personal tokens (`Authorization: Bearer alloc_…`) for scripts.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "allocator.api.auth.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "allocator.api.auth.SignedIn",
        "allocator.api.auth.ReadOnlyTokensOnlyRead",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "allocator.api.pagination.Pages",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "allocator.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Throttles count in the shared cache (CACHE_URL), so every web process sees the same counts.
    "DEFAULT_THROTTLE_CLASSES": ["allocator.api.auth.AnonThrottle", "allocator.api.auth.TokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="30/min"),
        "token": env.str("API_THROTTLE_TOKEN", default="600/min"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "EXCEPTION_HANDLER": "allocator.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Allocator API",
    "DESCRIPTION": (
        "Version 1. Authenticate with a personal token (`Authorization: Bearer alloc_…`, created at "
        "/accounts/tokens/) or a browser session (send the CSRF token on writes). Every error, whatever the "
        'status, answers `{"error": {"code": "...", "message": "...", "fields": {...}}}`, with `fields` only for '
        "invalid input. Money is a decimal string in USD; times are ISO 8601 in UTC."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "KeyStatusEnum": "allocator.models.Key.Status",
        "ProviderAccountStatusEnum": "allocator.models.ProviderAccount.Status",
        "SyncRunStatusEnum": "allocator.usage.models.SyncRun.Status",
        "AlertStatusEnum": "budgets.models.Alert.Status",
        "KeyRequestStateEnum": "allocator.models.KeyRequest.State",
        "BudgetRequestStateEnum": "budgets.models.BudgetRequest.State",
    },
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    # Swagger UI from drf-spectacular-sidecar's static files: the docs work with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes speak plain HTTP to the container, inside the cluster
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Content-Security-Policy (django-csp): scripts only from the site's own static files (no inline script, no eval),
# except an inline block carrying this response's nonce (Swagger UI's start-up script, the 500 page's styles);
# style sheets likewise; style *attributes* (bar widths, small layout tweaks) are allowed, since they cannot run
# code. Images may be data: URIs (Swagger UI's icons); the charts are inline SVG.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],  # only for browsers without the two directives below
        "style-src-elem": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Logs: one JSON object a line in production (LOG_FORMAT=json), key=value lines in development (console).
# django-structlog binds a request_id to every line a request logs (the proxy's X-Request-ID with
# LOG_TRUST_REQUEST_ID) and passes it on to the Celery tasks the request sends, so a key's mint is traced to its
# approval. Nothing logs request bodies, secrets or credentials.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "console")
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or console.")
_log_pre_chain = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_log_renderers = {"json": structlog.processors.JSONRenderer(), "console": structlog.dev.ConsoleRenderer(colors=False)}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        name: {
            "()": structlog.stdlib.ProcessorFormatter,
            "foreign_pre_chain": _log_pre_chain,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        }
        for name, renderer in _log_renderers.items()
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes logs every sign-in at INFO ("deleted 0 failed attempts"); lockouts are WARNING, failures in the admin.
    "loggers": {"httpx": {"level": "WARNING"}, "django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}
structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level,
        *_log_pre_chain,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# Keep the X-Request-ID a proxy in front sets (off by default: a client could otherwise choose its own ids).
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = env.bool("LOG_TRUST_REQUEST_ID", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING above, as JSON in production
