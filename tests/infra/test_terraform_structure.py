"""What the design requires of the deployment, checked on the parsed Terraform (python-hcl2).

Names that the code owns (functions, routes, TTL collection groups, env variables, metric
names) are read from the code, never from a copy in the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from recoengine import environment, storage_schema
from recoengine.web import metrics, routing
from tests.infra import tfconfig as tf
from tests.infra import tfeval

CONFIG_SOURCE = "\n".join(
    (tf.ROOT / "shared" / "recoengine" / name).read_text(encoding="utf-8")
    # config.py reads the settings; capacity.py reads SERVER_THREADS (the server's threads).
    for name in ("config.py", "capacity.py")
)
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}


def _quoted(expr: str) -> list[str]:
    return re.findall(r'"([^"]+)"', expr)


def _resolve(value: Any) -> Any:
    """Replace a whole-string ``${local.x}`` / ``${var.x}`` by its literal value or default."""
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{(local|var)\.([a-z0-9_]+)\}", value)
        if m and m.group(1) == "local":
            return _resolve(tf.locals_()[m.group(2)])
        if m:
            return tf.named("variable")[m.group(2)].get("default")
    return value


def _for_each_keys(resource: dict[str, Any]) -> list[str | None]:
    """The instance keys of a resource: literal sets/lists, or a variable's default."""
    expr = resource.get("for_each")
    if expr is None:
        return [None]
    resolved = _resolve(expr)
    if isinstance(resolved, list):
        return list(resolved)
    return _quoted(resolved)


def _service_of(name_expr: str, key: str | None) -> str:
    m = re.search(r"google_cloud_run_v2_service\.function\[(each\.key|\"(\w+)\")\]", name_expr)
    if m:
        return key if m.group(1) == "each.key" else m.group(2)  # type: ignore[return-value]
    if "google_cloud_run_v2_service.canary_incident" in name_expr:
        return "canary-incident"
    raise AssertionError(f"unrecognised service reference {name_expr}")


def _invokers() -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for _, res in tf.resources("google_cloud_run_v2_service_iam_member").items():
        if res["role"] != "roles/run.invoker":
            continue
        for key in _for_each_keys(res):
            service = _service_of(res["name"], key)
            members.setdefault(service, set()).add(res["member"])
    return members


def test_functions_match_the_code() -> None:
    assert sorted(_quoted(tf.locals_()["functions"])) == sorted(routing.FUNCTIONS)


def test_every_function_has_a_service_and_its_own_service_account() -> None:
    services = tf.resources("google_cloud_run_v2_service")
    accounts = tf.resources("google_service_account")
    svc = services["function"]
    assert svc["for_each"] == "${local.functions}"
    assert accounts["function"]["for_each"] == "${local.functions}"
    assert svc["name"] == "${each.key}"
    assert svc["template"][0]["service_account"] == (
        "${google_service_account.function[each.key].email}"
    )
    images = tf.locals_()["images"]
    for fn in routing.FUNCTIONS:
        assert f"/{fn}:" in images[fn]
    # The canary's incident entry runs as the canary's identity.
    incident = services["canary_incident"]["template"][0]
    assert incident["service_account"] == '${google_service_account.function["canary"].email}'


def test_services_have_probes_scaling_resources_and_yield_traffic_to_the_canary() -> None:
    svc = tf.resources("google_cloud_run_v2_service")["function"]
    template = svc["template"][0]
    container = template["containers"][0]
    for probe in ("startup_probe", "liveness_probe"):
        path = _resolve(container[probe][0]["http_get"][0]["path"])
        assert path == "/health", f"{probe} must call /health"
    assert template["max_instance_request_concurrency"] == "${local.capacity[each.key].concurrency}"
    scaling = template["scaling"][0]
    assert scaling["min_instance_count"] == "${var.services[each.key].min_instances}"
    assert scaling["max_instance_count"] == "${var.services[each.key].max_instances}"
    limits = container["resources"][0]["limits"]
    assert set(limits) == {"cpu", "memory"}
    ignored = svc["lifecycle"][0]["ignore_changes"]
    assert "traffic" in ignored
    assert "${template[0].containers[0].image}" in ignored
    defaults = tf.named("variable")["services"]["default"]
    assert set(defaults) == set(routing.FUNCTIONS)


