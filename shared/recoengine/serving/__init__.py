"""Serving: the recommender service that the recommend and chat functions call.

``get_service()`` loads the model once per instance (lazily: cold start matters) and returns
a ``RecommenderService``; while the model cannot be loaded it raises ``ServiceUnavailable``
(HTTP 503), never a 500.
"""

from recoengine.serving.service import (
    Recommendations,
    RecommendContext,
    RecommenderService,
    ScoredItem,
)
from recoengine.serving.state import get_service, reset_service, service_status

__all__ = [
    "RecommendContext",
    "Recommendations",
    "RecommenderService",
    "ScoredItem",
    "get_service",
    "reset_service",
    "service_status",
]
