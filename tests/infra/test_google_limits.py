"""What Google's APIs enforce and the provider does not (issue 12): checked before an apply.

``terraform validate`` passes configurations that Google then rejects halfway through an apply
(a Cloud Armor rule description over 64 characters), or that apply but do not work (a PromQL
panel without ``monitored_resource``, a grant to a service agent that does not exist yet, a
region the validation wrongly refuses). Each test here encodes one such rule of the API, with
the value rendered at its worst case and, for validations, evaluated by Terraform itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from recoengine import capacity
from tests.infra import tfconfig as tf
from tests.infra import tfeval
from tools import gen_dashboards as gen

# --- descriptions --------------------------------------------------------------------------

# (resource type, attribute path) -> the longest value the API accepts.
DESCRIPTION_LIMITS: dict[tuple[str, str], int] = {
    # SecurityPolicyRule.description: "... must be less than or equal to 64 characters".
    ("google_compute_security_policy", "rule.description"): 64,
    ("google_compute_security_policy", "description"): 2048,
    # ServiceAccount: displayName <= 100, description <= 256 characters.
    ("google_service_account", "display_name"): 100,
    ("google_service_account", "description"): 256,
    # Cloud Scheduler Job.description: "can be up to 500 characters".
    ("google_cloud_scheduler_job", "description"): 500,
    # Cloud Run v2 Service.description: "currently has a 512-character limit".
    ("google_cloud_run_v2_service", "description"): 512,
    # LogMetric.description: "The maximum length of the description is 8000 characters".
    ("google_logging_metric", "description"): 8000,
    # NotificationChannel.description: "may not exceed 1024 Unicode characters".
    ("google_monitoring_notification_channel", "description"): 1024,
    # Custom role: title <= 100, description <= 256 characters.
    ("google_project_iam_custom_role", "title"): 100,
    ("google_project_iam_custom_role", "description"): 256,
    # Compute Engine resources (network, subnetwork, firewall): description <= 2048.
    ("google_compute_network", "description"): 2048,
    ("google_compute_subnetwork", "description"): 2048,
    ("google_compute_firewall", "description"): 2048,
    # An IAM condition (Expr) title is at most 100 characters, its description 256.
    ("*", "condition.title"): 100,
    ("*", "condition.description"): 256,
}
# Anything else named description/display_name/title is held to the common 256.
DEFAULT_LIMIT = 256
LIMITED_KEYS = {"description", "display_name", "title"}


def _strip_interpolations(text: str) -> str:
    """``text`` without its ``${...}`` spans (balanced braces, nested ones included)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("${", i):
            depth, j = 0, i + 1
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every leaf; dynamic blocks are walked through their content."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "dynamic":
                for block in sub if isinstance(sub, list) else [sub]:
                    for name, body in block.items():
                        found += _walk(body.get("content", []), f"{path}{name}.")
                continue
            found += _walk(sub, f"{path}{key}.")
    elif isinstance(value, list):
        for item in value:
            found += _walk(item, path)
    else:
        found.append((path.rstrip("."), value))
    return found


def _variable_maximum(name: str) -> str:
    """The widest value a number variable's validation admits (its ``<= N`` bound)."""
    bounds = [
        int(n)
        for cond in tfeval.variable_conditions(name)
        for n in re.findall(rf"var\.{name}\s*<=\s*(\d+)", cond)
    ]
    assert bounds, f"var.{name} is interpolated into a description but has no upper bound"
    return str(max(bounds))


def _each_values(resource: dict[str, Any]) -> list[tuple[str, Any]]:
    """(each.key, each.value) pairs of a resource's for_each, as far as they are literal."""
    expr = resource.get("for_each")
    if expr is None:
        return [("", None)]
    m = re.fullmatch(r"\$\{local\.(\w+)\}", expr)
    if m:
        value = tf.locals_()[m.group(1)]
        if isinstance(value, dict):
            return list(value.items())
        return [(k, k) for k in re.findall(r'"([^"]+)"', value)]
    m = re.fullmatch(r"\$\{toset\(var\.(\w+)\)\}", expr)
    if m:
        return [(k, k) for k in tf.named("variable")[m.group(1)]["default"]]
    return [(k, k) for k in re.findall(r'"([^"]+)"', expr)]


# The longest value a string variable's validation admits.
STRING_MAX_LENGTH = {"firestore_database": 63, "project_id": 30, "region": 23}