def _env_names(env_local: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(env_local, dict):
        names |= {k for k in env_local if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}
        for v in env_local.values():
            names |= _env_names(v)
    elif isinstance(env_local, str):
        names |= set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})\s*=", env_local))
    return names


def test_every_environment_variable_is_one_the_code_reads() -> None:
    """A typo in an env name would silently fall back to a default: catch it here."""
    set_by_terraform = {n for fn in routing.FUNCTIONS for n in _env_values(fn)} | _env_names(
        tf.locals_()["server_env"]
    )
    framework = {"FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"}
    assert {"GOOGLE_CLOUD_PROJECT", "SESSION_BACKEND", "LLM_BACKEND", "SERVER_THREADS"} <= (
        set_by_terraform
    )
    unknown = {n for n in set_by_terraform - framework if f'"{n}"' not in CONFIG_SOURCE}
    assert not unknown, f"config.py reads no variable named {sorted(unknown)}"


def test_recommend_and_chat_are_public_only_through_the_load_balancer() -> None:
    invokers = _invokers()
    ingress = tf.locals_()["function_ingress"]
    for fn in ("recommend", "chat"):
        assert invokers[fn] == {"allUsers"}
        assert ingress[fn] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"


def test_canary_is_never_public_and_only_its_callers_invoke_it() -> None:
    invokers = _invokers()
    assert invokers["canary"] == {
        "serviceAccount:${google_service_account.canary_scheduler.email}",
        "group:${var.operators_group}",
    }
    assert invokers["canary-incident"] == {
        "serviceAccount:${google_service_account.canary_events.email}"
    }
    # No binding/policy resources that could grant anything wider, and no public member on
    # any IAM resource other than the recommend/chat invoker.
    text = tf.source_text()
    assert not re.search(r"google_cloud_run_v2_service_iam_(binding|policy)", text)
    for rtype in (
        "google_cloud_run_v2_service_iam_member",
        "google_cloud_run_v2_job_iam_member",
        "google_project_iam_member",
        "google_storage_bucket_iam_member",
        "google_pubsub_topic_iam_member",
    ):
        for name, res in tf.resources(rtype).items():
            if res.get("member") in PUBLIC_MEMBERS:
                assert (rtype, name) == ("google_cloud_run_v2_service_iam_member", "public_via_lb")
                assert "canary" not in _for_each_keys(res)


def test_ttl_policy_for_every_collection_group_with_an_expiry_field() -> None:
    locals_ = tf.locals_()
    assert locals_["ttl_field"] == storage_schema.EXPIRY_FIELD
    assert sorted(_quoted(locals_["ttl_collection_groups"])) == sorted(
        storage_schema.TTL_COLLECTION_GROUPS
    )
    field = tf.resources("google_firestore_field")["ttl"]
    assert field["for_each"] == "${local.ttl_collection_groups}"
    assert field["collection"] == "${each.value}"
    assert field["field"] == "${local.ttl_field}"
    assert "ttl_config" in field


def test_the_session_count_query_keeps_its_expiry_index() -> None:
    """``SessionStore.count_active`` filters ``sessions`` on the expiry field: Firestore needs a
    single-field index there, while the other TTL groups drop theirs (hot-spotting)."""
    assert tf.locals_()["counted_collections"] == [storage_schema.SESSIONS]
    field = tf.resources("google_firestore_field")["ttl"]
    dynamic = field["index_config"][0]["dynamic"][0]["indexes"]
    assert dynamic["for_each"] == (
        '${contains(local.counted_collections, each.value) ? ["ASCENDING"] : []}'
    )
    assert dynamic["content"][0]["query_scope"] == "COLLECTION"


