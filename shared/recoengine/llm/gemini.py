"""Gemini on Vertex AI through ``google-genai``, with a timeout, bounded retries and a fallback.

Retries are ours, not the client's (its ``retry_options`` stay unset): we retry 408, 429 and
5xx answers and transport timeouts at most ``max_retries`` times with jittered exponential
backoff, under one overall deadline, and on any failure answer with the offline responder's
text flagged ``fallback=True`` and logged, so the chat never fails because the model is down.
The client is built on first use: importing ``google.genai`` costs cold-start time.
"""

from __future__ import annotations

import importlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from recoengine.llm.base import Completion, Prompt
from recoengine.llm.offline import OfflineResponder

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
FALLBACK_NOTE = "(The language model is unavailable right now, so this is a simpler answer.)"


def build_instruction(prompt: Prompt) -> str:
    """System instruction: the personality, the running summary and the items to name."""
    lines = [prompt.system_instruction or "You are a helpful assistant."]
    if prompt.style:
        lines.append(f"Style: {prompt.style}")
    if prompt.summary:
        lines.append(f"Summary of the earlier conversation: {prompt.summary}")
    if prompt.recommendations:
        items = "; ".join(f"{i}. {it.title}" for i, it in enumerate(prompt.recommendations, 1))
        lead = f"The user asked for items like {prompt.anchor}. " if prompt.anchor else ""
        lines.append(
            f"{lead}Recommend exactly these items from our catalogue, in this order, naming each"
            f" title; do not invent other items: {items}"
        )
    lines.extend(prompt.notes)
    return "\n".join(lines)


class GeminiModel:
    name = "gemini"

    def __init__(
        self,
        *,
        project: str,
        location: str,
        model: str,
        timeout_seconds: float = 10.0,
        max_retries: int = 2,
        base_url: str = "",
        credentials: Any = None,
        backoff_seconds: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project = project
        self.location = location
        self.model = model
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.base_url = base_url
        self.credentials = credentials
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self._client: Any = None
        self._lock = threading.Lock()
        self._fallback = OfflineResponder()
        self.last_error: str | None = None

    def describe(self) -> dict[str, object]:
        return {
            "backend": "gemini",
            "model": self.model,
            "location": self.location,
            "status": "degraded" if self.last_error else "ok",
            "last_error": self.last_error,
        }

    def _get_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from google import genai
                    from google.genai import types

                    options = types.HttpOptions(
                        base_url=self.base_url or None,
                        timeout=max(1, int(self.timeout_seconds * 1000)),
                    )
                    self._client = genai.Client(
                        vertexai=True,
                        project=self.project,
                        location=self.location,
                        credentials=self.credentials,
                        http_options=options,
                    )
        return self._client

    def _request(self, prompt: Prompt) -> str:
        from google.genai import types

        contents: list[types.Content] = []
        for user_text, reply in prompt.history:
            contents.append(types.Content(role="user", parts=[types.Part(text=user_text)]))
            contents.append(types.Content(role="model", parts=[types.Part(text=reply)]))
        contents.append(types.Content(role="user", parts=[types.Part(text=prompt.message)]))
        response = self._get_client().models.generate_content(
            model=self.model,
            contents=contents,
            config=types.GenerateContentConfig(
                system_instruction=build_instruction(prompt),
                temperature=0.7,
                max_output_tokens=1024,
            ),
        )
        text = response.text
        if not text:
            raise EmptyReply("the model returned no text")
        return str(text)

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            return exc.code in RETRYABLE_STATUS
        return isinstance(exc, _transport_errors())

    def generate(self, prompt: Prompt) -> Completion:
        deadline = time.monotonic() + self.timeout_seconds * (self.max_retries + 1) + 5.0
        attempts = 0
        error = "unknown"
        while True:
            attempts += 1
            try:
                text = self._request(prompt)
                self.last_error = None
                return Completion(text, self.model, attempts=attempts)
            except Exception as exc:  # every failure ends in a fallback reply, never a 500
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                retry = self._retryable(exc) and attempts <= self.max_retries
                delay = self.backoff_seconds * (2 ** (attempts - 1)) * (1 + random.random())
                if not retry or time.monotonic() + delay >= deadline:
                    break
                log.info("gemini attempt %d failed (%s); retrying in %.2fs", attempts, error, delay)
                self.sleep(delay)
        self.last_error = error
        log.warning(
            "gemini failed after %d attempt(s), answering with the fallback: %s",
            attempts,
            error,
            extra={"json_fields": {"fallback": True, "llm_error": error, "attempts": attempts}},
        )
        text = f"{FALLBACK_NOTE} {self._fallback.body(prompt)}"
        return Completion(text, self.model, fallback=True, error=error, attempts=attempts)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and connection errors of whichever HTTP library google-genai runs on
    (recent versions use ``httpx2``, a fork of ``httpx``)."""
    found: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found += [module.TimeoutException, module.TransportError]
    return tuple(found)


class EmptyReply(RuntimeError):
    """The model answered without text (e.g. blocked by safety filters)."""
