"""Telling humans: an ERROR log entry (Cloud Logging alerts and Error Reporting pick it up)
and, if configured, a JSON POST to ``ROLLBACK_WEBHOOK_URL`` (Slack-compatible ``text``).
A failing webhook is logged, never raised: the rollback itself already happened."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("recoengine.canary.notify")


class Notifier:
    def __init__(self, webhook_url: str = "", timeout_s: float = 5.0) -> None:
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s

    def rollback(self, event: dict[str, Any]) -> None:
        text = (
            f"Canary rollback of {event.get('service')}: revision "
            f"{event.get('candidate_revision')} -> {event.get('stable_revision')} "
            f"({event.get('reason')})"
        )
        self._send("rollback_notified", text, event)

    def paused(self, event: dict[str, Any]) -> None:
        text = (
            f"Canary of {event.get('service')} paused for a human: candidate "
            f"{event.get('candidate_revision')} ({event.get('reason')})"
        )
        self._send("pause_notified", text, event)

    def _send(self, kind: str, text: str, event: dict[str, Any]) -> None:
        log.error(text, extra={"json_fields": {"canary_event": kind, **event}})
        if not self.webhook_url:
            return
        import requests

        try:
            resp = requests.post(
                self.webhook_url, json={"text": text, **event}, timeout=self.timeout_s
            )
            if resp.status_code >= 400:
                log.warning("rollback webhook answered %s", resp.status_code)
        except requests.RequestException as exc:
            log.warning("rollback webhook failed: %s", exc)