def test_firestore_is_native_with_pitr_and_backups() -> None:
    db = tf.resources("google_firestore_database")["main"]
    assert db["type"] == "FIRESTORE_NATIVE"
    assert db["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    schedule = tf.resources("google_firestore_backup_schedule")["daily"]
    assert schedule["database"] == "${google_firestore_database.main.name}"
    assert "daily_recurrence" in schedule


def test_model_bucket_is_private_versioned_and_the_trainer_writes_to_it() -> None:
    bucket = tf.resources("google_storage_bucket")["models"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
    job = tf.resources("google_cloud_run_v2_job")["trainer"]["template"][0]["template"][0]
    volume = job["volumes"][0]
    assert volume["gcs"][0]["bucket"] == "${google_storage_bucket.models.name}"
    assert volume["gcs"][0]["read_only"] is False
    container = job["containers"][0]
    mount = container["volume_mounts"][0]["mount_path"]
    assert f'--out "{mount}/models/' in container["args"][0]
    assert job["service_account"] == "${google_service_account.trainer.email}"
    writer = tf.resources("google_storage_bucket_iam_member")["trainer_writes_models"]
    assert writer["member"] == "serviceAccount:${google_service_account.trainer.email}"


def test_url_map_routes_equal_the_local_router() -> None:
    rules = tf.locals_()["path_rules"]
    assert [(r["path"], r["function"]) for r in rules] == list(routing.PATH_RULES)
    assert tf.locals_()["default_function"] == routing.DEFAULT_FUNCTION
    url_map = tf.resources("google_compute_url_map")["api"]
    matcher = url_map["path_matcher"][0]
    dynamic = matcher["dynamic"][0]["path_rule"]
    assert dynamic["for_each"] == "${local.functions}"
    content = dynamic["content"][0]
    assert "local.path_rules" in content["paths"]
    assert "rule.function == path_rule.value" in content["paths"]
    assert content["service"] == "${google_compute_backend_service.function[path_rule.value].id}"
    neg = tf.resources("google_compute_region_network_endpoint_group")["function"]
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert (
        neg["cloud_run"][0]["service"] == "${google_cloud_run_v2_service.function[each.key].name}"
    )


def test_cloud_armor_rate_limits_every_backend() -> None:
    policy = tf.resources("google_compute_security_policy")["api"]
    throttle = [r for r in policy["rule"] if r["action"] == "throttle"]
    assert len(throttle) == 1
    options = throttle[0]["rate_limit_options"][0]
    assert options["exceed_action"] == "deny(429)"
    assert options["rate_limit_threshold"][0]["count"] == "${var.rate_limit_per_minute}"
    backend = tf.resources("google_compute_backend_service")["function"]
    assert backend["security_policy"] == "${google_compute_security_policy.api.id}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"


def test_incidents_reach_the_canary_cloudevent_entry() -> None:
    channel = tf.resources("google_monitoring_notification_channel")["incidents"]
    assert channel["type"] == "pubsub"
    assert channel["labels"]["topic"] == "${google_pubsub_topic.incidents.id}"
    publisher = tf.resources("google_pubsub_topic_iam_member")["monitoring_publishes"]
    assert publisher["role"] == "roles/pubsub.publisher"
    # The notification service agent is created (generateServiceIdentity) before its grant:
    # on a fresh project it does not exist yet and the grant would fail the first apply.
    identity = tf.resources("google_project_service_identity")["monitoring"]
    assert identity["service"] == "monitoring.googleapis.com"
    assert identity["provider"] == "google-beta"
    assert publisher["member"] == "${google_project_service_identity.monitoring.member}"
    assert "${google_project_service_identity.monitoring}" in publisher["depends_on"]
    trigger = tf.resources("google_eventarc_trigger")["canary_incident"]
    assert trigger["transport"][0]["pubsub"][0]["topic"] == "${google_pubsub_topic.incidents.id}"
    assert trigger["destination"][0]["cloud_run_service"][0]["service"] == (
        "${google_cloud_run_v2_service.canary_incident.name}"
    )
    env = tf.resources("google_cloud_run_v2_service")["canary_incident"]["template"][0]
    env_expr = env["containers"][0]["dynamic"][0]["env"]["for_each"]
    assert 'FUNCTION_TARGET = "canary_incident"' in env_expr
    assert 'FUNCTION_SIGNATURE_TYPE = "cloudevent"' in env_expr
    for policy in [tf.resources("google_monitoring_alert_policy")["rollback"]]:
        assert policy["notification_channels"] == [
            "${google_monitoring_notification_channel.incidents.id}"
        ]


def test_the_canary_code_has_the_cloudevent_entry() -> None:
    source = (tf.ROOT / "functions" / "canary" / "main.py").read_text(encoding="utf-8")
    if "canary_incident" not in source:
        pytest.skip("functions/canary/main.py has no canary_incident entry yet (issue 4)")
    assert re.search(r"@functions_framework\.cloud_event\s+def canary_incident\(", source)


def test_log_based_metrics_cover_engine_latencies_and_feedback() -> None:
    latency = tf.locals_()["distribution_metrics"]
    for histogram in (
        metrics.RECOMMENDATION_ENGINE_LATENCY,
        metrics.MULTITURN_ENGINE_LATENCY,
        metrics.PERSONALITY_ROUTER_LATENCY,
    ):
        assert histogram._name in latency
    feedback = tf.resources("google_logging_metric")["recommendation_feedback"]
    assert 'jsonPayload.event="feedback"' in feedback["filter"]
    assert feedback["label_extractors"] == {
        "event": "EXTRACT(jsonPayload.feedback_event)",
        "revision": "EXTRACT(jsonPayload.revision)",
    }
    labels = {label["key"] for label in feedback["metric_descriptor"][0]["labels"]}
    assert labels == set(metrics.RECOMMENDATION_FEEDBACK._labelnames)


def test_scheduler_advances_rollouts_with_an_oidc_token() -> None:
    job = tf.resources("google_cloud_scheduler_job")["canary_advance"]
    target = job["http_target"][0]
    assert target["http_method"] == "POST"
    assert target["uri"].endswith("/api/v2/canary/advance")
    assert 'google_cloud_run_v2_service.function["canary"].uri' in target["uri"]
    oidc = target["oidc_token"][0]
    assert oidc["service_account_email"] == "${google_service_account.canary_scheduler.email}"


def test_dashboard_is_the_generated_one() -> None:
    dashboard = tf.resources("google_monitoring_dashboard")["product"]
    assert dashboard["dashboard_json"] == (
        '${file("${path.module}/../dashboards/monitoring.json")}'
    )


def _deployed() -> dict[str, environment.FunctionEnv]:
    """What Terraform gives each function (environment.yml, rendered as services.tf renders
    it), with the variables at their defaults (and the required ones at sample values)."""
    variables = tf.named("variable")
    sample = {"project_id": "test-project", "domain": "api.example.com"}
    values = {
        name: str(sample.get(name, variables[name].get("default")))
        for name in environment.TEMPLATE_VARIABLES
    }
    return environment.deployed(values)


def _env_values(fn: str) -> dict[str, str]:
    """The environment Terraform gives ``fn``: plain values, and each secret at a sample value
    of the length the code requires."""
    deployed = _deployed()[fn]
    return {**deployed.env, **{name: "s" * 48 for name in deployed.secrets}}


@pytest.mark.parametrize("fn", routing.FUNCTIONS)
def test_the_code_accepts_the_environment_terraform_sets(fn: str) -> None:
    """Start-up validation (config.load_settings) passes with the deployed values."""
    from recoengine.config import load_settings

    env = _env_values(fn)
    assert env["GOOGLE_CLOUD_PROJECT"] == "test-project"
    settings = load_settings(env)
    assert settings.service.project == "test-project"
    if fn == "chat":
        assert env["SESSION_BACKEND"] == "firestore" and env["LLM_BACKEND"] == "gemini"
    if fn == "canary":
        assert getattr(settings, "canary").auth == "iam"  # noqa: B009


def test_the_code_writes_the_log_fields_the_metrics_extract() -> None:
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*tf.ROOT.glob("functions/*/main.py"), *tf.ROOT.glob("shared/recoengine/**/*.py")]
    )
    for field in (  # as a dict key ("event": ...) or a keyword (event=...)
        r"""["']?\bevent["']?\s*[=:]\s*["']feedback["']""",
        r"""["']?\bfeedback_event["']?\s*[=:]""",
        r"""["']?\brevision["']?\s*[=:]""",
        r"""["']canary_event["']""",
    ):
        assert re.search(field, code), f"no log entry carries {field}"
    canary = tf.resources("google_logging_metric")["canary_events"]
    assert canary["label_extractors"]["action"] == "EXTRACT(jsonPayload.canary_event)"


