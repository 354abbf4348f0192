# Training on Apache Spark (issue 10): Cloud Scheduler creates a Dataproc Serverless batch on a
# schedule, which runs the engine's PySpark trainer (shared/recoengine/spark/job.py):
#
#   job.py --data gs://DATA_BUCKET/PREFIX   (interactions.parquet, optional items.csv/users.csv)
#          --out  gs://MODEL_BUCKET/candidates/spark   (the artifact recommend loads from MODEL_URI)
#
# Everything here exists only with spark_training_enabled = true.
#
# Runtime and image. runtimeConfig.version "3.0" is Spark 4.0.1 (the project pins pyspark==4.0.1
# to match) on Java 21 and Python 3.12. The engine declares requires-python ">=3.11,<3.12" and
# its scoring kernels are a C extension compiled for CPython 3.11, so it can neither be installed
# into the runtime's Python nor shipped on pythonFileUris (a zip cannot carry a C extension). The
# batch therefore runs in a custom container (infra/spark/Dockerfile): Python 3.11 with the
# engine's wheel, its pinned numpy/scipy/pyarrow, and job.py at /opt/recoengine/job.py. As the
# Serverless custom-container guide requires, the image carries no Spark (the runtime mounts it),
# has procps and tini, and runs as user `spark` (uid/gid 1099). The image is built and pushed
# with the others (make build/push) and tagged with image_tag, so job.py and the engine come from
# the same commit; pythonFileUris stays empty because the engine is installed in the image.
#
# Output. Cloud Scheduler sends the same body every time, so every run writes the same
# candidates/ prefix (the bucket's versioning keeps 30 days of overwritten objects). Serving
# never points at it: a release copies it to an immutable models/ prefix first and rolls it out
# through the canary (make release-model, docs/deploy.md), so a bad model rolls back like a bad
# build and no new instance picks up an unreleased model.

