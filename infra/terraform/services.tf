# One Cloud Run (v2) service per function, from its functions-framework image (Dockerfile,
# FUNCTION=<name>), plus canary-incident: the canary image serving its CloudEvent entry point
# canary_incident, which Eventarc feeds with Cloud Monitoring incidents (incidents.tf).
#
# After creation the canary function owns traffic and the deployed image of the services
# (it deploys candidate revisions and moves traffic step by step), so Terraform ignores them.

locals {
  # Serving capacity from ONE source, shared with the code (shared/recoengine/capacity.yml, read
  # by recoengine.capacity): `concurrency` is what Cloud Run sends one instance at once, `threads`
  # the thread pool that runs the handlers waiting on sync clients (handed to the container as
  # SERVER_THREADS; the server itself is one event loop, functions-framework --asgi).
  capacity = yamldecode(file("${path.module}/../../shared/recoengine/capacity.yml"))
  server_env = {
    for fn in local.functions : fn => { SERVER_THREADS = tostring(local.capacity[fn].threads) }
  }

  # Environment of each function from ONE source, shared with the tests:
  # shared/recoengine/environment.yml, rendered with these variables (recoengine.environment
  # renders it the same way for the cloud-parity stack, tools/cloudstack.py; tests/cloudparity
  # compares the two renderings). Groups merge in order, then the function's own env; a value
  # that renders empty (model_uri unset) is left out. config.py validates every value at
  # start-up, so a typo fails the revision's startup probe, not a request.
  environment = yamldecode(templatefile("${path.module}/../../shared/recoengine/environment.yml", {
    project_id         = var.project_id
    region             = var.region
    firestore_database = var.firestore_database
    end_user_auth      = var.end_user_auth
    model_uri          = var.model_uri
    gemini_model       = var.gemini_model
    gemini_location    = var.gemini_location
  }))
  function_env = {
    for fn, spec in local.environment.functions : fn => {
      for name, value in merge(concat([for g in spec.groups : local.environment.groups[g]], [spec.env])...) :
      name => value if value != ""
    }
  }
  # Ingress: recommend and chat answer only through the load balancer; canary also takes
  # direct IAM-authenticated calls (operators, Cloud Scheduler), never anonymous ones.
  function_ingress = {
    recommend = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    chat      = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    canary    = "INGRESS_TRAFFIC_ALL"
  }
}

resource "google_cloud_run_v2_service" "function" {
  for_each = local.functions

  project             = var.project_id
  name                = each.key
  location            = var.region
  ingress             = local.function_ingress[each.key]
  deletion_protection = var.deletion_protection
  description         = "The ${each.key} function (functions-framework, entry point ${each.key})."

  # Lets operators call the canary through the load balancer's host with an ID token.
  custom_audiences = each.key == "canary" ? ["https://${var.domain}"] : null

  template {
    service_account                  = google_service_account.function[each.key].email
    max_instance_request_concurrency = local.capacity[each.key].concurrency
    timeout                          = "${var.services[each.key].timeout_seconds}s"
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = var.services[each.key].min_instances
      max_instance_count = var.services[each.key].max_instances
    }

    containers {
      name  = each.key
      image = local.images[each.key]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.services[each.key].cpu
          memory = var.services[each.key].memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = merge(local.function_env[each.key], local.server_env[each.key], lookup(var.extra_env, each.key, {}))
        content {
          name  = env.key
          value = env.value
        }
      }

      # Secrets (the feedback-token signing keys) from Secret Manager at PINNED versions
      # (local.secret_env, feedback_key.tf), never plain values and never `latest`.
      dynamic "env" {
        for_each = lookup(local.secret_env, each.key, {})
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }

      # The model loads before the first request (the image's demo model, or MODEL_URI): allow ~60 s.
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 3
        timeout_seconds       = 2
        failure_threshold     = 20
        http_get {
          path = local.health_path
          port = 8080
        }
      }

      liveness_probe {
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
        http_get {
          path = local.health_path
          port = 8080
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  lifecycle {
    # Cloud Run accepts 1..1000 concurrent requests per instance; capacity.yml is checked by the
    # code too (recoengine.capacity), but a bad edit should fail the plan, not the apply.
    precondition {
      condition     = local.capacity[each.key].concurrency >= 1 && local.capacity[each.key].concurrency <= 1000 && local.capacity[each.key].threads >= 1
      error_message = "shared/recoengine/capacity.yml: ${each.key} needs concurrency in 1..1000 and threads >= 1."
    }
    ignore_changes = [
      traffic,
      template[0].containers[0].image,
      template[0].revision,
      template[0].labels,
      template[0].annotations,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_project_service.api,
    google_project_iam_member.function,
    google_secret_manager_secret_version.feedback_key,
    google_secret_manager_secret_iam_member.recommend_reads_feedback_key,
  ]
}

# The canary's CloudEvent entry point (functions-framework --target=canary_incident
# --signature-type=cloudevent) from the canary image. Terraform owns its image: it is the
# controller's own receiver, not something the canary rolls out.
resource "google_cloud_run_v2_service" "canary_incident" {
  project             = var.project_id
  name                = "canary-incident"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  description         = "The canary function's canary_incident CloudEvent entry: Cloud Monitoring incidents -> rollback."

  template {
    service_account                  = google_service_account.function["canary"].email
    max_instance_request_concurrency = local.capacity["canary"].concurrency
    timeout                          = "${var.services["canary"].timeout_seconds}s"
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = 0
      max_instance_count = var.services["canary"].max_instances
    }

    containers {
      name  = "canary-incident"
      image = local.images["canary"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.services["canary"].cpu
          memory = var.services["canary"].memory
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = merge(local.function_env["canary"], local.server_env["canary"], lookup(var.extra_env, "canary", {}), {
          FUNCTION_TARGET         = "canary_incident"
          FUNCTION_SIGNATURE_TYPE = "cloudevent"
        })
        content {
          name  = env.key
          value = env.value
        }
      }

      # A CloudEvent function answers only POST (GET /health is 405), so its probe is TCP.
      startup_probe {
        period_seconds    = 3
        timeout_seconds   = 2
        failure_threshold = 20
        tcp_socket {
          port = 8080
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [client, client_version]
  }

  depends_on = [google_project_service.api, google_project_iam_member.function]
}