def _render(text: str, each: tuple[str, Any]) -> str:
    """``text`` with each interpolation replaced by its widest value."""
    key, value = each

    def widest(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr == "each.key":
            return key
        if expr.startswith("each.value.") and isinstance(value, dict):
            return str(value[expr.removeprefix("each.value.")])
        if var := re.fullmatch(r"var\.(\w+)", expr):
            if var.group(1) in STRING_MAX_LENGTH:
                return "x" * STRING_MAX_LENGTH[var.group(1)]
            return _variable_maximum(var.group(1))
        if var := re.fullmatch(r'replace\(var\.(\w+), "[^"]*", ""\)', expr):
            return "x" * STRING_MAX_LENGTH[var.group(1)]
        raise AssertionError(f"no worst case known for ${{{expr}}}: add one to this test")

    return re.sub(r"\$\{([^{}]+)\}", widest, text)


def _limit(rtype: str, path: str) -> int:
    for (t, p), n in DESCRIPTION_LIMITS.items():
        if t in (rtype, "*") and path == p:
            return n
    return DEFAULT_LIMIT


def test_every_description_fits_googles_limit() -> None:
    checked = 0
    for block in tf.parse()["resource"]:
        for rtype, by_name in block.items():
            for name, resource in by_name.items():
                for path, text in _walk(resource):
                    if path.rsplit(".", 1)[-1] not in LIMITED_KEYS or not isinstance(text, str):
                        continue
                    limit = _limit(rtype, path)
                    for each in _each_values(resource):
                        rendered = _render(text, each)
                        checked += 1
                        assert len(rendered) <= limit, (
                            f"{rtype}.{name} {path} ({each[0] or 'single'}) is {len(rendered)} "
                            f"characters, Google allows {limit}: {rendered!r}"
                        )
    assert checked > 20


def test_the_cloud_armor_limit_is_enforced_by_this_test() -> None:
    """The renderer is not vacuous: the defect of issue 12 (68 characters) is caught."""
    old = "At most var.rate_limit_per_minute requests per minute per client IP."
    assert len(_render(old, ("", None))) > _limit(
        "google_compute_security_policy", "rule.description"
    )


def test_no_reference_is_printed_as_literal_text() -> None:
    """``"At most var.rate_limit_per_minute ..."`` sends the words, not the value."""
    for block in tf.parse()["resource"]:
        for rtype, by_name in block.items():
            for name, resource in by_name.items():
                for path, text in _walk(resource):
                    if not isinstance(text, str):
                        continue
                    literal = _strip_interpolations(text)
                    leaked = re.findall(r"\b(?:var|local|each)\.[a-z_]+", literal)
                    assert not leaked, f"{rtype}.{name} {path} prints {leaked} as text: {text!r}"


# --- PromQL: monitored_resource on every selector --------------------------------------------

RUN_RESOURCE_LABELS = {
    "project_id",
    "service_name",
    "revision_name",
    "location",
    "configuration_name",
}
# Monitored resource types each metric family maps to, and the labels those resources carry.
RESOURCE_LABELS: dict[str, set[str]] = {
    "cloud_run_revision": RUN_RESOURCE_LABELS,
    "cloud_run_job": {"project_id", "job_name", "location"},
    "firestore.googleapis.com/Database": {"resource_container", "location", "database_id"},
    "firestore_instance": {"project_id"},
}
METRIC_RESOURCES: dict[str, set[str]] = {
    # run.googleapis.com container metrics exist for revisions and for jobs.
    "run_googleapis_com:": {"cloud_run_revision", "cloud_run_job"},
    # Firestore's usage metrics: the Database resource (recommended) and firestore_instance.
    "firestore_googleapis_com:": {"firestore.googleapis.com/Database", "firestore_instance"},
    # Log-based metrics take the resource of each matching entry: see _log_metric_resources.
    "logging_googleapis_com:user_": set(),
}
SELECTOR = re.compile(r"\b([a-z0-9_]+_googleapis_com:[A-Za-z0-9_]+)(\{[^}]*\})?")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)"')