# -- the feedback signing keys (feedback_key.tf) ---------------------------------------------
def _secret_env(tmp: Path, generations: dict[str, int]) -> dict[str, Any]:
    """``local.secret_env`` computed by Terraform from the real variables and locals, with the
    Secret Manager version of generation g stubbed as ``"v<g>"`` (the only resource attribute
    the locals read)."""
    source = (tf.TF_DIR / "feedback_key.tf").read_text(encoding="utf-8")
    block = re.search(r"(?ms)^locals \{.*?^\}", source)
    assert block, "feedback_key.tf has no locals block"
    versions = re.compile(r"(?m)^  feedback_key_versions = .*$")
    assert versions.search(block.group(0)), "the versions local moved: update this stub"
    stubbed = versions.sub(
        '  feedback_key_versions = { for g in local.feedback_key_generations : g => "v${g}" }',
        block.group(0),
    ).replace("google_secret_manager_secret.feedback_key.secret_id", '"SECRET"')
    required = {
        "project_id": "test-project",
        "domain": "a.example.com",
        "operators_group": "o@x.io",
    }
    tfvars = {**required, **generations}
    files = {
        "variables.tf": (tf.TF_DIR / "variables.tf").read_text(encoding="utf-8"),
        "locals.tf": stubbed,
        "outputs.tf": 'output "env" {\n  value = local.secret_env\n}\n'
        'output "generations" {\n  value = local.feedback_key_generations\n}\n',
        "terraform.tfvars": "".join(f"{k} = {json.dumps(v)}\n" for k, v in tfvars.items()),
    }
    return tfeval.run_module(files, tmp)


