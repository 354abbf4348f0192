"""Language models behind one interface: the offline responder (embedded default) or Gemini.

Gemini (``llm.gemini``) imports its client library only when that backend is built;
``recoengine.wiring.chat`` picks the backend from configuration, once per instance.
"""

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
]
