"""The multi-turn chat: context memory, personality routing, recommendation intents.

The core (intents, memory, personalities, the ``ChatService``) is pure: it talks to a session
store, a language model, a ``Recommender`` and a ``RecentItems`` reader through their
interfaces. ``recoengine.wiring.chat`` builds one ``ChatService`` per instance from the
configuration, with the product's metrics.
"""

from recoengine.chat.interpreter import Interpreter
from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.recommender import RecentItems, Recommender, Suggestion
from recoengine.chat.service import ChatLimits, ChatService, Delta, TurnResult

__all__ = [
    "ChatLimits",
    "ChatService",
    "Delta",
    "Interpreter",
    "PersonalityRouter",
    "RecentItems",
    "Recommender",
    "Suggestion",
    "TurnResult",
    "load_personalities",
]
