# Model artifacts: a private, versioned bucket, and the Cloud Run job that trains a model and
# writes its artifact there (mounted with Cloud Storage FUSE at /mnt/artifacts):
#   gs://BUCKET/data/...                    training data (CSV/JSONL, see docs)
#   gs://BUCKET/models/<execution id>/...   one versioned artifact per training run
#   gs://BUCKET/models/<id>/catalog/...     catalog updates beside that model (make catalog-update
#                                           MODEL_URI=gs://...): updates/<version>.json, then the
#                                           pointer CURRENT.json. Recommend instances poll the
#                                           pointer's generation (a metadata read: objectViewer
#                                           below suffices); whoever publishes needs object write.
# A new artifact reaches users through a canary release that sets MODEL_URI on recommend.

resource "google_storage_bucket" "models" {
  # checkov:skip=CKV_GCP_62:Only service accounts access the bucket (public access prevented); Cloud Audit Logs record object access, and a usage-log bucket would itself fail this check.
  project                     = var.project_id
  name                        = "${var.project_id}-recoengine-models"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Old object versions (overwritten or deleted artifacts) are kept 30 days, then removed.
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

resource "google_storage_bucket_iam_member" "recommend_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function["recommend"].email}"
}

resource "google_storage_bucket_iam_member" "trainer_writes_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.trainer.email}"
}

locals {
  # The non-root user the images run as (Dockerfile: USER 10001); a test keeps them equal.
  trainer_uid = 10001
}

resource "google_cloud_run_v2_job" "trainer" {
  project             = var.project_id
  name                = "recoengine-trainer"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count = 1

    template {
      service_account       = google_service_account.trainer.email
      timeout               = "3600s"
      max_retries           = 1
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

      # Cloud Storage FUSE presents the bucket with gcsfuse's ownership defaults: every file and
      # directory belongs to uid/gid 0 (file-mode 0644, dir-mode 0755), so the image's non-root
      # user (uid 10001, Dockerfile `USER 10001`) could read the data but not write the artifact.
      # gcsfuse's `uid` option makes that user the owner; the IAM grant
      # (trainer_writes_models) still decides what reaches the bucket.
      volumes {
        name = "artifacts"
        gcs {
          bucket        = google_storage_bucket.models.name
          read_only     = false
          mount_options = ["uid=${local.trainer_uid}"]
        }
      }

      containers {
        name    = "trainer"
        image   = local.images["trainer"]
        command = ["/bin/sh", "-c"]
        # CLOUD_RUN_EXECUTION is set by Cloud Run: every run writes a new artifact directory.
        args = [
          "exec python -m recoengine.cli train --data /mnt/artifacts/data --format \"$TRAINING_DATA_FORMAT\" --out \"/mnt/artifacts/models/$CLOUD_RUN_EXECUTION\"",
        ]

        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }
        env {
          name  = "TRAINING_DATA_FORMAT"
          value = var.training_data_format
        }
        env {
          name  = "VAR_DIR"
          value = "/tmp/recoengine"
        }

        resources {
          limits = {
            cpu    = "2"
            memory = "4Gi"
          }
        }

        volume_mounts {
          name       = "artifacts"
          mount_path = "/mnt/artifacts"
        }
      }
    }
  }

  depends_on = [google_project_service.api, google_storage_bucket_iam_member.trainer_writes_models]
}
