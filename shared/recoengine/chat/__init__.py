"""The multi-turn chat engine: context memory, personality routing, recommendation intents.

The core (intents, memory, personalities, engine) is pure; ``build_engine()`` wires it to the
configured session store, language model and the recommendation service, once per instance,
with the product's metrics.
"""

from __future__ import annotations

import threading

from recoengine.chat.interpreter import Interpreter
from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.recommender import Recommender, ServingRecommender, Suggestion
from recoengine.chat.service import ChatLimits, ChatService, TurnResult

__all__ = [
    "ChatLimits",
    "ChatService",
    "Interpreter",
    "PersonalityRouter",
    "Recommender",
    "ServingRecommender",
    "Suggestion",
    "TurnResult",
    "build_engine",
    "get_engine",
    "load_personalities",
    "use_engine",
]

_engine: ChatService | None = None
_lock = threading.Lock()


def build_engine() -> ChatService:
    from recoengine.config import settings
    from recoengine.llm import SlotExtractor, get_model
    from recoengine.sessions import get_store
    from recoengine.web.logs import add_request_fields
    from recoengine.web.metrics import MULTITURN_ENGINE_LATENCY, PERSONALITY_ROUTER_LATENCY

    def observe_router(seconds: float) -> None:
        PERSONALITY_ROUTER_LATENCY.observe(seconds)
        add_request_fields(personality_router_latency_seconds=seconds)

    def observe_turn(seconds: float) -> None:
        MULTITURN_ENGINE_LATENCY.observe(seconds)
        add_request_fields(multiturn_engine_latency=seconds)

    chat = settings().chat
    personalities, default = load_personalities(chat.personalities_file or None)
    router = PersonalityRouter(personalities, default, observe_router)
    limits = ChatLimits(
        budget_chars=chat.context_budget_chars, summary_max_chars=chat.summary_max_chars
    )
    model = get_model()
    # With a language model configured, it understands messages (structured output),
    # validated against the catalogue, with the offline parser as the fallback.
    extractor = (
        model
        if chat.understanding == "auto" and chat.llm_backend != "offline"
        and isinstance(model, SlotExtractor)
        else None
    )  # fmt: skip
    return ChatService(
        get_store(),
        model,
        router,
        ServingRecommender(),
        limits,
        observe_turn,
        interpreter=Interpreter(extractor),
    )


def get_engine() -> ChatService:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = build_engine()
    return _engine


def use_engine(engine: ChatService | None) -> None:
    """Install an engine built elsewhere (tests, benchmarks); ``None`` rebuilds on next use."""
    global _engine
    with _lock:
        _engine = engine
