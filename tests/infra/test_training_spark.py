"""Training on Apache Spark (issue 10): the scheduled Dataproc Serverless batch.

Structure is checked on the parsed files; the request body Cloud Scheduler sends is computed by
Terraform itself (training_spark.tf's locals with the real variables, resources stubbed by
name), then base64-decoded and parsed as JSON, exactly as Dataproc will receive it.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra import tfconfig as tf
from tests.infra import tfeval

SPARK_FILE = tf.TF_DIR / "training_spark.tf"
DOCKERFILE = (tf.ROOT / "infra" / "spark" / "Dockerfile").read_text(encoding="utf-8")
REQUIRED = {
    "project_id": "test-project",
    "domain": "api.example.com",
    "operators_group": "ops@example.com",
}
BROAD_ROLES = re.compile(
    r"^roles/(owner|editor|viewer)$|admin$|Admin$|^roles/iam\.serviceAccount(User|TokenCreator)$"
)


def _spark_resources() -> dict[str, dict[str, dict[str, Any]]]:
    """The resources declared in training_spark.tf, by type and name."""
    import hcl2

    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)
    doc = tf._strip(
        hcl2.loads(SPARK_FILE.read_text(encoding="utf-8"), serialization_options=options)
    )
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for block in doc["resource"]:
        for rtype, by_name in block.items():
            found.setdefault(rtype, {}).update(by_name)
    return found


def _stub_references(text: str) -> str:
    """Resource attributes become strings naming them: ``"REF:google_x.y.attr"``."""
    return re.sub(
        r"\bgoogle_([a-z0-9_]+)\.([a-z0-9_]+)(?:\[0\])?\.([a-z_]+)",
        lambda m: f'"REF:google_{m.group(1)}.{m.group(2)}.{m.group(3)}"',
        text,
    )


def _evaluate(tmp: Path, tfvars: dict[str, Any]) -> dict[str, Any]:
    source = SPARK_FILE.read_text(encoding="utf-8")
    block = re.search(r"(?ms)^locals \{.*?^\}", source)
    assert block, "training_spark.tf has no locals block"
    main = (tf.TF_DIR / "main.tf").read_text(encoding="utf-8")
    image_base = re.search(r"(?m)^  image_base = .*$", main)
    assert image_base
    job = _spark_resources()["google_cloud_scheduler_job"]["spark_training"]
    body_expr = job["http_target"][0]["body"]
    assert body_expr.startswith("${") and body_expr.endswith("}")
    files = {
        "variables.tf": (tf.TF_DIR / "variables.tf").read_text(encoding="utf-8"),
        "locals.tf": _stub_references(block.group(0))
        + "\nlocals {\n"
        + image_base.group(0)
        + "\n}\n",
        "outputs.tf": (
            f'output "body" {{\n  value = {body_expr[2:-1]}\n}}\n'
            f'output "url" {{\n  value = local.spark_batches_url\n}}\n'
            f'output "data" {{\n  value = [local.spark_data_bucket, local.spark_data_prefix]\n}}\n'
        ),
        "terraform.tfvars": "".join(f"{k} = {json.dumps(v)}\n" for k, v in tfvars.items()),
    }
    out = tfeval.run_module(files, tmp)
    out["batch"] = json.loads(base64.b64decode(out["body"]))
    return out


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _evaluate(tmp_path_factory.mktemp("spark"), {**REQUIRED, "spark_training_enabled": True})


@pytest.fixture(scope="module")
def given_data_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tfvars = {
        **REQUIRED,
        "spark_training_enabled": True,
        "spark_training_data_uri": "gs://corp-events/reco/interactions/",
        "region": "europe-west10",
    }
    return _evaluate(tmp_path_factory.mktemp("spark-given"), tfvars)


def test_scheduler_posts_to_the_dataproc_batches_api_with_an_oauth_token(
    default_run: dict[str, Any], given_data_run: dict[str, Any]
) -> None:
    job = _spark_resources()["google_cloud_scheduler_job"]["spark_training"]
    target = job["http_target"][0]
    assert target["http_method"] == "POST"
    assert target["headers"] == {"Content-Type": "application/json"}
    assert default_run["url"] == (
        "https://dataproc.googleapis.com/v1/projects/test-project/locations/europe-west1/batches"
    )
    assert given_data_run["url"].endswith("/locations/europe-west10/batches")
    assert target["uri"] == "${local.spark_batches_url}"
    # Google APIs take OAuth access tokens (OIDC is for Cloud Run and other audiences).
    assert "oidc_token" not in target
    oauth = target["oauth_token"][0]
    assert oauth["service_account_email"] == "${google_service_account.spark_scheduler[0].email}"
    assert oauth["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert job["schedule"] == "${var.spark_training_schedule}"
    # A retried create could start a second batch: no retries.
    assert job["retry_config"][0]["retry_count"] == 0


def test_the_body_is_a_dataproc_batch(default_run: dict[str, Any]) -> None:
    batch = default_run["batch"]
    assert set(batch) == {"pysparkBatch", "runtimeConfig", "environmentConfig", "labels"}
    pyspark = batch["pysparkBatch"]
    assert pyspark["mainPythonFileUri"] == "file:///opt/recoengine/job.py"
    assert pyspark["args"] == [
        "--data",
        "gs://test-project-recoengine-interactions/interactions",
        "--out",
        "gs://REF:google_storage_bucket.models.name/candidates/spark",
    ]
    runtime = batch["runtimeConfig"]
    # Runtime 3.0 = Spark 4.0.1, what the project's pyspark pin matches.
    assert runtime["version"] == "3.0"
    assert runtime["containerImage"] == (
        "europe-west1-docker.pkg.dev/test-project/recoengine/spark-trainer:latest"
    )
    assert set(runtime["properties"]) == {"spark.dynamicAllocation.maxExecutors", *DRIVER_KEYS}
    assert runtime["properties"]["spark.dynamicAllocation.maxExecutors"] == "10"
    execution = batch["environmentConfig"]["executionConfig"]
    assert execution["serviceAccount"] == "REF:google_service_account.spark_batch.email"
    assert execution["subnetworkUri"] == "REF:google_compute_subnetwork.spark.id"
    assert execution["ttl"] == "14400s"
    assert batch["labels"] == {"app": "recoengine", "trigger": "scheduler"}


# Dataproc Serverless's driver limits ("Resource allocation properties",
# https://cloud.google.com/dataproc-serverless/docs/concepts/properties): 4, 8 or 16 cores, and
# heap (spark.driver.memory) plus spark.driver.memoryOverhead between 1024 and 7424 MiB per core
# on the standard compute tier, runtime 3.0's default (the body sets no tier).
DRIVER_KEYS = (
    "spark.driver.cores",
    "spark.driver.memory",
    "spark.driver.memoryOverhead",
    "spark.driver.maxResultSize",
)
DRIVER_CORES = (4, 8, 16)
MIB_PER_CORE = (1024, 7424)
MIB, GIB = 1 << 20, 1 << 30


def _mib(size: str) -> int:
    """A JVM memory string Dataproc accepts ("10240m", "4g") in MiB."""
    m = re.fullmatch(r"([0-9]+)([mg])", size)
    assert m, f"{size!r} is not a memory size in m or g"
    return int(m.group(1)) * (1024 if m.group(2) == "g" else 1)


def _ease_peak_bytes(n: int) -> int:
    """The driver's Python peak for exact EASE on ``n`` items with every pair counted
    (``item_graphs.ease_graph``): the dense float64 n x n matrix (8 B a cell) and, for each of
    the n(n-1) counts, the float32 CSR the Spark driver keeps plus ease_graph's float64 CSR and
    CSC copies (8 + 12 + 12 B). Measured at 20,000 items: 6.3 GiB peak RSS with 30% of the pairs
    counted, the 8 n^2 + 32 c this gives."""
    return 8 * n * n + 32 * n * (n - 1)


def test_driver_resources_are_within_dataproc_limits(
    default_run: dict[str, Any], given_data_run: dict[str, Any]
) -> None:
    for run in (default_run, given_data_run):
        props = run["batch"]["runtimeConfig"]["properties"]
        cores = int(props["spark.driver.cores"])
        assert cores in DRIVER_CORES
        container = _mib(props["spark.driver.memory"]) + _mib(props["spark.driver.memoryOverhead"])
        low, high = MIB_PER_CORE
        assert cores * low <= container <= cores * high, (cores, container)
        assert _mib(props["spark.driver.maxResultSize"]) < _mib(props["spark.driver.memory"])
        assert "spark.dataproc.driver.compute.tier" not in props  # the limits are standard's


def test_the_driver_has_room_for_exact_ease_at_the_engine_limit(
    default_run: dict[str, Any],
) -> None:
    """The largest catalog the engine solves EASE for, every pair of its items counted: its
    Python peak fits in the overhead beside 4 GiB for the rest of the process and the JVM's
    non-heap memory, and the pair counts collected through the JVM (Arrow: int32 i, int32 j,
    int64 count, 16 B a pair) fit in the heap beside 4 GiB for Spark's driver and within
    spark.driver.maxResultSize."""
    from recoengine.models.item_graphs import GraphParams

    n = GraphParams().ease_max_items
    assert int(tf.locals_()["spark_ease_items"]) == n, (
        "training_spark.tf sizes the driver for spark_ease_items; set it to the engine's "
        "GraphParams.ease_max_items"
    )
    props = default_run["batch"]["runtimeConfig"]["properties"]
    overhead = _mib(props["spark.driver.memoryOverhead"]) * MIB
    heap = _mib(props["spark.driver.memory"]) * MIB
    assert overhead >= _ease_peak_bytes(n) + 4 * GIB, (
        f"spark.driver.memoryOverhead {overhead / GIB:.1f} GiB cannot hold exact EASE at "
        f"{n} items ({_ease_peak_bytes(n) / GIB:.1f} GiB) and the rest of the driver"
    )
    pairs = 16 * n * (n - 1) // 2
    assert heap >= pairs + 4 * GIB
    assert _mib(props["spark.driver.maxResultSize"]) * MIB >= pairs + GIB // 2


def test_a_given_data_location_is_used_as_is(given_data_run: dict[str, Any]) -> None:
    assert given_data_run["data"] == ["corp-events", "reco/interactions"]
    args = given_data_run["batch"]["pysparkBatch"]["args"]
    assert args[:2] == ["--data", "gs://corp-events/reco/interactions"]
    assert given_data_run["batch"]["runtimeConfig"]["containerImage"].startswith(
        "europe-west10-docker.pkg.dev/"
    )


def test_pyspark_pin_matches_the_runtime() -> None:
    pyproject = (tf.ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"pyspark==4.0.1"' in pyproject  # runtime 3.0 ships Spark 4.0.1


def test_the_custom_container_meets_serverless_requirements() -> None:
    lines = [ln for ln in DOCKERFILE.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    text = "\n".join(lines)
    stages = re.findall(r"(?m)^FROM (\S+)", text)
    assert stages and all(s.startswith("python:3.11-") for s in stages), stages
    assert "pyspark" not in text.lower().replace("pyspark_python", "").replace(
        "pyspark_driver_python", ""
    ), "Spark must not be in the image: the runtime mounts it"
    assert re.search(r"apt-get install[^\n]*procps[^\n]*tini", text)
    assert (
        "groupadd -g 1099 spark" in text
        and "useradd -u 1099 -g 1099 -d /home/spark -m spark" in text
    )
    assert re.findall(r"(?m)^USER (\S+)", text)[-1] == "spark"
    assert "PYSPARK_PYTHON=/usr/local/bin/python3.11" in text
    # The main file the batch names is where the image puts job.py.
    assert "COPY shared/recoengine/spark/job.py /opt/recoengine/job.py" in text


def test_identities_are_separate_and_least_privilege() -> None:
    res = _spark_resources()
    accounts = res["google_service_account"]
    assert set(accounts) == {"spark_batch", "spark_scheduler"}
    assert accounts["spark_batch"]["account_id"] != accounts["spark_scheduler"]["account_id"]
    batch = "serviceAccount:${google_service_account.spark_batch[0].email}"
    scheduler = "serviceAccount:${google_service_account.spark_scheduler[0].email}"

    project_grants = tf.resources("google_project_iam_member")
    by_member: dict[str, set[str]] = {}
    for grant in project_grants.values():
        by_member.setdefault(grant["member"], set()).add(grant["role"])
    assert by_member[batch] == {"roles/dataproc.worker"}
    assert by_member[scheduler] == {"${google_project_iam_custom_role.spark_batch_submitter[0].id}"}
    role = res["google_project_iam_custom_role"]["spark_batch_submitter"]
    assert sorted(role["permissions"]) == ["dataproc.batches.create", "dataproc.batches.get"]

    # Acting as the batch identity: on that one service account, never project-wide.
    acts_as = res["google_service_account_iam_member"]["spark_scheduler_acts_as_batch"]
    assert acts_as["service_account_id"] == "${google_service_account.spark_batch[0].name}"
    assert acts_as["role"] == "roles/iam.serviceAccountUser"
    assert acts_as["member"] == scheduler

    # Storage: read the data bucket, write the model bucket only (under candidates/spark/).
    storage = {
        name: g
        for name, g in tf.resources("google_storage_bucket_iam_member").items()
        if g["member"] == batch
    }
    assert {n: (g["bucket"], g["role"]) for n, g in storage.items()} == {
        "spark_batch_reads_data": (
            "${local.spark_data_given ? local.spark_data_bucket : "
            "google_storage_bucket.interactions[0].name}",
            "roles/storage.objectViewer",
        ),
        "spark_batch_writes_candidates": (
            "${google_storage_bucket.models.name}",
            "roles/storage.objectUser",
        ),
    }
    write_condition = storage["spark_batch_writes_candidates"]["condition"][0]["expression"]
    assert "/objects/${local.spark_output_prefix}/" in write_condition
    assert tf.locals_()["spark_output_prefix"] == "candidates/spark"
    read = storage["spark_batch_reads_data"]["dynamic"][0]["condition"]["content"][0]["expression"]
    assert "/objects/${condition.value}/" in read
    # The image comes from the project's repository, read-only.
    pull = res["google_artifact_registry_repository_iam_member"]["spark_batch_pulls"]
    assert pull["role"] == "roles/artifactregistry.reader" and pull["member"] == batch


def test_no_project_wide_admin_or_impersonation_role_anywhere() -> None:
    for name, grant in tf.resources("google_project_iam_member").items():
        assert not BROAD_ROLES.search(grant["role"]), (
            f"google_project_iam_member.{name}: {grant['role']}"
        )
    assert not tf.resources("google_project_iam_binding")
    assert not tf.resources("google_project_iam_policy")


def test_everything_spark_exists_only_when_enabled() -> None:
    assert tf.locals_()["spark_count"] == "${var.spark_training_enabled ? 1 : 0}"
    for rtype, by_name in _spark_resources().items():
        for name, res in by_name.items():
            count = res.get("count")
            assert count in (
                "${local.spark_count}",
                "${var.spark_training_enabled && !local.spark_data_given ? 1 : 0}",
            ), f"{rtype}.{name} is created even with spark_training_enabled = false"
    assert tf.named("variable")["spark_training_enabled"]["default"] is False


def test_the_api_and_the_network_dataproc_needs() -> None:
    assert "dataproc.googleapis.com" in tf.locals_()["apis"]
    res = _spark_resources()
    subnet = res["google_compute_subnetwork"]["spark"]
    assert subnet["private_ip_google_access"] is True
    firewall = res["google_compute_firewall"]["spark_internal"]
    assert firewall["direction"] == "INGRESS"
    assert firewall["source_ranges"] == ["${local.spark_subnet}"]
    assert subnet["ip_cidr_range"] == "${local.spark_subnet}"
    assert firewall["allow"][0]["protocol"] == "all"


SCHEDULES_OK = ["0 3 * * *", "15 */6 * * 1-5", "0,30 * * * *", "0 2 1 * *", "5 4 * * SUN"]
SCHEDULES_BAD = ["* * * * *", "*/5 * * * *", "0 3 * *", "0 3 * * * *", "0 3 * * ?", ""]
DATA_OK = ["", "gs://my-bucket", "gs://my-bucket/data/prefix/", "gs://corp.events-1/x"]
DATA_BAD = ["s3://bucket/x", "gs://", "gs://UPPER/x", "my-bucket/data", "gs://b"]


@pytest.fixture(scope="module")
def spark_validations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outputs = [
        tfeval.validation_output("spark_training_schedule", "schedule_ok", SCHEDULES_OK),
        tfeval.validation_output("spark_training_schedule", "schedule_bad", SCHEDULES_BAD),
        tfeval.validation_output("spark_training_data_uri", "data_ok", DATA_OK),
        tfeval.validation_output("spark_training_data_uri", "data_bad", DATA_BAD),
    ]
    return tfeval.run_module(
        {"outputs.tf": "\n".join(outputs)}, tmp_path_factory.mktemp("sparkval")
    )


def test_schedule_and_data_location_are_validated(spark_validations: dict[str, Any]) -> None:
    cases = {
        "schedule_ok": SCHEDULES_OK,
        "schedule_bad": SCHEDULES_BAD,
        "data_ok": DATA_OK,
        "data_bad": DATA_BAD,
    }
    for key, values in cases.items():
        results = dict(zip(values, spark_validations[key], strict=True))
        wrong = [v for v, accepted in results.items() if accepted != key.endswith("_ok")]
        assert not wrong, f"{key}: the validation decides wrongly on {wrong}"


def test_release_model_reuses_the_release_recipe() -> None:
    """make release-model deploys a no-traffic candidate with the new MODEL_URI and starts the
    canary exactly as make release does (one recipe, two candidate commands)."""
    canary_mk = (tf.ROOT / "mk" / "canary.mk").read_text(encoding="utf-8")
    assert canary_mk.count("/api/v2/canary/enable") == 1, "the release recipe must not be copied"
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": "/tmp"}

    def dry(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "-n", *args, "PROJECT=demo"],
            cwd=tf.ROOT,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )

    model = dry("release-model", "MODEL_URI=gs://demo-recoengine-models/models/spark-1")
    assert model.returncode == 0, model.stderr
    assert (
        "gcloud run services update recommend $run --update-env-vars "
        "MODEL_URI=gs://demo-recoengine-models/models/spark-1 --no-traffic --tag candidate"
    ) in model.stdout
    assert '\\"traffic_percentage\\":5' in model.stdout
    image = dry("release", "SERVICE=recommend", "IMAGE=img:1")
    assert (
        "gcloud run deploy recommend $run --image img:1 --no-traffic --tag candidate"
        in image.stdout
    )
    strip = lambda s: re.sub(r"gcloud run (deploy|services update) recommend \$run [^;]*;", "", s)  # noqa: E731
    assert strip(model.stdout.splitlines()[-1]) == strip(image.stdout.splitlines()[-1])
    # The mutable candidates/ prefix is refused.
    command = ["make", "release-model", "PROJECT=demo", "MODEL_URI=gs://b/candidates/spark"]
    refused = subprocess.run(command, cwd=tf.ROOT, capture_output=True, text=True, env=env)
    assert refused.returncode != 0 and "candidates" in refused.stdout


def test_docs_say_how_a_trained_model_reaches_users() -> None:
    deploy = (tf.ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    readme = (tf.TF_DIR / "README.md").read_text(encoding="utf-8")
    for doc in (deploy, readme):
        assert "make release-model" in doc
        assert "MODEL_URI" in doc and "5%" in doc
        assert "training_spark.tf" in doc