def _log_metrics() -> dict[str, dict[str, Any]]:
    """Log-based metrics by PromQL base name: their resource types and their own labels."""
    run_filter = tf.locals_()["run_filter"]
    metrics: dict[str, dict[str, Any]] = {}
    for name in tf.locals_()["distribution_metrics"]:  # resource "latency", for_each
        metrics[name] = {"labels": set(), "filter": run_filter}
    for name, res in tf.resources("google_logging_metric").items():
        if name == "latency":
            continue
        labels = {lbl["key"] for lbl in res["metric_descriptor"][0].get("labels", [])}
        metrics[res["name"]] = {"labels": labels, "filter": run_filter}
    for spec in metrics.values():
        types = set(re.findall(r'resource\.type=\\?"([a-z_.]+)\\?"', spec["filter"]))
        assert types, "every log-based metric filter must name its resource.type"
        spec["resources"] = types
    return metrics


def _queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert condition and every dashboard panel (both dashboards)."""
    rules = yaml.safe_load(
        (tf.ROOT / "shared" / "recoengine" / "rollback_rules.yml").read_text(encoding="utf-8")
    )
    found = [
        (f"alert {r['alert']}", " ".join(r["expr"].split()))
        for g in rules["groups"]
        for r in g["rules"]
    ]
    monitoring = json.loads(gen.MONITORING_FILE.read_text(encoding="utf-8"))
    for tile in monitoring["mosaicLayout"]["tiles"]:
        for ds in tile["widget"]["xyChart"]["dataSets"]:
            found.append(
                (
                    f"monitoring.json {tile['widget']['title']}",
                    ds["timeSeriesQuery"]["prometheusQuery"],
                )
            )
    grafana = json.loads(gen.GRAFANA_FILE.read_text(encoding="utf-8"))
    for panel in grafana["panels"]:
        for target in panel["targets"]:
            found.append((f"grafana.json {panel['title']}", target["expr"]))
    return found


def _check_query(where: str, query: str, log_metrics: dict[str, dict[str, Any]]) -> None:
    selectors = SELECTOR.findall(query)
    assert selectors, f"{where}: no Google metric in {query!r}"
    allowed_labels: set[str] = {"le", "response_code", "response_code_class", "state"}
    for metric, braces in selectors:
        family = next((f for f in METRIC_RESOURCES if metric.startswith(f)), None)
        assert family, f"{where}: {metric}: unknown metric family, add it to METRIC_RESOURCES"
        resources = METRIC_RESOURCES[family]
        if family == "logging_googleapis_com:user_":
            base = re.sub(r"_(bucket|count|sum)$", "", metric.removeprefix(family))
            assert base in log_metrics, f"{where}: {metric} is not a log-based metric we define"
            resources = log_metrics[base]["resources"]
            allowed_labels |= log_metrics[base]["labels"]
        matchers = dict(MATCHER.findall(braces or ""))
        named = matchers.get("monitored_resource")
        assert named, (
            f"{where}: {metric} can map to several resource types "
            f"({sorted(resources) or 'any log entry'}): name monitored_resource in {query!r}"
        )
        assert named in resources, f"{where}: {metric} has no resource type {named!r}"
        allowed_labels |= RESOURCE_LABELS[named] | set(matchers)
    # Aggregation and matching labels must exist on the series (a removed metric label such as
    # `revision` next to the resource's `revision_name` would silently aggregate to nothing).
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", query):
        for label in [x.strip() for x in clause.split(",") if x.strip()]:
            assert label in allowed_labels, f"{where}: label {label!r} is on no series of {query!r}"


def test_every_promql_query_names_its_monitored_resource() -> None:
    log_metrics = _log_metrics()
    queries = _queries()
    assert len(queries) >= 4 + 2 * 10
    for where, query in queries:
        _check_query(where, query, log_metrics)


@pytest.mark.parametrize(
    "query",
    [
        # Defects of issue 12: no monitored_resource on a log-based or Firestore metric, and a
        # label the log-based metric no longer carries.
        "sum(rate(firestore_googleapis_com:document_read_count[5m]))",
        "sum by (revision) (rate(logging_googleapis_com:user_recommendation_cache"
        '{result="hit"}[5m]))',
        "sum by (revision) (rate(logging_googleapis_com:user_recommendation_cache"
        '{monitored_resource="cloud_run_revision"}[5m]))',
        'sum(rate(run_googleapis_com:request_count{monitored_resource="gce_instance"}[1m]))',
    ],
)
def test_the_promql_check_catches_the_defects(query: str) -> None:
    with pytest.raises(AssertionError):
        _check_query("example", query, _log_metrics())


def test_log_based_metrics_do_not_copy_resource_labels() -> None:
    """The resource already gives service_name and revision_name to every point."""
    for name, res in tf.resources("google_logging_metric").items():
        for label, extractor in (res.get("label_extractors") or {}).items():
            assert "resource.labels." not in extractor, (
                f"google_logging_metric.{name} label {label!r} copies a resource label "
                f"({extractor}); use the resource's own label in queries instead"
            )
        keys = {lbl["key"] for lbl in res["metric_descriptor"][0].get("labels", [])}
        assert keys == set(res.get("label_extractors") or {}), name
        assert not keys & RUN_RESOURCE_LABELS, f"{name} shadows a cloud_run_revision label"


# --- label formats ----------------------------------------------------------------------------

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
PROM_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LOG_METRIC_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


def test_resource_labels_have_googles_format() -> None:
    """Google Cloud labels: keys start with a lowercase letter, keys and values <= 63 of
    ``[a-z0-9_-]``. The alert policies' user labels come from the rules file."""
    rules = yaml.safe_load(
        (tf.ROOT / "shared" / "recoengine" / "rollback_rules.yml").read_text(encoding="utf-8")
    )
    policy = tf.resources("google_monitoring_alert_policy")["rollback"]
    assert set(policy["user_labels"]) == {"trigger", "windows"}
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        for key, value in {
            "trigger": rule["labels"]["trigger"],
            "windows": rule["labels"]["windows"],
        }.items():
            assert LABEL_KEY.match(key) and LABEL_VALUE.match(str(value)), (
                rule["alert"],
                key,
                value,
            )
        for name in rule["labels"]:
            assert PROM_LABEL_NAME.match(name), f"{rule['alert']}: PromQL label name {name!r}"
    provider = tf.parse()["provider"]
    for block in provider:
        for _, body in block.items():
            assert (
                'app = "recoengine"' in body["default_labels"]
                or "recoengine" in body["default_labels"]
            )
    for block in tf.parse()["resource"]:
        for rtype, by_name in block.items():
            for name, res in by_name.items():
                for attr in ("labels", "user_labels"):
                    literal = res.get(attr)
                    if (
                        not isinstance(literal, dict)
                        or rtype == "google_monitoring_notification_channel"
                    ):
                        continue
                    for key, value in literal.items():
                        assert LABEL_KEY.match(key), f"{rtype}.{name}: label key {key!r}"
                        if "${" not in str(value):
                            assert LABEL_VALUE.match(str(value)), f"{rtype}.{name}: {key}={value!r}"
    for name, res in tf.resources("google_logging_metric").items():
        for lbl in res["metric_descriptor"][0].get("labels", []):
            assert LOG_METRIC_LABEL.match(lbl["key"]), f"{name}: label {lbl['key']!r}"


