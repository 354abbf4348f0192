"""The per-instance singleton: load the model once, lazily, and remember why it failed.

With the default ``MODEL_URI`` (``var/model``) and no artifact yet, a demo model is trained
from generated data on first use, so ``make run`` works on a fresh machine. A configured
artifact that is missing or corrupt is never replaced by a demo: the engine reports unhealthy
and the endpoint answers 503 (retrying the load at most every ``_RETRY_SECONDS``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from recoengine import artifact
from recoengine.config import settings
from recoengine.errors import ServiceUnavailable
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.serving.cache import TTLCache
from recoengine.serving.service import Recommendations, RecommenderService
from recoengine.web.metrics import RECOMMENDATION_ENGINE_LATENCY

log = logging.getLogger(__name__)
_RETRY_SECONDS = 30.0
_lock = threading.Lock()
_service: RecommenderService | None = None
_failure: tuple[float, str] | None = None
_weights_source = "default"


def _default_model_path() -> Path:
    return settings().service.var_dir / "model"


def _build_demo_model(path: Path) -> None:
    from recoengine.data.demo import generate
    from recoengine.pipeline import train_and_save  # training code is not needed otherwise

    log.info("no model at %s: training the demo model from generated data", path)
    cfg = settings().recommend
    train_and_save(generate(seed=cfg.demo_seed), path, tune=False)


def _load() -> RecommenderService:
    cfg = settings().recommend
    uri = cfg.model_uri
    if uri == str(_default_model_path()) and not (Path(uri) / "manifest.json").exists():
        _build_demo_model(Path(uri))
    loaded = artifact.load(uri, settings().service.var_dir / "model-cache")
    weights, source = weights_in_force(cfg.weights, loaded.model.tuned_weights)
    cache: TTLCache[Recommendations] = TTLCache(cfg.cache_size, cfg.cache_ttl_seconds)
    log.info("model %s loaded from %s; blend weights %s (%s)", loaded.version, uri, weights, source)
    global _weights_source
    _weights_source = source
    return RecommenderService(
        loaded, weights, cache, observe_latency=RECOMMENDATION_ENGINE_LATENCY.observe
    )


def weights_in_force(
    configured: tuple[float, float, float] | None, tuned: tuple[float, float, float] | None
) -> tuple[tuple[float, float, float], str]:
    """BLEND_WEIGHTS when set, else the weights training tuned (recorded in the artifact),
    else the product's default; with where they came from, for /health/detailed."""
    if configured is not None:
        return configured, "BLEND_WEIGHTS"
    if tuned is not None:
        return tuned, "artifact (tuned on validation)"
    return DEFAULT_WEIGHTS, "default"


def get_service() -> RecommenderService:
    global _service, _failure
    if _service is not None:
        return _service
    with _lock:
        if _service is not None:
            return _service
        if _failure is not None and time.monotonic() - _failure[0] < _RETRY_SECONDS:
            raise ServiceUnavailable(f"recommendation model unavailable: {_failure[1]}")
        try:
            _service = _load()
            _failure = None
        except Exception as exc:  # any failure to load is "model unavailable", never a crash
            _failure = (time.monotonic(), str(exc))
            log.error("recommendation model unavailable: %s", exc)
            raise ServiceUnavailable(f"recommendation model unavailable: {exc}") from None
        return _service


def reset_service() -> None:
    """Forget the loaded model (tests; a new artifact)."""
    global _service, _failure
    with _lock:
        _service = None
        _failure = None


def service_status() -> dict[str, Any]:
    """Health of the engine: loads the model if needed; raises when it cannot."""
    svc = get_service()
    return {
        "status": "ok",
        "model_version": svc.version,
        "items": svc.n_items,
        "weights": list(svc.weights),
        "weights_source": _weights_source,
        "cache": svc.cache.stats(),
    }
