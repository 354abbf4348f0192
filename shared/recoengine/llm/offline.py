"""The embedded responder: deterministic replies from the context and the engine's items.

It is the default for ``make run`` (no Google account needed) and the text behind Gemini's
fallback. It says plainly that it is offline, so nobody mistakes it for a language model.
"""

from __future__ import annotations

from recoengine.llm.base import Completion, Prompt

OFFLINE_NOTE = "[offline responder: no language model is connected]"
_OPENERS = {
    "curator": "Here is what I would pick for you",
    "guide": "Happy to help",
    "companion": "Good to hear from you",
}


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OfflineResponder:
    name = "offline"

    def describe(self) -> dict[str, object]:
        return {"backend": "offline", "status": "ok"}

    def body(self, prompt: Prompt) -> str:
        """The reply without the offline marker (Gemini's fallback reuses it)."""
        opener = _OPENERS.get(prompt.personality, "Hello")
        parts: list[str] = []
        if prompt.recommendations:
            titles = [f"{i}. {item.title}" for i, item in enumerate(prompt.recommendations, 1)]
            if prompt.intent == "more_like" and prompt.anchor:
                head = f"{opener}: more like {prompt.anchor}"
            elif prompt.intent == "something_else":
                head = f"{opener}: something different from before"
            else:
                head = opener
            parts.append(f"{head}: " + "; ".join(titles) + ".")
            parts.append('Say "more like the second one" or "something else" to refine.')
        elif prompt.intent in ("recommend", "more_like", "something_else"):
            parts.append(f"{opener}, but I have no recommendations to offer right now.")
        elif prompt.intent == "greeting":
            parts.append(f"{opener}! Ask me to recommend something, or ask how this works.")
        elif prompt.intent == "help":
            parts.append(
                f'{opener}: ask "recommend me something", then refine with "more like the '
                'second one" or "something else". I remember this conversation for a day.'
            )
        else:
            parts.append(f'{opener}. You said: "{_quote(prompt.message)}".')
        parts.extend(prompt.notes)
        if prompt.history:
            last_user = prompt.history[-1][0]
            parts.append(f'Earlier you said: "{_quote(last_user, 60)}".')
        elif prompt.summary:
            parts.append(f"So far: {_quote(prompt.summary, 120)}")
        return " ".join(parts)

    def generate(self, prompt: Prompt) -> Completion:
        return Completion(f"{OFFLINE_NOTE} {self.body(prompt)}", self.name)