# --- variable validations and capacity, evaluated by Terraform --------------------------------

REAL_REGIONS = [
    "europe-west1",
    "europe-west4",
    "europe-west10",
    "europe-west12",
    "europe-north2",
    "us-central1",
    "us-east5",
    "us-south1",
    "me-central2",
    "me-west1",
    "africa-south1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-west1",
    "asia-southeast2",
    "australia-southeast1",
]
NOT_REGIONS = [
    "europe-west",
    "Europe-west1",
    "europe_west1",
    "europewest1",
    "europe-west123",
    "eur3 ",
]
FIRESTORE_LOCATIONS = [*REAL_REGIONS, "nam5", "eur3"]
# Firestore keeps a scheduled backup up to 14 weeks, daily schedules included.
RETENTION_OK = [1, 7, 14, 30, 90, 98]
RETENTION_BAD = [0, 99, 365, 1.5, -1]
LABELS_OK = [{}, {"team": "reco", "cost-center": "c_1", "env": ""}]
LABELS_BAD = [{"Team": "reco"}, {"team": "Reco"}, {"1team": "x"}, {"team": "x" * 64}]

CASES: dict[str, tuple[str, list[Any], list[Any]]] = {
    "region": ("region", REAL_REGIONS, NOT_REGIONS),
    "firestore_location": ("firestore_location", FIRESTORE_LOCATIONS, NOT_REGIONS[:5]),
    "backup_retention_days": ("backup_retention_days", RETENTION_OK, RETENTION_BAD),
    "labels": ("labels", LABELS_OK, LABELS_BAD),
}


