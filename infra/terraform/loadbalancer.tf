# External HTTPS load balancer: one global IP and certificate, a serverless NEG and backend per
# function, and a URL map whose path rules are the local router's table
# (shared/recoengine/web/routing.py PATH_RULES; a test keeps them equal), so production routes
# /api/v2/* exactly as `make run` does. Plain HTTP only redirects to HTTPS.

locals {
  # Same order and content as routing.PATH_RULES; anything else goes to the default function.
  path_rules = [
    { path = "/api/v2/recommendations", function = "recommend" },
    { path = "/api/v2/recommendations/*", function = "recommend" },
    { path = "/api/v2/chat", function = "chat" },
    { path = "/api/v2/session/*", function = "chat" },
    { path = "/api/v2/canary/*", function = "canary" },
  ]
  default_function = "recommend"
}

resource "google_compute_global_address" "api" {
  project = var.project_id
  name    = "recoengine-api"

  depends_on = [google_project_service.api]
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project_id
  name    = "recoengine-api"

  managed {
    domains = [var.domain]
  }

  depends_on = [google_project_service.api]
}

resource "google_compute_ssl_policy" "modern" {
  project         = var.project_id
  name            = "recoengine-tls12-modern"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.api]
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.functions

  project               = var.project_id
  name                  = "${each.key}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.function[each.key].name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.functions

  project               = var.project_id
  name                  = "${each.key}-backend"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = google_compute_security_policy.api.id

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "api" {
  project         = var.project_id
  name            = "recoengine-api"
  default_service = google_compute_backend_service.function[local.default_function].id

  host_rule {
    hosts        = ["*"]
    path_matcher = "api"
  }

  path_matcher {
    name            = "api"
    default_service = google_compute_backend_service.function[local.default_function].id

    dynamic "path_rule" {
      for_each = local.functions
      content {
        paths   = [for rule in local.path_rules : rule.path if rule.function == path_rule.value]
        service = google_compute_backend_service.function[path_rule.value].id
      }
    }
  }
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project_id
  name             = "recoengine-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "recoengine-api-https"
  ip_address            = google_compute_global_address.api.address
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

resource "google_compute_url_map" "https_redirect" {
  project = var.project_id
  name    = "recoengine-api-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "recoengine-api-redirect"
  url_map = google_compute_url_map.https_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "recoengine-api-http"
  ip_address            = google_compute_global_address.api.address
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
