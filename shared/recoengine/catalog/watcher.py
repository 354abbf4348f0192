"""A running instance's catalog poller: the newest published update, within the interval.

One daemon thread per served model wakes every ``CATALOG_REFRESH_SECONDS`` and makes one cheap
check (``Location.stamp``: a ``stat`` locally, the pointer's generation on GCS). Only when it
changed does it read the overlay, apply it to the trained model (``overlay.apply``) and hand the
service the new view, all off the request path. An overlay that cannot be read, does not match
its digest or fails validation is logged as an error and shown in ``/health/detailed``
(``catalog.last_error``); the service keeps the view it serves. The thread holds the service
weakly and ends with it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from recoengine.catalog import store
from recoengine.catalog.overlay import CatalogView, apply

if TYPE_CHECKING:
    from recoengine.serving import RecommenderService

log = logging.getLogger(__name__)


class CatalogWatcher:
    def __init__(
        self,
        service: RecommenderService,
        location: store.Location,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = weakref.ref(service)
        self.location = location
        self.interval = interval
        self._stamp: object = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = clock
        self._fork_hooked = False

    def check(self) -> bool:
        """One poll: True when a new view was applied."""
        service = self._service()
        if service is None:
            return False
        try:
            stamp = self.location.stamp(store.POINTER)
        except Exception as exc:  # storage unreachable: keep serving, try next interval
            log.warning("catalog update check at %s failed: %s", self.location.uri, exc)
            return False
        if stamp == self._stamp:
            return False
        started = self._clock()
        try:
            update = store.read_current(self.location)
            view = service.trained if update is None else apply(service.trained, update)
        except Exception as exc:  # a bad update never replaces a good one
            self._stamp = stamp  # not read again until the pointer moves
            log.error(
                "catalog update at %s refused, keeping %s: %s",
                self.location.uri,
                service.catalog_version or "the trained catalog",
                exc,
            )
            service.catalog_status = {**service.catalog_status, "last_error": str(exc)}
            return False
        self._stamp = stamp
        service.apply_catalog(view)
        log.info(
            "catalog update %s applied in %.2f s: %d new items, %d withdrawn",
            view.version,
            self._clock() - started,
            len(view.new_items),
            len(view.withdrawn),
        )
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._service() is None:
                return
            self.check()

    def start(self) -> CatalogWatcher:
        self._thread = threading.Thread(target=self._run, name="catalog-watcher", daemon=True)
        self._thread.start()
        if not self._fork_hooked:
            # The server may load the model before it forks its worker (functions-framework's
            # gunicorn with a warm-up): a thread does not survive a fork, so the child starts
            # its own. Held weakly, like the service.
            self._fork_hooked = True
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart(ref))
        return self

    def stop(self) -> None:
        self._stop.set()


def _restart(ref: weakref.ref[CatalogWatcher]) -> None:
    watcher = ref()
    if watcher is not None and not watcher._stop.is_set():
        watcher._stop = threading.Event()
        watcher.start()


def watch(service: RecommenderService, model_uri: str, interval: float) -> CatalogWatcher | None:
    """Apply what is published now (before the first request), then poll every ``interval``.
    Catalog updates are an addition to the model: when their storage cannot even be reached
    the model is still served (the error is logged and shown in /health/detailed)."""
    try:
        location = store.location(model_uri)
    except Exception as exc:
        log.error("catalog updates at %s unavailable: %s", model_uri, exc)
        service.catalog_status = {**service.catalog_status, "last_error": str(exc)}
        return None
    watcher = CatalogWatcher(service, location, interval)
    watcher.check()
    return watcher.start()


__all__ = ["CatalogView", "CatalogWatcher", "watch"]
