# Who may invoke what.
#  - recommend and chat are public APIs, but only through the load balancer: their ingress is
#    internal-and-load-balancer, Cloud Armor rate-limits in front, so the invoker is allUsers.
#  - canary is never invokable by allUsers/allAuthenticatedUsers: only Cloud Scheduler's
#    identity and the operators group; its incident entry only by the Eventarc push identity.

resource "google_cloud_run_v2_service_iam_member" "public_via_lb" {
  for_each = toset(["recommend", "chat"])

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "canary_scheduler" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function["canary"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.canary_scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "canary_operators" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function["canary"].name
  role     = "roles/run.invoker"
  member   = "group:${var.operators_group}"
}

resource "google_cloud_run_v2_service_iam_member" "canary_incident_events" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.canary_incident.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.canary_events.email}"
}

# Operators may start a training run by hand (gcloud run jobs execute recoengine-trainer).
resource "google_cloud_run_v2_job_iam_member" "trainer_operators" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.trainer.name
  role     = "roles/run.invoker"
  member   = "group:${var.operators_group}"
}
