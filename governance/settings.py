"""Locus settings: read from the environment, with an embedded default.

Nothing set: SQLite, an in-memory channel layer and Celery tasks run in-process, DEBUG on.
DATABASE_URL + REDIS_URL set: PostgreSQL, Redis channel layer and broker, a separate worker.
"""

import datetime as dt
import os
import tempfile
from pathlib import Path

import environ
import plotly
import rest_framework.compat
from django.core.exceptions import ImproperlyConfigured

from governance.api_conf import *  # noqa: F403  (the API's schema, rate limits, idempotency)
from governance.config import (
    beat_schedule,
    logging_config,
    own_key,
    replica_databases,
    signing_key,
)
from governance.identity.conf import *  # noqa: F403  (single sign-on: README "Single sign-on")
from governance.identity.second_factor_conf import *  # noqa: F403  (README "Second factor")
from governance.telemetry_conf import *  # noqa: F403  (README "Telemetry, violations and incidents")

# The app folder `requests/` shadows PyPI's `requests`. DRF imports `requests` if it can, for an
# optional test helper, and would take our app for it; tell DRF the package is absent (DRF
# itself sets None when the import fails; its stubs type the name as the module only).
rest_framework.compat.requests = None  # type: ignore[assignment]

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="locus-insecure-development-key-only-for-debug")
    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"]
    )
else:
    # A production process must be told its secret and its host names; guessing either is unsafe.
    try:
        SECRET_KEY = env.str("SECRET_KEY")
        ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG=0 needs SECRET_KEY and ALLOWED_HOSTS in the environment"
        ) from exc
    if not SECRET_KEY or not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG=0 needs SECRET_KEY and ALLOWED_HOSTS to be non-empty"
        )

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "channels",
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "catalog",
    "governance",
    "requests.apps.RequestsConfig",
    "monitoring",
]

MIDDLEWARE = [
    # First: every response (a redirect or a 503 too) and every log line carries the request id.
    "governance.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The base of e-mailed links when SITE_URL is unset: the address this request came in on.
    "governance.site.RequestOriginMiddleware",
    # A page that meets an unreachable database answers 503 with a plain page, not 500.
    "governance.unavailable.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "governance.identity.second_factor.SecondFactorMiddleware",  # enrol or confirm first
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "governance.security.ContentSecurityPolicyMiddleware",
    "catalog.replicas.PrimaryAfterWriteMiddleware",  # who just wrote reads the primary a while
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"

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
                "governance.context_processors.navigation",
            ],
        },
    },
]

# Sockets (and `make run`'s one process) on ASGI, Daphne; the pages and API in production on
# WSGI, granian: governance/web.py (README "Production layout").
ASGI_APPLICATION = "governance.asgi.application"
WSGI_APPLICATION = "governance.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time, waiting rather than failing when the in-process tasks write too.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
    # A file, not memory, so that tests can serve it from a real server process too; one per
    # test process, so that test runs side by side never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"locus-test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    if env.bool("DB_POOL", default=True):
        # Under ASGI, Django's persistent connections are per thread and unsafe; a pool keeps
        # connections open across requests instead (a new connection per request costs more
        # than a whole locality check), and under granian's threads (WSGI) too: each thread
        # takes a connection for its request and gives it back, so WEB_THREADS <= max_size.
        pool_timeout = env.float("DB_POOL_TIMEOUT", default=5.0)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
            # How long a request waits for a connection before it is answered 503.
            "timeout": pool_timeout,
            # The pool retries a failed connection with a doubling pause (up to a minute after
            # a long outage) for this long; giving up this soon lets the next request ask for a
            # fresh connection at once, so the first requests after an outage do not time out.
            "reconnect_timeout": pool_timeout,
        }
    # With a pool, Django then has psycopg check each connection as it leaves the pool, so one
    # that broke while idle (PostgreSQL restarted or was unreachable) is replaced, not used.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Read replicas (PostgreSQL streaming standbys), comma-separated: dashboards, list pages and
