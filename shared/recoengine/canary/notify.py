"""Telling humans: an ERROR log entry (Cloud Logging alerts and Error Reporting pick it up)
and, if configured, a JSON POST to ``ROLLBACK_WEBHOOK_URL`` (Slack-compatible ``text``).

Invariant I5: notifications go out after traffic has moved and never block it. The controller
calls the notifier only once the traffic change is done, and the webhook is posted from a
worker thread that the caller waits for at most ``wait_s`` (2 s). Why wait at all: Cloud Run
with ``cpu_idle = true`` throttles the CPU once the response is sent, so a fire-and-forget
thread might never run; waiting a bounded time keeps the request (and its CPU) alive long
enough for a healthy webhook, while a slow one (the post's own timeout is ``timeout_s``) costs
the incident handler at most ``wait_s`` after the rollback, never before it. A post still
pending after the wait may be lost; the ERROR log entry, written first, is the reliable record.
A failing webhook is logged, never raised: the rollback itself already happened.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("recoengine.canary.notify")


class Notifier:
    def __init__(self, webhook_url: str = "", timeout_s: float = 5.0, wait_s: float = 2.0) -> None:
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self.wait_s = wait_s

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
        worker = threading.Thread(
            target=self._post, args=({"text": text, **event},), name="canary-webhook", daemon=True
        )
        worker.start()
        worker.join(self.wait_s)
        if worker.is_alive():
            log.warning(
                "%s webhook still pending after %.1f s; not waiting longer", kind, self.wait_s
            )

    def _post(self, body: dict[str, Any]) -> None:
        import requests

        try:
            resp = requests.post(self.webhook_url, json=body, timeout=self.timeout_s)
            if resp.status_code >= 400:
                log.warning("rollback webhook answered %s", resp.status_code)
        except requests.RequestException as exc:
            log.warning("rollback webhook failed: %s", exc)
