# Cloud Armor in front of every backend: per-client-IP rate limit (429 above the limit),
# Google's preconfigured WAF rule for Log4Shell-style probes, adaptive L7 DDoS protection.
resource "google_compute_security_policy" "api" {
  project     = var.project_id
  name        = "recoengine-api"
  description = "Rate limit and WAF for the public API."
  type        = "CLOUD_ARMOR"

  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Block Log4j (CVE-2021-44228) probes."
    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  # Cloud Armor caps a rule's description at 64 characters, and the provider does not check it
  # (tests/infra renders every description at its longest and checks Google's limits).
  rule {
    action      = "throttle"
    priority    = 1000
    description = "Per client IP: at most ${var.rate_limit_per_minute} requests a minute, then 429."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow (the throttle rule matches every IP first)."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.api]
}