locals {
  spark_count = var.spark_training_enabled ? 1 : 0

  # Input: the given gs://bucket[/prefix], or a bucket created here (prefix interactions/).
  spark_data_given  = var.spark_training_data_uri != ""
  spark_data_parts  = regex("^gs://([^/]+)/?(.*)$", local.spark_data_given ? var.spark_training_data_uri : "gs://${var.project_id}-recoengine-interactions/interactions")
  spark_data_bucket = local.spark_data_parts[0]
  spark_data_prefix = trimsuffix(local.spark_data_parts[1], "/")
  spark_data_uri    = local.spark_data_prefix == "" ? "gs://${local.spark_data_bucket}" : "gs://${local.spark_data_bucket}/${local.spark_data_prefix}"

  spark_output_prefix = "candidates/spark"
  spark_output_uri    = "gs://${google_storage_bucket.models.name}/${local.spark_output_prefix}"

  spark_image     = "${local.image_base}/spark-trainer:${var.image_tag}"
  spark_main_file = "file:///opt/recoengine/job.py"
  spark_runtime   = "3.0"
  # One address per driver or executor: room for spark_training_max_executors (<= 2000).
  spark_subnet = "10.20.0.0/20"

  # Driver memory. Dataproc Serverless gives the driver a container of spark.driver.memory (the
  # JVM heap) plus spark.driver.memoryOverhead, and the driver's Python process, where training
  # runs, lives in the overhead (Spark counts "the python process that goes with a PySpark
  # driver" there). Limits (https://cloud.google.com/dataproc-serverless/docs/concepts/properties,
  # standard compute tier, runtime 3.0's default): 4, 8 or 16 driver cores, heap + overhead
  # from 1024 to 7424 MiB per core. Left to the defaults, the overhead is a fraction of the heap.
  #
  # Catalogs of at most spark_ease_items items get exact EASE, solved in that Python process
  # (spark/graphs.py collects the pair counts, models/item_graphs.py ease_graph solves). Its
  # peak, n items and c stored pair counts (c <= n(n-1), every pair met):
  #   8 n^2 B   the dense float64 precision matrix, inverted in place
  #   32 c B    the float32 CSR counts the driver keeps (8 B a count), and ease_graph's float64
  #             CSR and CSC copies of them on the way to the dense matrix (12 B each)
  # at most 40 n^2 B: 15,259 MiB at 20,000 items. Measured at 20,000 (ease_from_counts, peak
  # RSS): 6.3 GiB with 30% of the pairs counted, as 8 n^2 + 32 c predicts; 3.6 GiB with 1%,
  # where EASE's top-K temporaries (0.6 GB) set the peak.
  # Overhead: that, plus 4 GiB for the rest of the Python process (interpreter, data, EASE's
  # top-K temporaries: 0.6 GB at 20,000) and the JVM's non-heap memory, in whole GiB: 19,456 MiB.
  # Heap: the rest of what 4 cores allow, 29,696 - 19,456 = 10,240 MiB, for Spark's driver and
  # the pair counts collected through it as Arrow (16 B a pair: at most 3,052 MiB), which
  # spark.driver.maxResultSize must also admit (Spark's default is 1g): rounded up to whole GiB,
  # plus 1 GiB for Arrow's framing, 4,096 MiB.
  # spark_ease_items is the engine's GraphParams.ease_max_items (the test keeps them equal).
  spark_ease_items          = 20000
  spark_driver_cores        = 4
  spark_ease_mib            = ceil(40 * pow(local.spark_ease_items, 2) / 1048576)
  spark_driver_overhead_mib = ceil((local.spark_ease_mib + 4096) / 1024) * 1024
  spark_driver_heap_mib     = local.spark_driver_cores * 7424 - local.spark_driver_overhead_mib
  spark_ease_pairs_mib      = ceil(16 * local.spark_ease_items * (local.spark_ease_items - 1) / 2 / 1048576)
  spark_driver_results_mib  = ceil(local.spark_ease_pairs_mib / 1024) * 1024 + 1024

  # The Batch resource (Dataproc API v1) the scheduler POSTs to projects.locations.batches.create.
  spark_batch = {
    labels = { app = "recoengine", trigger = "scheduler" }
    pysparkBatch = {
      mainPythonFileUri = local.spark_main_file
      args              = ["--data", local.spark_data_uri, "--out", local.spark_output_uri]
    }
    runtimeConfig = {
      version        = local.spark_runtime
      containerImage = local.spark_image
      properties = {
        "spark.dynamicAllocation.maxExecutors" = tostring(var.spark_training_max_executors)
        # Driver sizes: see spark_ease_items above.
        "spark.driver.cores"          = tostring(local.spark_driver_cores)
        "spark.driver.memory"         = "${local.spark_driver_heap_mib}m"
        "spark.driver.memoryOverhead" = "${local.spark_driver_overhead_mib}m"
        "spark.driver.maxResultSize"  = "${local.spark_driver_results_mib}m"
      }
    }
    environmentConfig = {
      executionConfig = {
        serviceAccount = local.spark_batch_sa_email
        subnetworkUri  = local.spark_subnet_id
        # A stuck batch stops after this long (it bills while it runs).
        ttl = "${var.spark_training_max_hours * 3600}s"
      }
    }
  }
  spark_batch_sa_email = var.spark_training_enabled ? google_service_account.spark_batch[0].email : ""
  spark_subnet_id      = var.spark_training_enabled ? google_compute_subnetwork.spark[0].id : ""
  spark_batches_url    = "https://dataproc.googleapis.com/v1/projects/${var.project_id}/locations/${var.region}/batches"
}

# --- identities ------------------------------------------------------------------------------

resource "google_service_account" "spark_batch" {
  count = local.spark_count

  project      = var.project_id
  account_id   = "recoengine-spark"
  display_name = "Spark training batch"
  description  = "Runtime identity of the Dataproc Serverless training batch: reads the interactions, writes the candidate model."
}

resource "google_service_account" "spark_scheduler" {
  count = local.spark_count

  project      = var.project_id
  account_id   = "spark-scheduler"
  display_name = "Spark training scheduler"
  description  = "Identity Cloud Scheduler uses (OAuth) to create the Dataproc Serverless training batch."
}

# What Dataproc requires of a batch's service account. Note: this predefined role also carries
# Cloud Storage object permissions (for Dataproc's staging and temp buckets); it is the floor
# Dataproc documents, and the only project-level grant here.
resource "google_project_iam_member" "spark_batch_worker" {
  count = local.spark_count

  project = var.project_id
  role    = "roles/dataproc.worker"
  member  = "serviceAccount:${google_service_account.spark_batch[0].email}"
}

# The batch pulls its custom container from this repository only.
resource "google_artifact_registry_repository_iam_member" "spark_batch_pulls" {
  count = local.spark_count

  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.spark_batch[0].email}"
}

# Read the interactions: the bucket's listing and the objects under the data prefix only.
resource "google_storage_bucket_iam_member" "spark_batch_reads_data" {
  count = local.spark_count

  bucket = local.spark_data_given ? local.spark_data_bucket : google_storage_bucket.interactions[0].name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.spark_batch[0].email}"

  dynamic "condition" {
    for_each = local.spark_data_prefix == "" ? [] : [local.spark_data_prefix]
    content {
      title       = "spark-reads-training-data"
      description = "Listing the bucket and reading the objects under the training data prefix."
      expression  = "resource.name == \"projects/_/buckets/${local.spark_data_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.spark_data_bucket}/objects/${condition.value}/\")"
    }
  }
}

