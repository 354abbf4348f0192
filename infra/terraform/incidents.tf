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

# The Monitoring notification service agent publishes the incidents.
resource "google_pubsub_topic_iam_member" "monitoring_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.incidents.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${local.monitoring_notification_agent}"
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