def _capacity_locals() -> str:
    """services.tf's capacity locals, verbatim, with the function set they iterate."""
    source = (tf.TF_DIR / "services.tf").read_text(encoding="utf-8")
    m = re.search(r"(?ms)^  capacity = yamldecode.*?^  server_env = \{.*?^  \}\n", source)
    assert m, "services.tf has no capacity/server_env locals"
    functions = re.search(r"(?m)^  functions = .*$", (tf.TF_DIR / "main.tf").read_text()).group(0)
    return "locals {\n" + functions + "\n" + m.group(0) + "}\n"


@pytest.fixture(scope="module")
def validations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One offline Terraform run: every variable validation on every case."""
    outputs = []
    for key, (var, ok, bad) in CASES.items():
        outputs.append(tfeval.validation_output(var, f"{key}_ok", ok))
        outputs.append(tfeval.validation_output(var, f"{key}_bad", bad))
    return tfeval.run_module({"outputs.tf": "\n".join(outputs)}, tmp_path_factory.mktemp("tfval"))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """services.tf's capacity locals, evaluated by Terraform on the real capacity.yml."""
    files = {
        "locals.tf": _capacity_locals(),
        "outputs.tf": 'output "capacity" {\n  value = local.capacity\n}\n'
        'output "server_env" {\n  value = local.server_env\n}\n',
    }
    return tfeval.run_module(files, tmp_path_factory.mktemp("tfcap"))


@pytest.mark.parametrize("key", sorted(CASES))
def test_validations_accept_every_real_value_and_reject_bad_ones(
    key: str, validations: dict[str, Any]
) -> None:
    _, ok, bad = CASES[key]
    refused = [v for v, passed in zip(ok, validations[f"{key}_ok"], strict=True) if not passed]
    assert not refused, f"var.{CASES[key][0]} refuses values Google accepts: {refused}"
    accepted = [v for v, passed in zip(bad, validations[f"{key}_bad"], strict=True) if passed]
    assert not accepted, f"var.{CASES[key][0]} accepts values Google refuses: {accepted}"


def test_cloud_run_concurrency_and_threads_come_from_capacity_yml(
    evaluated: dict[str, Any],
) -> None:
    """Terraform's max_instance_request_concurrency is the code's capacity.yml, per function."""
    code = capacity.capacities()
    assert set(evaluated["capacity"]) == set(code)
    for fn, cap in code.items():
        assert evaluated["capacity"][fn]["concurrency"] == cap.concurrency
        assert evaluated["server_env"][fn] == {capacity.SERVER_THREADS: str(cap.threads)}
    services = tf.resources("google_cloud_run_v2_service")
    fn_template = services["function"]["template"][0]
    assert (
        fn_template["max_instance_request_concurrency"] == "${local.capacity[each.key].concurrency}"
    )
    incident = services["canary_incident"]["template"][0]
    assert incident["max_instance_request_concurrency"] == '${local.capacity["canary"].concurrency}'
    for name, key in (("function", "each.key"), ("canary_incident", '"canary"')):
        env = services[name]["template"][0]["containers"][0]["dynamic"][0]["env"]["for_each"]
        assert f"local.server_env[{key}]" in env, f"{name} does not get SERVER_THREADS"
    # No second source: the services variable carries no concurrency.
    assert "concurrency" not in tf.named("variable")["services"]["type"]


# --- the trainer job's Cloud Storage FUSE mount -------------------------------------------------


def test_the_trainer_can_write_its_fuse_mount_as_the_images_user() -> None:
    """gcsfuse presents files as uid 0 (0644/0755) unless told otherwise: the image's non-root
    user could read the training data but not write the artifact."""
    dockerfile = (tf.ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"(?m)^USER\s+(\d+)\s*$", dockerfile)
    assert users, "the Dockerfile must run as a numeric non-root USER"
    uid = int(users[-1])
    assert uid != 0
    assert tf.locals_()["trainer_uid"] == uid
    job = tf.resources("google_cloud_run_v2_job")["trainer"]["template"][0]["template"][0]
    for volume in job["volumes"]:
        gcs = volume["gcs"][0]
        if gcs.get("read_only") is False:
            options = gcs.get("mount_options") or []
            assert "uid=${local.trainer_uid}" in options, (
                f"volume {volume['name']} is writable but not owned by uid {uid}: {options}"
            )


def test_no_unused_capacity_field_in_the_tfvars_example() -> None:
    example = (tf.TF_DIR / "terraform.tfvars.example").read_text(encoding="utf-8")
    assert "concurrency =" not in example
