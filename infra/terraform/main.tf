# Names shared by every file. The three functions and their entry points follow the code:
# functions/<name>/main.py, entry point <name> (HTTP); the canary's Cloud Monitoring incidents
# reach its CloudEvent entry point canary_incident (a second service from the same image).

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  functions = toset(["recommend", "chat", "canary"])

  image_base = "${var.region}-docker.pkg.dev/${var.project_id}/${var.artifact_repository}"
  images = {
    recommend = "${local.image_base}/recommend:${var.image_tag}"
    chat      = "${local.image_base}/chat:${var.image_tag}"
    canary    = "${local.image_base}/canary:${var.image_tag}"
    trainer   = "${local.image_base}/trainer:${var.image_tag}"
  }

  project_number = data.google_project.this.number

  # Google-managed service agents that need grants here (the Monitoring notification agent is
  # google_project_service_identity.monitoring in incidents.tf, created before its grant).
  pubsub_agent = "service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  health_path  = "/health"
  metrics_path = "/metrics"
}
