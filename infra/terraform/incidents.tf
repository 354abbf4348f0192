# Automatic rollback path: Cloud Monitoring alert policy (alerts.tf) -> notification channel of
# type pubsub -> topic -> Eventarc trigger -> canary-incident service (the canary's CloudEvent
# entry canary_incident), which rolls the candidate revision back.

resource "google_pubsub_topic" "incidents" {
  # checkov:skip=CKV_GCP_83:Messages are alert incidents (metric labels, no user data), retained 1 day; Google-managed encryption is enough and a CMEK key would add a KMS lifecycle the rollback path must not depend on.
  project                    = var.project_id
  name                       = "canary-incidents"
  message_retention_duration = "86400s"

  depends_on = [google_project_service.api]
}

resource "google_monitoring_notification_channel" "incidents" {
  project      = var.project_id
  display_name = "Canary incidents (Pub/Sub)"
  type         = "pubsub"
  description  = "Delivers rollback alert incidents to the canary function."

  labels = {
    topic = google_pubsub_topic.incidents.id
  }

  depends_on = [google_project_service.api]
}

# The Cloud Monitoring notification service agent
# (service-PROJECT_NUMBER@gcp-sa-monitoring-notification.iam.gserviceaccount.com) publishes the
# incidents. Google creates it lazily, so on a fresh project the grant below would fail with
# "service account does not exist": generateServiceIdentity for monitoring.googleapis.com creates
# it first (the Terraform form of `gcloud beta services identity create
# --service=monitoring.googleapis.com`; the resource exists only in the google-beta provider).
resource "google_project_service_identity" "monitoring" {
  provider = google-beta

  project = var.project_id
  service = "monitoring.googleapis.com"

  depends_on = [google_project_service.api]
}

resource "google_pubsub_topic_iam_member" "monitoring_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.incidents.name
  role    = "roles/pubsub.publisher"
  member  = google_project_service_identity.monitoring.member

  depends_on = [google_project_service_identity.monitoring]
}

resource "google_eventarc_trigger" "canary_incident" {
  project         = var.project_id
  name            = "canary-incident"
  location        = var.region
  service_account = google_service_account.canary_events.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.incidents.id
    }
  }

  destination {
    cloud_run_service {
      service = google_cloud_run_v2_service.canary_incident.name
      region  = var.region
      path    = "/"
    }
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.canary_incident_events,
    google_service_account_iam_member.pubsub_mints_event_tokens,
  ]
}
