"""The canary function's composition root: its controller and its access check, from settings.

``CANARY_PLATFORM=local`` keeps traffic in the local store and replays a synthetic timeline as
metrics, so ``make run`` walks a rollout with no Google account; ``CANARY_PLATFORM=cloud`` uses
the Cloud Run Admin API and Cloud Monitoring (at Google's endpoints, or at the ones
``CANARY_RUN_ENDPOINT`` / ``CANARY_MONITORING_ENDPOINT`` name: the cloud-parity stack's fakes,
reached by the same real clients). Each dependency is a ``Provider``: built on first
use (no Google client is imported until a request needs one), swapped in tests with
``controller.override(ctrl)``.
"""

from __future__ import annotations

from typing import Any

from recoengine import local_secret
from recoengine.canary.abtest import AbDesign
from recoengine.canary.access import Authenticator
from recoengine.canary.cloud_monitoring import CloudMonitoringMetrics
from recoengine.canary.controller import CanaryController
from recoengine.canary.notify import Notifier
from recoengine.canary.policy import CanaryPolicy, JudgeConfig, parse_plan
from recoengine.canary.rules import load_rules
from recoengine.canary.scenarios import SyntheticMetrics
from recoengine.canary.store import CanaryStore, FirestoreCanaryStore, SqliteCanaryStore
from recoengine.canary.traffic import CloudRunTraffic, LocalTraffic, TrafficPort
from recoengine.canary.windows import MetricsPort
from recoengine.config import CanarySettings, settings
from recoengine.wiring.provider import Provider


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
        conversion_event=cfg.conversion_event,
        exposure_event=cfg.exposure_event,
        ab_early_stop=cfg.ab_early_stop,
        ab_worse_action=cfg.ab_worse_action,
    )


def run_client(endpoint: str) -> Any:
    """The Cloud Run Admin API client for ``endpoint`` (REST, e.g. ``http://127.0.0.1:PORT``),
    or None for Google's (``CloudRunTraffic`` then builds the default client when first used)."""
    if not endpoint:
        return None
    from google.cloud import run_v2

    return run_v2.ServicesClient(transport="rest", client_options={"api_endpoint": endpoint})


def monitoring_client(endpoint: str) -> Any:
    """The Cloud Monitoring client for ``endpoint`` (gRPC ``host:port``, over TLS as Google's),
    or None for Google's. The cloud-parity stack's fake serves TLS with a certificate that its
    processes trust through gRPC's ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``."""
    if not endpoint:
        return None
    from google.cloud import monitoring_v3

    return monitoring_v3.MetricServiceClient(client_options={"api_endpoint": endpoint})


def build_controller(cfg: CanarySettings, project: str) -> CanaryController:
    policy = build_policy(cfg)
    window_seconds = policy.rules.window_seconds
    store: CanaryStore
    if cfg.store == "firestore":
        store = FirestoreCanaryStore(project=project)
    else:
        store = SqliteCanaryStore(cfg.sqlite_path)
    traffic: TrafficPort
    metrics: MetricsPort
    if cfg.platform == "cloud":
        attempts, backoff_s = cfg.traffic_attempts, cfg.traffic_backoff_seconds
        traffic = CloudRunTraffic(
            project,
            cfg.region,
            client=run_client(cfg.run_endpoint),
            attempts=attempts,
            backoff_s=backoff_s,
        )
        metrics = CloudMonitoringMetrics(
            project, window_seconds, client=monitoring_client(cfg.monitoring_endpoint)
        )
    else:
        # Local traffic lives in SQLite even when the rollouts are kept in Firestore.
        local = (
            store if isinstance(store, SqliteCanaryStore) else SqliteCanaryStore(cfg.sqlite_path)
        )
        traffic = LocalTraffic(local, cfg.local_services)
        metrics = SyntheticMetrics(cfg.local_scenario, window_seconds=window_seconds)
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


def _controller() -> CanaryController:
    s = settings()
    return build_controller(s.canary, s.service.project)


def _local_token() -> str:
    cfg = settings().canary
    return cfg.token or local_secret.load_or_create(cfg.token_file, "canary API token")


controller: Provider[CanaryController] = Provider("canary.controller", _controller)
local_token: Provider[str] = Provider("canary.local_token", _local_token)
authenticator: Provider[Authenticator] = Provider(
    "canary.authenticator", lambda: Authenticator(settings().canary.auth, local_token)
)


def prepare_auth() -> None:
    """At start-up: in token mode, load or generate the token now (and log where it is), not
    on the first request."""
    if authenticator().mode == "token":
        local_token()


def state_status() -> dict[str, str]:
    """The "state" health component: the rollout store answers (a read of a rollout that
    never exists), and which backend holds it."""
    controller().store.get("_health")
    return {"status": "ok", "backend": settings().canary.store}


__all__ = [
    "authenticator",
    "build_controller",
    "build_policy",
    "controller",
    "local_token",
    "monitoring_client",
    "prepare_auth",
    "run_client",
    "state_status",
]
