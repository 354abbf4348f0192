"""Wiring from configuration: which store, traffic and metrics backends, and the auth guard.

Built lazily once per instance (cold start: no Google client is imported until a request
needs one). ``CANARY_PLATFORM=local`` keeps traffic in the local store and replays a synthetic
timeline as metrics, so ``make run`` walks a rollout with no Google account;
``CANARY_PLATFORM=cloud`` uses the Cloud Run Admin API and Cloud Monitoring.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from recoengine.canary.abtest import AbDesign
from recoengine.canary.cloud_monitoring import CloudMonitoringMetrics
from recoengine.canary.controller import CanaryController
from recoengine.canary.notify import Notifier
from recoengine.canary.policy import CanaryPolicy, JudgeConfig, parse_plan
from recoengine.canary.rules import load_rules
from recoengine.canary.scenarios import SyntheticMetrics
from recoengine.canary.store import FirestoreCanaryStore, SqliteCanaryStore
from recoengine.canary.traffic import CloudRunTraffic, LocalTraffic
from recoengine.config import CanarySettings, settings
from recoengine.errors import Unauthorized

log = logging.getLogger("recoengine.canary")
_lock = threading.Lock()
_controller: CanaryController | None = None
_token: str | None = None


def build_policy(cfg: CanarySettings) -> CanaryPolicy:
    return CanaryPolicy(
        plan=parse_plan(cfg.plan),
        rules=load_rules(cfg.rules_path or None),
        judge=JudgeConfig(cfg.judge_alpha, cfg.error_margin, cfg.latency_margin, cfg.min_requests),
        ab=AbDesign(
            alpha=cfg.ab_alpha,
            base_rate=cfg.ab_base_rate,
            relative_mde=cfg.ab_mde,
            daily_exposures=cfg.ab_daily_exposures,
        ),
        min_window_requests=cfg.min_window_requests,
        conversion_event=cfg.conversion_event,
        exposure_event=cfg.exposure_event,
        ab_early_stop=cfg.ab_early_stop,
        ab_worse_action=cfg.ab_worse_action,
    )


def build_controller(cfg: CanarySettings, project: str) -> CanaryController:
    policy = build_policy(cfg)
    store: Any
    if cfg.store == "firestore":
        store = FirestoreCanaryStore(project=project)
    else:
        store = SqliteCanaryStore(cfg.sqlite_path)
    traffic: Any
    metrics: Any
    if cfg.platform == "cloud":
        traffic = CloudRunTraffic(
            project, cfg.region, attempts=cfg.traffic_attempts,
            backoff_s=cfg.traffic_backoff_seconds,
        )  # fmt: skip
        metrics = CloudMonitoringMetrics(project, policy.rules.window_seconds)
    else:
        if not isinstance(store, SqliteCanaryStore):
            store_for_traffic = SqliteCanaryStore(cfg.sqlite_path)
        else:
            store_for_traffic = store
        traffic = LocalTraffic(store_for_traffic, cfg.local_services)
        metrics = SyntheticMetrics(cfg.local_scenario, window_seconds=policy.rules.window_seconds)
    return CanaryController(
        policy,
        store,
        traffic,
        metrics,
        Notifier(cfg.webhook_url),
        metrics_lag_s=cfg.metrics_lag_seconds if cfg.platform == "cloud" else 0.0,
        max_lookback_s=cfg.max_lookback_seconds,
        incident_ttl_s=cfg.incident_ttl_days * 86400.0,
    )


def controller() -> CanaryController:
    global _controller
    with _lock:
        if _controller is None:
            s = settings()
            _controller = build_controller(s.canary, s.service.project)
        return _controller


def use(ctrl: CanaryController | None) -> None:
    """Install a controller built elsewhere (tests wire real clients to local fakes)."""
    global _controller, _token
    with _lock:
        _controller = ctrl
        _token = None


def _load_or_create_token(path: Path) -> str:
    """A random local token in ``var/canary-token`` (mode 0600), reused across restarts."""
    try:
        existing = path.read_text().strip()
        if existing and (path.stat().st_mode & 0o077) == 0:
            return existing
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    log.warning("canary API token generated: read it from %s (mode 0600)", path)
    return token


def local_token() -> str:
    global _token
    with _lock:
        if _token is None:
            cfg = settings().canary
            _token = cfg.token or _load_or_create_token(cfg.token_file)
        return _token


def prepare_auth() -> None:
    """At start-up: in token mode, load or generate the token now, not on the first request."""
    if settings().canary.auth == "token":
        local_token()


def authenticate(headers: Any) -> str:
    """The caller's identity for the audit trail, or 401.

    ``token``: a bearer token compared in constant time. ``iam``: Cloud Run's IAM check already
    admitted the caller (the service is never public); we only read the ID token's email
    claim, unverified, to name the actor in the audit trail.
    """
    header = str(headers.get("Authorization", ""))
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("a bearer token is required")
    if settings().canary.auth == "iam":
        return _iam_actor(credential.strip())
    if not hmac.compare_digest(credential.strip().encode(), local_token().encode()):
        raise Unauthorized("invalid token")
    actor = str(headers.get("X-Canary-Actor", "")).strip()[:64]
    return f"token:{actor}" if actor else "token"


def _iam_actor(jwt: str) -> str:
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return f"iam:{claims.get('email') or claims.get('sub') or 'unknown'}"
    except (IndexError, ValueError):
        return "iam:unknown"


__all__ = ["authenticate", "build_controller", "controller", "prepare_auth", "use"]
