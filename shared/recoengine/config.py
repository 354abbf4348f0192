"""All configuration, read from environment variables in this one module and validated once.

Defaults make ``make run`` work on a laptop with no Google account: a demo model trained on
first start, sessions in SQLite, the offline responder, a local bearer token for canary.
Cloud parts switch on by configuration (``SESSION_BACKEND=firestore``, ``LLM_BACKEND=gemini``,
``MODEL_URI=gs://...``, ``CANARY_AUTH=iam``), never by editing code.

Each area owns one frozen section; ``load_settings()`` builds them all and raises
``ConfigError`` naming the variable when a value is invalid, so a bad deployment fails at
start-up instead of on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from recoengine.errors import ConfigError

Env = Mapping[str, str]


def _get(env: Env, name: str, default: str) -> str:
    value = env.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def env_str(env: Env, name: str, default: str, choices: tuple[str, ...] | None = None) -> str:
    value = _get(env, name, default)
    if choices is not None and value not in choices:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def env_int(env: Env, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected an integer") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name}={value}: expected a value in [{lo}, {hi}]")
    return value


def env_float(
    env: Env, name: str, default: float, lo: float | None = None, hi: float | None = None
) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name}={value}: expected a value in [{lo}, {hi}]")
    return value


THINKING_LEVELS = ("minimal", "low", "medium", "high")


def env_thinking(env: Env, name: str, default: str) -> int | str | None:
    """A model's thinking: a level (``minimal`` … ``high``), a token budget (-1 … 32768;
    0: none, -1: the model decides) or ``default`` (None: send nothing)."""
    raw = _get(env, name, default).lower()
    if raw == "default":
        return None
    if raw in THINKING_LEVELS:
        return raw
    try:
        budget = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r}: expected {', '.join(THINKING_LEVELS)}, default or a token budget"
        ) from None
    if not -1 <= budget <= 32768:
        raise ConfigError(f"{name}={budget}: a token budget is in [-1, 32768]")
    return budget


def env_bool(env: Env, name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def _secret(env: Env, name: str, *, min_chars: int) -> str:
    """A secret from the environment ("" when unset); never echoed in the error."""
    value = _get(env, name, "")
    if value and len(value) < min_chars:
        raise ConfigError(f"{name}: expected a random secret of at least {min_chars} characters")
    return value


def _weights(env: Env, name: str) -> tuple[float, float, float] | None:
    """Blend weights from ``name`` (normalised), or None when it is unset."""
    raw = _get(env, name, "")
    if not raw.strip():
        return None
    parts = [p.strip() for p in raw.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected three numbers 'cf,cb,pa'") from None
    if len(values) != 3 or any(v < 0 or v != v for v in values) or sum(values) <= 0:
        raise ConfigError(f"{name}={raw!r}: expected three non-negative numbers 'cf,cb,pa'")
    total = sum(values)
    return (values[0] / total, values[1] / total, values[2] / total)


@dataclass(frozen=True)
class ServiceSettings:
    """Identity of the running instance (Cloud Run sets K_SERVICE/K_REVISION)."""

    project: str
    service: str
    revision: str
    log_level: str
    max_body_bytes: int
    var_dir: Path

    @classmethod
    def from_env(cls, env: Env) -> ServiceSettings:
        return cls(
            project=_get(env, "GOOGLE_CLOUD_PROJECT", "local-project"),
            service=_get(env, "K_SERVICE", "local"),
            revision=_get(env, "K_REVISION", "local"),
            log_level=env_str(
                env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
            ),
            max_body_bytes=env_int(env, "MAX_BODY_BYTES", 65536, 1024, 10 * 1024 * 1024),
            var_dir=Path(_get(env, "VAR_DIR", "var")),
        )


@dataclass(frozen=True)
class RecommendSettings:
    model_uri: str
    # BLEND_WEIGHTS when set; otherwise the artifact's tuned weights are served.
    weights: tuple[float, float, float] | None
    cache_size: int
    cache_ttl_seconds: float
    demo_seed: int
    # Read the user's recent clicks/accepts from the session store on every request: one store
    # read each (a Firestore query in the cloud); off when clients send context.recent_items.
    user_events: bool
    # Feedback tokens (recoengine.feedback_tokens): the signing key (Secret Manager in the
    # cloud; empty locally, where a random key is kept in feedback_key_file) and their lifetime.
    feedback_key: str
    # Rotation (docs/deploy.md): the key before the current one and the one after it only
    # verify; tokens are signed with ``feedback_key``. Pinned Secret Manager versions in the cloud.
    feedback_key_previous: str
    feedback_key_next: str
    feedback_key_file: Path
    feedback_token_ttl_seconds: int
    # Catalog updates (recoengine.catalog, make catalog-update): how often a running instance
    # checks for a newer one, and the share of each answer's slots reserved for the items they
    # added (0.2 with k=10: two slots; 0, the default, is off).
    catalog_refresh_seconds: float = 60.0
    catalog_new_item_share: float = 0.0

    @classmethod
    def from_env(cls, env: Env, var_dir: Path) -> RecommendSettings:
        return cls(
            model_uri=_get(env, "MODEL_URI", str(var_dir / "model")),
            weights=_weights(env, "BLEND_WEIGHTS"),
            cache_size=env_int(env, "RECO_CACHE_SIZE", 4096, 0, 1_000_000),
            cache_ttl_seconds=env_float(env, "RECO_CACHE_TTL_SECONDS", 30.0, 0.0, 86400.0),
            demo_seed=env_int(env, "DEMO_SEED", 7, 0),
            user_events=env_bool(env, "RECO_USER_EVENTS", True),
            feedback_key=_secret(env, "FEEDBACK_SIGNING_KEY", min_chars=32),
            feedback_key_previous=_secret(env, "FEEDBACK_SIGNING_KEY_PREVIOUS", min_chars=32),
            feedback_key_next=_secret(env, "FEEDBACK_SIGNING_KEY_NEXT", min_chars=32),
            feedback_key_file=Path(_get(env, "FEEDBACK_KEY_FILE", str(var_dir / "feedback-key"))),
            feedback_token_ttl_seconds=env_int(
                env, "FEEDBACK_TOKEN_TTL_SECONDS", 86400, 60, 7 * 86400
            ),
            catalog_refresh_seconds=env_float(env, "CATALOG_REFRESH_SECONDS", 60.0, 0.1, 86400.0),
            catalog_new_item_share=env_float(env, "CATALOG_NEW_ITEM_SHARE", 0.0, 0.0, 1.0),
        )


@dataclass(frozen=True)
class ChatSettings:
    """Sessions, the multi-turn engine and the language model (issue 3).

    Defaults are the embedded ones (SQLite file under ``var/``, offline responder) so
    ``make run`` converses with no Google account; Firestore and Gemini switch on here.
    """

    session_backend: str
    sqlite_path: Path
    session_ttl_hours: float
    firestore_database: str
    firestore_timeout_seconds: float
    llm_backend: str
    gemini_model: str
    location: str
    llm_timeout_seconds: float
    llm_max_retries: int
    llm_base_url: str
    personalities_file: str
    max_message_chars: int
    context_budget_chars: int
    summary_max_chars: int
    user_events_max: int
    # Understanding (issue 13): "auto" uses the language model's structured output when
    # LLM_BACKEND=gemini and the offline parser otherwise; "offline" never asks the model.
    understanding: str = "auto"
    understand_timeout_seconds: float = 3.0
    # How much the model thinks before it writes (issue 19): a level (Gemini 3), a token
    # budget (Gemini 2.5) or None (the model's default). Thinking comes before the first
    # token a user sees; replies and slot filling need little of it (docs/chat.md).
    reply_thinking: int | str | None = "minimal"
    understand_thinking: int | str | None = "minimal"

    @classmethod
    def from_env(cls, env: Env, var_dir: Path) -> ChatSettings:
        return cls(
            session_backend=env_str(env, "SESSION_BACKEND", "sqlite", ("sqlite", "firestore")),
            sqlite_path=Path(_get(env, "SQLITE_PATH", str(var_dir / "sessions.sqlite3"))),
            session_ttl_hours=env_float(env, "SESSION_TTL_HOURS", 24.0, 0.001, 24.0 * 365),
            firestore_database=_get(env, "FIRESTORE_DATABASE", "(default)"),
            firestore_timeout_seconds=env_float(env, "FIRESTORE_TIMEOUT_SECONDS", 2.0, 0.1, 60.0),
            llm_backend=env_str(env, "LLM_BACKEND", "offline", ("offline", "gemini")),
            # Gemini 2.5 Flash's shutdown was announced (Gemini API: 1 Dec 2026; Vertex AI: no
            # earlier than 16 Oct 2026); Gemini 3.5 Flash is GA and served from the global
            # endpoint (docs/chat.md, "Language models").
            gemini_model=_get(env, "GEMINI_MODEL", "gemini-3.5-flash"),
            location=_get(env, "GOOGLE_CLOUD_LOCATION", "global"),
            llm_timeout_seconds=env_float(env, "LLM_TIMEOUT_SECONDS", 10.0, 0.05, 300.0),
            llm_max_retries=env_int(env, "LLM_MAX_RETRIES", 2, 0, 10),
            llm_base_url=_get(env, "LLM_BASE_URL", ""),
            personalities_file=_get(env, "PERSONALITIES_FILE", ""),
            max_message_chars=env_int(env, "CHAT_MAX_MESSAGE_CHARS", 4000, 1, 100_000),
            context_budget_chars=env_int(env, "CHAT_CONTEXT_BUDGET_CHARS", 6000, 200, 1_000_000),
            summary_max_chars=env_int(env, "CHAT_SUMMARY_MAX_CHARS", 1500, 100, 100_000),
            user_events_max=env_int(env, "USER_EVENTS_MAX", 50, 1, 1000),
            understanding=env_str(env, "CHAT_UNDERSTANDING", "auto", ("auto", "offline")),
            understand_timeout_seconds=env_float(
                env, "LLM_UNDERSTAND_TIMEOUT_SECONDS", 3.0, 0.05, 60.0
            ),
            reply_thinking=env_thinking(env, "LLM_REPLY_THINKING", "minimal"),
            understand_thinking=env_thinking(env, "LLM_UNDERSTAND_THINKING", "minimal"),
        )


@dataclass(frozen=True)
class CanarySettings:
    """Canary delivery (``functions/canary``). Local defaults need no Google account:
    traffic and state in SQLite, synthetic metrics, a random bearer token in var/."""

    auth: str
    token: str
    token_file: Path
    platform: str
    store: str
    sqlite_path: Path
    region: str
    plan: str
    rules_path: str
    judge_alpha: float
    error_margin: float
    latency_margin: float
    min_requests: int
    ab_alpha: float
    ab_base_rate: float
    ab_mde: float
    ab_daily_exposures: int
    ab_early_stop: bool
    ab_worse_action: str
    conversion_event: str
    exposure_event: str
    metrics_lag_seconds: int
    max_lookback_seconds: int
    webhook_url: str
    incident_ttl_days: int
    local_services: tuple[str, ...]
    local_scenario: str
    traffic_attempts: int
    traffic_backoff_seconds: float
    # API endpoints of the Cloud Run Admin API (REST) and Cloud Monitoring (gRPC host:port);
    # empty means Google's. The cloud-parity stack points them at the project's fakes.
    run_endpoint: str = ""
    monitoring_endpoint: str = ""

    @classmethod
    def from_env(cls, env: Env, var_dir: Path) -> CanarySettings:
        webhook = _get(env, "ROLLBACK_WEBHOOK_URL", "")
        if webhook and not webhook.startswith(("https://", "http://")):
            raise ConfigError("ROLLBACK_WEBHOOK_URL: expected an http(s) URL")
        services = tuple(
            s.strip() for s in _get(env, "CANARY_LOCAL_SERVICES", "recommend,chat").split(",")
        )
        return cls(
            auth=env_str(env, "CANARY_AUTH", "token", ("token", "iam")),
            token=_get(env, "CANARY_TOKEN", ""),
            token_file=Path(_get(env, "CANARY_TOKEN_FILE", str(var_dir / "canary-token"))),
            platform=env_str(env, "CANARY_PLATFORM", "local", ("local", "cloud")),
            store=env_str(env, "CANARY_STORE", "sqlite", ("sqlite", "firestore")),
            sqlite_path=Path(_get(env, "CANARY_SQLITE_PATH", str(var_dir / "canary.sqlite3"))),
            region=_get(env, "CANARY_REGION", "europe-west1"),
            plan=_get(env, "CANARY_PLAN", "default"),
            rules_path=_get(env, "CANARY_RULES_PATH", ""),
            judge_alpha=env_float(env, "CANARY_JUDGE_ALPHA", 0.01, 1e-6, 0.5),
            error_margin=env_float(env, "CANARY_ERROR_MARGIN", 0.005, 0.0, 1.0),
            latency_margin=env_float(env, "CANARY_LATENCY_MARGIN", 0.2, 0.0, 10.0),
            min_requests=env_int(env, "CANARY_MIN_REQUESTS", 500, 1),
            ab_alpha=env_float(env, "CANARY_AB_ALPHA", 0.05, 1e-4, 0.5),
            ab_base_rate=env_float(env, "CANARY_AB_BASE_RATE", 0.05, 1e-4, 0.99),
            ab_mde=env_float(env, "CANARY_AB_MDE", 0.10, 0.001, 10.0),
            ab_daily_exposures=env_int(env, "CANARY_AB_DAILY_EXPOSURES", 10000, 1),
            ab_early_stop=env_bool(env, "CANARY_AB_EARLY_STOP", False),
            ab_worse_action=env_str(
                env, "CANARY_AB_WORSE_ACTION", "rollback", ("rollback", "pause")
            ),
            conversion_event=_get(env, "CANARY_CONVERSION_EVENT", "click"),
            exposure_event=_get(env, "CANARY_EXPOSURE_EVENT", "impression"),
            metrics_lag_seconds=env_int(env, "CANARY_METRICS_LAG_SECONDS", 180, 0, 3600),
            max_lookback_seconds=env_int(env, "CANARY_MAX_LOOKBACK_SECONDS", 86400, 60),
            webhook_url=webhook,
            incident_ttl_days=env_int(env, "CANARY_INCIDENT_TTL_DAYS", 30, 1, 365),
            local_services=tuple(s for s in services if s),
            local_scenario=_get(env, "CANARY_LOCAL_SCENARIO", "healthy"),
            traffic_attempts=env_int(env, "CANARY_TRAFFIC_ATTEMPTS", 5, 1, 20),
            traffic_backoff_seconds=env_float(
                env, "CANARY_TRAFFIC_BACKOFF_SECONDS", 0.5, 0.0, 60.0
            ),
            run_endpoint=_get(env, "CANARY_RUN_ENDPOINT", ""),
            monitoring_endpoint=_get(env, "CANARY_MONITORING_ENDPOINT", ""),
        )


FIREBASE_CERTS_URL = (
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
)


@dataclass(frozen=True)
class IdentitySettings:
    """End-user identity (issue 6). ``AUTH_MODE=none`` (default, local): the request's
    ``user_id`` is trusted. ``AUTH_MODE=firebase``: a Firebase / Identity Platform ID token is
    required and ``user_id`` must be its subject. The certs URL and issuer are configurable so
    tests can serve their own keys."""

    mode: str
    audience: str
    issuer: str
    certs_url: str
    clock_skew_seconds: int
    certs_timeout_seconds: float

    @classmethod
    def from_env(cls, env: Env) -> IdentitySettings:
        mode = env_str(env, "AUTH_MODE", "none", ("none", "firebase"))
        audience = _get(env, "AUTH_AUDIENCE", _get(env, "GOOGLE_CLOUD_PROJECT", ""))
        if mode == "firebase" and not audience:
            raise ConfigError("AUTH_MODE=firebase needs AUTH_AUDIENCE (the Firebase project id)")
        certs_url = _get(env, "AUTH_CERTS_URL", FIREBASE_CERTS_URL)
        if not certs_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ConfigError("AUTH_CERTS_URL: expected an https URL (or a local test URL)")
        return cls(
            mode=mode,
            audience=audience,
            issuer=_get(env, "AUTH_ISSUER", f"https://securetoken.google.com/{audience}"),
            certs_url=certs_url,
            clock_skew_seconds=env_int(env, "AUTH_CLOCK_SKEW_SECONDS", 10, 0, 300),
            certs_timeout_seconds=env_float(env, "AUTH_CERTS_TIMEOUT_SECONDS", 5.0, 0.1, 60.0),
        )


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings
    recommend: RecommendSettings
    chat: ChatSettings
    canary: CanarySettings
    identity: IdentitySettings


def load_settings(env: Env | None = None) -> Settings:
    """Build and validate every section; raises ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    service = ServiceSettings.from_env(env)
    return Settings(
        service=service,
        recommend=RecommendSettings.from_env(env, service.var_dir),
        chat=ChatSettings.from_env(env, service.var_dir),
        canary=CanarySettings.from_env(env, service.var_dir),
        identity=IdentitySettings.from_env(env),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, loaded once (functions are stateless; env does not change)."""
    return load_settings()
