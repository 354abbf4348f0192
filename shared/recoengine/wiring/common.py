"""What the recommend and chat functions share: the recommender, the session store, the
reader of users' recent events and the sign-in check.

Declared once here, so the local stack (all functions in one process) holds one model, one
store and one breaker, as an instance of each function would hold its own. The builders take
settings sections; the providers call them with ``settings()`` on first use. Heavy modules
(numpy, the artifact loader, the store backends) are imported inside the builders: the chat
function loads the model on the first turn that needs it, not at import.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recoengine.config import ChatSettings, RecommendSettings, settings
from recoengine.errors import ServiceUnavailable
from recoengine.web.app import ApiRequest
from recoengine.web.identity import Authenticator
from recoengine.wiring.provider import Provider

if TYPE_CHECKING:
    from recoengine.serving import RecommenderService
    from recoengine.sessions import SessionStore
    from recoengine.sessions.user_events import UserEvents

__all__ = [
    "MODEL_RETRY_SECONDS",
    "MODEL_UNAVAILABLE",
    "authenticate",
    "authenticator",
    "build_recommender",
    "build_session_store",
    "check_user",
    "recommender",
    "recommender_status",
    "session_store",
    "user_events",
]

log = logging.getLogger(__name__)

# A model that failed to load is tried again after this long; until then requests get 503.
MODEL_RETRY_SECONDS = 30.0
MODEL_UNAVAILABLE = "the recommendation model is not available right now; retry later"


# -- the recommender ----------------------------------------------------------------------
def build_recommender(cfg: RecommendSettings, cache_dir: Path) -> RecommenderService:
    """The service over the artifact at ``cfg.model_uri`` and the catalog updates published
    beside it, reporting to the product's metrics. Never trains: a missing model is an error
    here (``make run`` trains the demo model before it starts serving)."""
    from recoengine import artifact
    from recoengine.catalog.watcher import watch
    from recoengine.serving import Recommendations, RecommenderService
    from recoengine.serving.cache import TTLCache
    from recoengine.serving.service import weights_in_force
    from recoengine.web.metrics import RECOMMENDATION_CACHE, RECOMMENDATION_ENGINE_LATENCY

    loaded = artifact.load(cfg.model_uri, cache_dir)
    weights, source = weights_in_force(cfg.weights, loaded.model.tuned_weights)
    cache: TTLCache[Recommendations] = TTLCache(
        cfg.cache_size,
        cfg.cache_ttl_seconds,
        on_hit=RECOMMENDATION_CACHE.labels("hit").inc,
        on_miss=RECOMMENDATION_CACHE.labels("miss").inc,
    )
    log.info(
        "model %s loaded from %s; blend weights %s (%s)",
        loaded.version,
        cfg.model_uri,
        weights,
        source,
    )
    service = RecommenderService(
        loaded,
        weights,
        cache,
        observe_latency=RECOMMENDATION_ENGINE_LATENCY.observe,
        weights_source=source,
        new_item_share=cfg.catalog_new_item_share,
    )
    # Catalog updates published beside the model (make catalog-update): applied now, then
    # polled every CATALOG_REFRESH_SECONDS off the request path (recoengine.catalog).
    watch(service, cfg.model_uri, cfg.catalog_refresh_seconds)
    return service


def _load_recommender() -> RecommenderService:
    cfg = settings()
    try:
        return build_recommender(cfg.recommend, cfg.service.var_dir / "model-cache")
    except Exception as exc:  # any failure to load is "model unavailable", never a crash
        # The details (the model URI, the storage error: bucket, paths, service account) go to
        # the log only; the client learns that the model is unavailable and when to retry.
        log.error("recommendation model unavailable: %s: %s", type(exc).__name__, exc)
        raise ServiceUnavailable(MODEL_UNAVAILABLE) from None


recommender: Provider[RecommenderService] = Provider(
    "recommender", _load_recommender, retry_after=MODEL_RETRY_SECONDS
)


def recommender_status() -> dict[str, Any]:
    """The "recommender" health component: loads the model if needed; raises when it
    cannot (the component is then unhealthy)."""
    return recommender().status()


# -- sessions and users' recent events ------------------------------------------------------
def build_session_store(chat: ChatSettings, project: str) -> SessionStore:
    """A store for the configured backend (``SESSION_BACKEND=sqlite|firestore``); the
    Firestore client is imported only when that backend is chosen."""
    from datetime import timedelta

    ttl = timedelta(hours=chat.session_ttl_hours)
    if chat.session_backend == "firestore":
        from recoengine.sessions.firestore_store import FirestoreSessionStore

        return FirestoreSessionStore(
            ttl=ttl,
            project=project,
            database=chat.firestore_database,
            timeout=chat.firestore_timeout_seconds,
            events_max=chat.user_events_max,
        )
    from recoengine.sessions.sqlite_store import SqliteSessionStore

    return SqliteSessionStore(chat.sqlite_path, ttl, events_max=chat.user_events_max)


session_store: Provider[SessionStore] = Provider(
    "session_store", lambda: build_session_store(settings().chat, settings().service.project)
)


def _user_events() -> UserEvents:
    from recoengine.sessions.user_events import UserEvents

    # The store's provider, not the store: a store that cannot be opened is an outage the
    # breaker absorbs, like one that stops answering.
    return UserEvents(session_store)


user_events: Provider[UserEvents] = Provider("user_events", _user_events)


# -- who the end user is --------------------------------------------------------------------
authenticator: Provider[Authenticator] = Provider(
    "authenticator", lambda: Authenticator(settings().identity)
)


def authenticate(req: ApiRequest) -> None:
    """The route guard of every user-facing route (``recoengine.web.identity``)."""
    authenticator().authenticate(req)


def check_user(req: ApiRequest, user_id: str) -> str:
    """The user the request may act for: ``user_id``, checked against the signed-in user."""
    return authenticator().check_user(req, user_id)