# exports read there while it is at most REPLICA_MAX_LAG_SECONDS behind (catalog.replicas).
_replicas = replica_databases(env.list("DATABASE_REPLICA_URLS", default=[]), DATABASES["default"])
DATABASES.update(_replicas)
READ_REPLICAS = sorted(_replicas)  # the aliases that catalog.replicas may read from
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=5.0)
# How long a replica's measured lag is trusted before it is measured again.
REPLICA_LAG_CHECK_SECONDS = env.float("REPLICA_LAG_CHECK_SECONDS", default=1.0)
DATABASE_ROUTERS = ["catalog.replicas.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a password login for a username and address after too many failures.
    "axes.backends.AxesStandaloneBackend",
    MODEL_BACKEND,  # noqa: F405  Django's, or one refusing passwords (LOCAL_PASSWORD_LOGIN)
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous visitors get nothing

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
# from one address, logins from there are refused (429) for the cool-off period.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# How many proxies (load balancer, ingress) stand in front of Locus, each appending to
# X-Forwarded-For. One rule names the client from it (governance.client_address), for
# throttles, this lock-out and logs: 0 ignores the header, N takes the N-th address from its
# right. Set it to exactly the number of proxies: more lets a client choose its own address.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "governance.client_address.client_address"
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT  # used only if the callable above were removed

# Content-Security-Policy on every page (governance.security): scripts only from Locus itself,
# never inline. Styles allow inline attributes: Plotly positions its figures with them.
# connect-src 'self' covers the live sockets too (CSP Level 3: 'self' matches ws:/wss: of the
# page's own host and port), and no other host's.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# Uploads (a subject-request export, evidence): held in memory up to this size, refused above
# the request limit with 413 (Django answers 400 for DATA_UPLOAD_MAX_MEMORY_SIZE on forms).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Debug serves static files straight from the apps (WhiteNoise finders); production collects them.
STATIC_ROOT = env.str("STATIC_ROOT", default=None if DEBUG else str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [("plotly", Path(plotly.__file__).parent / "package_data")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Services: embedded default or a real deployment --------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A read timeout above the layer's 5 s blocking pop: redis-py 8's default (5 s) makes
            # an idle receive fail, closing every quiet socket. A dead Redis still shows at once.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "catalog.redis_cache.LocusRedisCache",
            "LOCATION": REDIS_URL,
            # Deployments (or test runs) sharing one Redis database keep their keys apart.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run in the calling process, so one `make run` is the whole product.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# One queue per deployment by default; the test suite gives each test process its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long an unacknowledged task waits before another worker takes it (a worker killed mid-task).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
# django-celery-beat's schedules in the database, read by a scheduler that keeps beat running
# (and sending from the schedule it read last) while the database is unreachable.
CELERY_BEAT_SCHEDULER = "governance.beat:OutageTolerantScheduler"
# How often beat reads the whole schedule table again (changes made in the admin are seen sooner).
BEAT_FULL_READ_SECONDS = env.float("BEAT_FULL_READ_SECONDS", default=300.0)
CELERY_TIMEZONE = "UTC"
# The hour (UTC) of the daily notification digest for people who chose none.
NOTIFICATION_DAILY_DIGEST_HOUR = env.int("NOTIFICATION_DAILY_DIGEST_HOUR", default=7)
# The hour (UTC) of the daily retention work (requests.retention, monitoring.telemetry.purge).
RETENTION_HOUR = env.int("RETENTION_HOUR", default=2)
# Every periodic task, in one place (governance.config.beat_schedule).
CELERY_BEAT_SCHEDULE = beat_schedule(env, retention_hour=RETENTION_HOUR)

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API call gets 401 with a WWW-Authenticate challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.identity.backends.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Every list: pages of 50, `page_size` up to 200, `ordering` over each list's allow-list.
    "DEFAULT_PAGINATION_CLASS": "catalog.paging.LocusPagination",
    "PAGE_SIZE": 50,
    # Lists' filters: a malformed value is a 400 naming the parameter (catalog/filtering.py);
    # ?ordering= from each list's allow-list (catalog/paging.py).
    "DEFAULT_FILTER_BACKENDS": [
        "catalog.filtering.StrictFilterBackend",
        "catalog.paging.LocusOrdering",
    ],
    # Every API view, per person (their token or session): API_RATE below. Telemetry ingest and
    # OpenLineage count per source instead, the public intake per address (their own classes).
    "DEFAULT_THROTTLE_CLASSES": ["catalog.throttling.PersonThrottle"],
    # JSON bodies only (a view taking files says so itself), at most DATA_UPLOAD_MAX_BYTES.
    "DEFAULT_PARSER_CLASSES": ["catalog.parsers.BoundedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "catalog.schema.LocusAutoSchema",
    "EXCEPTION_HANDLER": "governance.api_errors.exception_handler",
    # DRF's own throttles read X-Forwarded-For by this count (the same rule as PROXY_COUNT's).
    "NUM_PROXIES": PROXY_COUNT,
}

# --- Production hardening (checked by `manage.py check --deploy`) ---------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Probes and load balancers speak plain HTTP inside the network: the health checks answer it
# rather than redirecting to HTTPS (they carry nothing secret).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# With debug on, mail is kept in MAILBOX_DIR and read by staff at /mailbox/ (governance.mailbox).
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="governance.mailbox.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
MAILBOX_DIR = env.str("MAILBOX_DIR", default=str(BASE_DIR / "var" / "mailbox"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="locus@localhost")
# Where people reach Locus: the base of the links in e-mails. Unset, a link uses the address the
# request that caused the mail came in on (governance.site), else http://127.0.0.1:8000.
SITE_URL = env.str("SITE_URL", default="")

# --- Transfer exceptions ------------------------------------------------------------------
# An exception asked for without an end lasts this long; no exception lasts longer than its
# mechanism's cap (Art. 49 derogations are for occasional transfers: EDPB Guidelines 2/2018).
EXCEPTION_DEFAULT_DAYS = env.int("EXCEPTION_DEFAULT_DAYS", default=30)
EXCEPTION_MAX_DAYS = {"art49": 30, "consent": 90, "default": 365}
# Requester and reviewers are reminded this many days before an active exception ends.
EXCEPTION_EXPIRY_NOTICE_DAYS = env.list("EXCEPTION_EXPIRY_NOTICE_DAYS", cast=int, default=[7, 1])


# --- Keys of their own (production refuses to start without them: governance.config) ------
def _own_key(name: str) -> str:
    return own_key(env, name, debug=DEBUG, secret_key=SECRET_KEY, debug_default=SECRET_KEY)


# --- Data-subject requests ----------------------------------------------------------------
# The keys that seal subjects' identifiers and exports at rest (Fernet, derived by hashing),
# separated by commas: the first seals, every one unseals. To rotate, put a new key first, run
# `manage.py rotate_subject_key`, then drop the old one. A value no key opens is an error.
SUBJECT_DATA_KEY = _own_key("SUBJECT_DATA_KEY")
# Jurisdictions with no statutory period get this house deadline (calendar days).
SUBJECT_REQUEST_DEFAULT_DAYS = env.int("SUBJECT_REQUEST_DEFAULT_DAYS", default=30)
SUBJECT_VERIFICATION_MINUTES = env.int("SUBJECT_VERIFICATION_MINUTES", default=60 * 24)
SUBJECT_VERIFICATION_ATTEMPTS = env.int("SUBJECT_VERIFICATION_ATTEMPTS", default=5)
SUBJECT_VERIFICATION_CHALLENGES = env.int("SUBJECT_VERIFICATION_CHALLENGES", default=3)
# Wrong codes slow the next attempt, per request and per client address: the first
# SUBJECT_VERIFICATION_FREE_FAILURES cost nothing, then each one doubles a wait that starts
# at SUBJECT_VERIFICATION_WAIT_SECONDS, up to SUBJECT_VERIFICATION_MAX_WAIT_SECONDS. A request
# is never rejected for wrong codes: when its codes run out, codes stop until an officer
# unlocks it.
SUBJECT_VERIFICATION_FREE_FAILURES = env.int("SUBJECT_VERIFICATION_FREE_FAILURES", default=2)
SUBJECT_VERIFICATION_WAIT_SECONDS = env.int("SUBJECT_VERIFICATION_WAIT_SECONDS", default=30)
SUBJECT_VERIFICATION_MAX_WAIT_SECONDS = env.int(
    "SUBJECT_VERIFICATION_MAX_WAIT_SECONDS", default=3600
)
SUBJECT_PACKAGE_DAYS = env.int("SUBJECT_PACKAGE_DAYS", default=14)
# Owners are reminded this many days before a task is due; officers are told this many days
# before a request's deadline.
SUBJECT_TASK_REMINDER_DAYS = env.int("SUBJECT_TASK_REMINDER_DAYS", default=2)
SUBJECT_ESCALATION_DAYS = env.int("SUBJECT_ESCALATION_DAYS", default=5)
# A connector run claimed longer ago than this is presumed lost with its worker.
SUBJECT_CONNECTOR_LEASE_SECONDS = env.int("SUBJECT_CONNECTOR_LEASE_SECONDS", default=600)
# The SLA watch requeues work whose message was lost (a discovery not run, a connector never
# started) once it has stood still this long.
SUBJECT_REQUEUE_AFTER_SECONDS = env.int("SUBJECT_REQUEUE_AFTER_SECONDS", default=600)
SUBJECT_CONNECTOR_MAX_ATTEMPTS = env.int("SUBJECT_CONNECTOR_MAX_ATTEMPTS", default=5)
# Where SQL connectors may read and erase subject data, and nowhere else: DATABASES aliases
# named for subject data (never Locus's own `default`), and named PostgreSQL DSNs. A target
# that is Locus's database (same place, or holding its tables) is refused when it is used.
SUBJECT_CONNECTOR_DATABASES = env.list("SUBJECT_CONNECTOR_DATABASES", default=[])
# Or give them by URL (alias=URL,...): each becomes a DATABASES alias named for subject data.
for _alias, _url in env.dict("SUBJECT_CONNECTOR_DATABASE_URLS", default={}).items():
    DATABASES[_alias] = environ.Env.db_url_config(_url)
    SUBJECT_CONNECTOR_DATABASES.append(_alias)
if "default" in SUBJECT_CONNECTOR_DATABASES:
    raise ImproperlyConfigured("SUBJECT_CONNECTOR_DATABASES must not name Locus's own `default`")
SUBJECT_CONNECTOR_DSNS = env.dict("SUBJECT_CONNECTOR_DSNS", default={})
# The Celery queue of the subject-request tasks; empty: the default queue.
SUBJECT_REQUESTS_QUEUE = env.str("SUBJECT_REQUESTS_QUEUE", default="")
SUBJECT_INTAKE_RATE = env.str("SUBJECT_INTAKE_RATE", default="10/hour")

# --- Retention (README "Retention") -------------------------------------------------------
# Each dataset gets one retention run per period of this many days (counted from Mondays): it
# deletes the records older than the period's first day minus the dataset's retention.
RETENTION_PERIOD_DAYS = env.int("RETENTION_PERIOD_DAYS", default=7)
# A run is due this many days after it opens; unfinished after that, it is overdue.
RETENTION_DUE_DAYS = env.int("RETENTION_DUE_DAYS", default=14)

# --- Ledger -------------------------------------------------------------------------------
# Ed25519 seed (32 bytes, base64) that signs ledger checkpoints and exports; debug derives one
# from SECRET_KEY. Generate one with: python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"
LEDGER_SIGNING_KEY = signing_key(env, debug=DEBUG, secret_key=SECRET_KEY)
# Public keys (base64) of earlier signing keys whose checkpoints stay trusted after a rotation.
LEDGER_TRUSTED_PUBLIC_KEYS = env.list("LEDGER_TRUSTED_PUBLIC_KEYS", default=[])
# The key of the pseudonyms that stand for people in the ledger (never their identifiers).
LEDGER_PSEUDONYM_KEY = _own_key("LEDGER_PSEUDONYM_KEY")
# The Merkle tree (governance/ledger/tree.py): a receipt promises inclusion within this many
# seconds; the sequencer runs every LEDGER_SEQUENCE_SECONDS from beat, or in-process after each
# commit under the embedded default (no worker, no beat).
LEDGER_MERGE_DELAY = env.int("LEDGER_MERGE_DELAY", default=5)
LEDGER_SEQUENCE_SECONDS = env.float("LEDGER_SEQUENCE_SECONDS", default=1.0)
LEDGER_SEQUENCE_ON_COMMIT = env.bool("LEDGER_SEQUENCE_ON_COMMIT", default=CELERY_TASK_ALWAYS_EAGER)
# Where beat publishes the latest signed tree head (governance.ledger.publish): a directory, or
# an http(s) URL it is POSTed to; empty: nowhere (the API and the checkpoints page still serve it).
LEDGER_PUBLISH_TO = env.str("LEDGER_PUBLISH_TO", default="")

# --- Telemetry: governance/telemetry_conf.py ---------------------------------------------

# --- OpenLineage --------------------------------------------------------------------------
# Where the jobs of an OpenLineage job namespace run: {"airflow-eu": "aws:eu-west-1", ...}
# (JSON in the environment). The admin's namespace regions take precedence; a run facet
# `locus_location` over both. See the README's OpenLineage section.
OPENLINEAGE_NAMESPACE_REGIONS: dict[str, str] = env.json(
    "OPENLINEAGE_NAMESPACE_REGIONS", default={}
)

# --- Evidence -----------------------------------------------------------------------------
# Dotted paths of callables `(since, until) -> dict[str filename, bytes]` whose files join the
# auditor's evidence package (governance/ledger/evidence.py). Apps to the right of governance
# (the workflows' exception and subject-request records) add theirs here: governance cannot
# import them.
EVIDENCE_SECTIONS: list[str] = [
    "governance.reviews.evidence.access_review_records",
    "requests.evidence.workflow_records",
    "requests.retention.evidence.retention_records",
    "monitoring.drills.evidence.monitoring_records",
]
# Kinds of access that access reviews review besides governance's own (object permissions, API
# tokens, roles): dotted paths of objects shaped like governance.reviews.subjects.SubjectKind.
ACCESS_REVIEW_SUBJECTS: list[str] = ["monitoring.telemetry.reviews.TELEMETRY_SOURCES"]
# Navigation items of the apps above governance: dotted paths to tuples shaped like
# governance.context_processors._NAV.
NAVIGATION: list[str] = ["requests.nav.NAV", "monitoring.nav.NAV"]

# --- Logs ---------------------------------------------------------------------------------
# One JSON object per line in production (for a log collector), readable lines in development;
# each with the request id (governance.logs). Django's, Celery's and Locus's loggers all write
# through the one handler, to standard error.
LOG_FORMAT = env.str("LOG_FORMAT", default="readable" if DEBUG else "json")
LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))
