# What a deployer needs next: where the API answers, where to push images, what to point DNS at.

output "api_url" {
  description = "Public base URL of the API behind the HTTPS load balancer (https://DOMAIN/api/v2)."
  value       = "https://${var.domain}/api/v2"
}

output "load_balancer_ip" {
  description = "Global IP address of the load balancer: create an A record DOMAIN -> this address."
  value       = google_compute_global_address.api.address
}

output "service_urls" {
  description = "Cloud Run URL of each function's service (recommend and chat only accept traffic via the load balancer)."
  value       = { for name, svc in google_cloud_run_v2_service.function : name => svc.uri }
}

output "canary_url" {
  description = "Cloud Run URL of the canary API (IAM only: an ID token of the operators group or Cloud Scheduler)."
  value       = google_cloud_run_v2_service.function["canary"].uri
}

output "canary_advance_url" {
  description = "URL Cloud Scheduler calls to advance rollouts."
  value       = "${google_cloud_run_v2_service.function["canary"].uri}/api/v2/canary/advance"
}

output "canary_incident_url" {
  description = "Cloud Run URL of the canary's CloudEvent incident entry (internal; Eventarc only)."
  value       = google_cloud_run_v2_service.canary_incident.uri
}

output "artifact_registry_url" {
  description = "Docker repository to push images to (REGION-docker.pkg.dev/PROJECT/REPOSITORY)."
  value       = local.image_base
}

output "model_bucket_url" {
  description = "gs:// URL of the model artifact bucket (training data under data/, artifacts under models/)."
  value       = google_storage_bucket.models.url
}

output "trainer_job" {
  description = "Name of the Cloud Run job that trains a model (gcloud run jobs execute NAME --region REGION)."
  value       = google_cloud_run_v2_job.trainer.name
}

output "dashboard_url" {
  description = "Cloud Console URL of the product dashboard."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.product.id), length(split("/", google_monitoring_dashboard.product.id)) - 1)}?project=${var.project_id}"
}

output "incidents_topic" {
  description = "Pub/Sub topic that carries Cloud Monitoring incidents to the canary."
  value       = google_pubsub_topic.incidents.id
}

output "service_accounts" {
  description = "Runtime service account email of each function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "spark_training" {
  description = "The Spark training schedule (null unless spark_training_enabled): Cloud Scheduler job, batch identity, input, candidate output and image."
  value = var.spark_training_enabled ? {
    scheduler_job   = google_cloud_scheduler_job.spark_training[0].name
    service_account = google_service_account.spark_batch[0].email
    data_uri        = local.spark_data_uri
    output_uri      = local.spark_output_uri
    image           = local.spark_image
    runtime_version = local.spark_runtime
  } : null
}
