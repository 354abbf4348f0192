"""Serving: the recommender service that the recommend and chat functions call.

Pure logic over a loaded artifact (numpy and the standard library): it neither loads the
model, nor trains one, nor knows about HTTP or Prometheus. ``recoengine.wiring.common`` loads
the configured artifact once per instance and hands the service its metric callbacks.
"""

from recoengine.serving.service import (
    Recommendations,
    RecommendContext,
    RecommenderService,
    ScoredItem,
)

__all__ = [
    "RecommendContext",
    "Recommendations",
    "RecommenderService",
    "ScoredItem",
]
