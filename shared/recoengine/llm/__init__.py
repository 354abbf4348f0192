"""Language models behind one interface: the offline responder (embedded default) or Gemini.

``get_model()`` picks one from configuration (``LLM_BACKEND=offline|gemini``) once per
instance; Gemini's client library is imported only when that backend is chosen and used.
"""

from __future__ import annotations

import threading

from recoengine.config import settings
from recoengine.llm.base import (
    Completion,
    LanguageModel,
    Prompt,
    PromptItem,
    SlotExtractor,
    SlotRequest,
)
from recoengine.llm.offline import OfflineResponder

__all__ = [
    "Completion",
    "LanguageModel",
    "OfflineResponder",
    "Prompt",
    "PromptItem",
    "SlotExtractor",
    "SlotRequest",
    "build_model",
    "get_model",
]

_model: LanguageModel | None = None
_lock = threading.Lock()


def build_model() -> LanguageModel:
    cfg = settings()
    chat = cfg.chat
    if chat.llm_backend == "gemini":
        from recoengine.llm.gemini import GeminiModel

        return GeminiModel(
            project=cfg.service.project,
            location=chat.location,
            model=chat.gemini_model,
            timeout_seconds=chat.llm_timeout_seconds,
            max_retries=chat.llm_max_retries,
            base_url=chat.llm_base_url,
            understand_timeout_seconds=chat.understand_timeout_seconds,
        )
    return OfflineResponder()


def get_model() -> LanguageModel:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = build_model()
    return _model