ROTATION = [  # (variables, the pinned versions recommend gets)
    ({}, {"FEEDBACK_SIGNING_KEY": "v1"}),
    (
        {"feedback_key_next_version": 2},
        {"FEEDBACK_SIGNING_KEY": "v1", "FEEDBACK_SIGNING_KEY_NEXT": "v2"},
    ),
    (
        {"feedback_key_version": 2, "feedback_key_previous_version": 1},
        {"FEEDBACK_SIGNING_KEY": "v2", "FEEDBACK_SIGNING_KEY_PREVIOUS": "v1"},
    ),
    ({"feedback_key_version": 2}, {"FEEDBACK_SIGNING_KEY": "v2"}),
]


@pytest.mark.parametrize(("generations", "pinned"), ROTATION)
def test_recommend_gets_each_feedback_key_at_a_pinned_version(
    generations: dict[str, int], pinned: dict[str, str], tmp_path: Path
) -> None:
    """The shape services.tf reads (``local.secret_env``): each key the code reads, at the
    version of its generation, the optional ones only while set; one version per generation."""
    out = _secret_env(tmp_path, generations)
    assert set(out["env"]) == {"recommend"}
    env = out["env"]["recommend"]
    assert {name: ref["version"] for name, ref in env.items()} == pinned
    assert {ref["secret"] for ref in env.values()} == {"SECRET"}
    assert sorted(out["generations"]) == sorted(v[1:] for v in pinned.values())
    for name in env:
        assert f'"{name}"' in CONFIG_SOURCE, f"config.py does not read {name}"


@pytest.mark.parametrize(
    "generations",
    [
        {"feedback_key_previous_version": 1},  # previous must be older than current
        {"feedback_key_next_version": 1},  # next must be newer than current
        {"feedback_key_version": 0},
        {"feedback_key_version": 2, "feedback_key_next_version": 1.5},
    ],
)
def test_feedback_key_generations_out_of_order_are_refused(
    generations: dict[str, float], tmp_path: Path
) -> None:
    with pytest.raises(AssertionError, match="Invalid value for variable"):
        _secret_env(tmp_path, generations)  # type: ignore[arg-type]


def test_feedback_keys_are_write_only_per_generation_and_never_latest() -> None:
    """Cloud Run reads a secret at instance start: ``latest`` would give instances of one
    revision different keys after a rotation. Keys never enter the state (write-only, from
    an ephemeral value), and a retired generation is disabled, not destroyed."""
    assert not re.search(r'(?m)^\s*version\s*=\s*"latest"', tf.source_text())
    version = tf.resources("google_secret_manager_secret_version")["feedback_key"]
    assert version["for_each"] == "${local.feedback_key_generations}"
    assert version["secret_data_wo"] == "${ephemeral.random_password.feedback_key[each.key].result}"
    assert "secret_data" not in version
    assert version["deletion_policy"] == "DISABLE"
    ephemeral = tf.parse()["ephemeral"][0]["random_password"]["feedback_key"]
    assert ephemeral["for_each"] == "${local.feedback_key_generations}"
    services = (tf.TF_DIR / "services.tf").read_text(encoding="utf-8")
    assert "local.secret_env" in services, "services.tf must take the keys from local.secret_env"
