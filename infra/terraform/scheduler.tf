# Cloud Scheduler asks the canary function to advance each rollout (one step forward, hold, or
# roll back) with an OIDC token of its own service account; the canary service accepts only
# that identity and the operators group (invokers.tf).
resource "google_cloud_scheduler_job" "canary_advance" {
  for_each = toset(var.released_services)

  project          = var.project_id
  region           = var.region
  name             = "canary-advance-${each.key}"
  description      = "Advance or roll back the ${each.key} rollout (POST /api/v2/canary/advance)."
  schedule         = var.canary_advance_schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "120s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "10s"
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloud_run_v2_service.function["canary"].uri}/api/v2/canary/advance"
    body        = base64encode(jsonencode({ service = each.key }))
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.canary_scheduler.email
      audience              = google_cloud_run_v2_service.function["canary"].uri
    }
  }

  depends_on = [google_project_service.api, google_cloud_run_v2_service_iam_member.canary_scheduler]
}
