"""The chat function's composition root: the ``ChatService`` and the language model, built
from the configuration once per instance, over the shared store, recommender and events
reader of ``wiring.common``.

Tests swap a whole service (``service.override(ChatService(...))``) or one dependency
before the service is built (``language_model.override(...)``).
"""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

from recoengine.capacity import server_threads
from recoengine.chat import (
    ChatLimits,
    ChatService,
    Interpreter,
    PersonalityRouter,
    RecentItems,
    Recommender,
    TurnResult,
    load_personalities,
)
from recoengine.config import ChatSettings, settings
from recoengine.llm import LanguageModel, OfflineResponder, SlotExtractor
from recoengine.sessions import SessionStore
from recoengine.web.logs import add_request_fields
from recoengine.web.metrics import (
    CHAT_FIRST_TOKEN,
    CHAT_MODEL_CALLS,
    CHAT_TOKENS,
    CHAT_TURNS,
    MULTITURN_ENGINE_LATENCY,
    PERSONALITY_ROUTER_LATENCY,
)
from recoengine.wiring.common import (
    authenticate,
    check_user,
    recommender,
    session_store,
    user_events,
)
from recoengine.wiring.provider import Provider
from recoengine.wiring.serving_recommender import ServingRecommender

__all__ = [
    "authenticate",
    "build_chat_service",
    "build_language_model",
    "check_user",
    "language_model",
    "service",
    "session_store",
]


def build_language_model(chat: ChatSettings, project: str) -> LanguageModel:
    """Gemini (``LLM_BACKEND=gemini``; its client library loads on first use) or the
    offline responder."""
    if chat.llm_backend == "gemini":
        from recoengine.llm.gemini import GeminiModel

        return GeminiModel(
            project=project,
            location=chat.location,
            model=chat.gemini_model,
            timeout_seconds=chat.llm_timeout_seconds,
            max_retries=chat.llm_max_retries,
            base_url=chat.llm_base_url,
            understand_timeout_seconds=chat.understand_timeout_seconds,
            reply_thinking=chat.reply_thinking,
            understand_thinking=chat.understand_thinking,
        )
    return OfflineResponder()


language_model: Provider[LanguageModel] = Provider(
    "language_model",
    lambda: build_language_model(settings().chat, settings().service.project),
)


def _observe_router(seconds: float) -> None:
    PERSONALITY_ROUTER_LATENCY.observe(seconds)
    add_request_fields(personality_router_latency_seconds=seconds)


def _observe_turn(seconds: float) -> None:
    MULTITURN_ENGINE_LATENCY.observe(seconds)
    add_request_fields(multiturn_engine_latency=seconds)


_heap = threading.Lock()
_heap_frozen: list[bool] = []


def freeze_heap_once() -> None:
    """After the instance's first saved turn, everything long-lived exists — the engine and
    its catalogue, the store's and the model's clients, every module: ``gc.freeze`` moves it
    out of the cyclic collector's reach, so the full collections that the turns' garbage
    still triggers scan only what came after, not the whole heap again each time (at
    ML-100K's size about 0.1 ms a turn; a large catalogue's millions of objects far more).
    Nothing frozen is leaked: reference counting still frees it."""
    if _heap_frozen:
        return
    with _heap:
        if not _heap_frozen:
            gc.freeze()
            _heap_frozen.append(True)


def record_turn(result: TurnResult) -> None:
    """A saved turn's telemetry: Prometheus metrics and the access-log fields that Cloud
    Logging's log-based metrics count (fallback rates, model calls, tokens, first token);
    the first one freezes the heap (``freeze_heap_once``)."""
    freeze_heap_once()
    fields = result.log_fields()
    CHAT_TURNS.labels(fields["chat_reply"], fields["chat_understanding"]).inc()
    if result.model_calls:
        CHAT_MODEL_CALLS.inc(result.model_calls)
    if result.tokens_in:
        CHAT_TOKENS.labels("in").inc(result.tokens_in)
    if result.tokens_out:
        CHAT_TOKENS.labels("out").inc(result.tokens_out)
    if result.first_token_seconds is not None:
        mode = "stream" if result.streamed else "whole"
        CHAT_FIRST_TOKEN.labels(mode).observe(result.first_token_seconds)
    add_request_fields(**fields)


def build_chat_service(
    chat: ChatSettings,
    *,
    store: SessionStore,
    model: LanguageModel,
    recommender: Recommender,
    events: RecentItems,
) -> ChatService:
    """The chat service with the product's metrics and access-log fields."""
    personalities, default = load_personalities(chat.personalities_file or None)
    router = PersonalityRouter(personalities, default, _observe_router)
    limits = ChatLimits(
        budget_chars=chat.context_budget_chars, summary_max_chars=chat.summary_max_chars
    )
    # With a language model configured, it understands messages (structured output),
    # validated against the catalogue, with the offline parser as the fallback.
    model_understands = chat.understanding == "auto" and chat.llm_backend != "offline"
    extractor = model if model_understands and isinstance(model, SlotExtractor) else None
    return ChatService(
        store,
        model,
        router,
        recommender,
        limits,
        _observe_turn,
        interpreter=Interpreter(extractor),
        events=events,
        on_turn=record_turn,
        # The store's calls wait in the function's thread pool size (capacity.yml's chat
        # threads, SERVER_THREADS): one knob for every thread chat has.
        executor=ThreadPoolExecutor(server_threads("chat"), thread_name_prefix="chat-store"),
    )


def _service() -> ChatService:
    return build_chat_service(
        settings().chat,
        store=session_store(),
        model=language_model(),
        recommender=ServingRecommender(recommender),
        events=user_events(),
    )


service: Provider[ChatService] = Provider("chat_service", _service)