# Write the candidate model: the model bucket only, and there only under candidates/spark/.
resource "google_storage_bucket_iam_member" "spark_batch_writes_candidates" {
  count = local.spark_count

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.spark_batch[0].email}"

  condition {
    title       = "spark-writes-candidates"
    description = "Listing the model bucket and writing under candidates/spark/ only."
    expression  = "resource.name == \"projects/_/buckets/${google_storage_bucket.models.name}\" || resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.models.name}/objects/${local.spark_output_prefix}/\")"
  }
}

# The scheduler may create batches, and nothing else in Dataproc (no predefined role is that
# narrow: dataproc.editor also manages clusters and jobs).
resource "google_project_iam_custom_role" "spark_batch_submitter" {
  count = local.spark_count

  project     = var.project_id
  role_id     = "recoengineSparkBatchSubmitter"
  title       = "Recoengine Spark batch submitter"
  description = "Create Dataproc Serverless batches (the scheduled Spark training) and read them back."
  permissions = ["dataproc.batches.create", "dataproc.batches.get"]
}

resource "google_project_iam_member" "spark_scheduler_submits" {
  count = local.spark_count

  project = var.project_id
  role    = google_project_iam_custom_role.spark_batch_submitter[0].id
  member  = "serviceAccount:${google_service_account.spark_scheduler[0].email}"
}

# Creating a batch that runs as the batch identity requires acting as it: on that one account.
resource "google_service_account_iam_member" "spark_scheduler_acts_as_batch" {
  count = local.spark_count

  service_account_id = google_service_account.spark_batch[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.spark_scheduler[0].email}"
}

# --- data ------------------------------------------------------------------------------------

# Interactions (Parquet) when no location is given: gs://PROJECT-recoengine-interactions/interactions/
resource "google_storage_bucket" "interactions" {
  # checkov:skip=CKV_GCP_62:Only service accounts read it (public access prevented); Cloud Audit Logs record data access, and a usage-log bucket would itself fail this check.
  count = var.spark_training_enabled && !local.spark_data_given ? 1 : 0

  project                     = var.project_id
  name                        = local.spark_data_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# --- network: Dataproc Serverless needs a subnet with Private Google Access whose firewall lets
# the driver and executors reach each other on every port -------------------------------------

resource "google_compute_network" "spark" {
  count = local.spark_count

  project                 = var.project_id
  name                    = "recoengine-spark"
  description             = "Network of the Dataproc Serverless training batches (no external access)."
  auto_create_subnetworks = false

  depends_on = [google_project_service.api]
}

resource "google_compute_subnetwork" "spark" {
  count = local.spark_count

  project                  = var.project_id
  name                     = "recoengine-spark"
  description              = "Dataproc Serverless driver and executors; Private Google Access reaches Cloud Storage."
  region                   = var.region
  network                  = google_compute_network.spark[0].id
  ip_cidr_range            = local.spark_subnet
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "spark_internal" {
  count = local.spark_count

  project       = var.project_id
  name          = "recoengine-spark-internal"
  description   = "Spark driver <-> executors inside the training subnet (Dataproc Serverless requirement)."
  network       = google_compute_network.spark[0].id
  direction     = "INGRESS"
  source_ranges = [local.spark_subnet]

  allow {
    protocol = "all"
  }
}

# --- the schedule ----------------------------------------------------------------------------

resource "google_cloud_scheduler_job" "spark_training" {
  count = local.spark_count

  project          = var.project_id
  region           = var.region
  name             = "recoengine-spark-training"
  description      = "Create the Dataproc Serverless batch that trains a candidate model with Spark."
  schedule         = var.spark_training_schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "180s"

  # No retry: batches.create has no idempotency key this static body could carry (a fixed
  # requestId would dedupe every later run too), so a retry could start a second batch. A failed
  # call is visible in the job's logs and the next scheduled run tries again.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = local.spark_batches_url
    body        = base64encode(jsonencode(local.spark_batch))
    headers = {
      "Content-Type" = "application/json"
    }

    oauth_token {
      service_account_email = google_service_account.spark_scheduler[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [
    google_project_service.api,
    google_project_iam_member.spark_scheduler_submits,
    google_service_account_iam_member.spark_scheduler_acts_as_batch,
    google_project_iam_member.spark_batch_worker,
    google_compute_firewall.spark_internal,
  ]
}
