# Alert policies for the rollback triggers, built from the ONE rules source that promtool tests
# (shared/recoengine/rollback_rules.yml): each Prometheus alerting rule, one per (service,
# trigger), becomes a PromQL condition with the same expression (filtered to its service and
# gated by its minimum request count), `for` duration, evaluation interval and labels. They
# notify the incidents channel: the canary function rolls the candidate back.
#
# Plus one alert for a human: the canary controller logs canary_event="needs_attention" when it
# cannot repair live traffic (a rollback or reconciliation whose traffic update failed); the
# log-based metric canary_needs_attention (logging_metrics.tf) counts those entries, and any of
# them pages the operators group by email. It never goes to the incidents channel: there is
# nothing to roll back automatically, the automatic path is what failed.

locals {
  rollback_rules_file = yamldecode(file("${path.module}/../../shared/recoengine/rollback_rules.yml"))

  duration_units = { s = 1, m = 60, h = 3600 }

  # Keyed by alert name (unique across the file: CanaryErrorRateHigh, ChatCanaryErrorRateHigh, ...).
  rollback_rules = {
    for rule in flatten([
      for group in local.rollback_rules_file.groups : [
        for r in group.rules : merge(r, { group_name = group.name, group_interval = group.interval })
      ]
    ]) : rule.alert => rule
  }

  rollback_rule_seconds = {
    for key, r in local.rollback_rules : key => {
      for_seconds      = tonumber(regex("^([0-9]+)([smh])$", r["for"])[0]) * local.duration_units[regex("^([0-9]+)([smh])$", r["for"])[1]]
      interval_seconds = tonumber(regex("^([0-9]+)([smh])$", r.group_interval)[0]) * local.duration_units[regex("^([0-9]+)([smh])$", r.group_interval)[1]]
    }
  }

  # Any needs_attention entry in the last 5 minutes, per service whose rollout needs a human.
  needs_attention_query = "sum by (service) (increase(logging_googleapis_com:user_canary_needs_attention{monitored_resource=\"cloud_run_revision\"}[5m])) > 0"
}

resource "google_monitoring_alert_policy" "rollback" {
  for_each = local.rollback_rules

  project      = var.project_id
  display_name = "Canary rollback: ${each.value.alert} (${each.value.labels.service})"
  combiner     = "OR"
  severity     = "CRITICAL"
  enabled      = true

  conditions {
    display_name = each.value.alert

    condition_prometheus_query_language {
      query               = trimspace(each.value.expr)
      duration            = "${local.rollback_rule_seconds[each.key].for_seconds}s"
      evaluation_interval = "${local.rollback_rule_seconds[each.key].interval_seconds}s"
      labels              = each.value.labels
      rule_group          = each.value.group_name
      alert_rule          = each.value.alert
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  notification_channels = [google_monitoring_notification_channel.incidents.id]

  documentation {
    mime_type = "text/markdown"
    subject   = "Rollback trigger ${each.value.labels.trigger} (${each.value.labels.service} rules) on $${metric.label.revision_name}"
    content   = replace(each.value.annotations.summary, "{{ $labels.revision_name }}", "$${metric.label.revision_name}")
  }

  user_labels = {
    trigger = each.value.labels.trigger
    windows = each.value.labels.windows
  }

  # chat's rules read log-based metrics: their descriptors must exist before the conditions.
  depends_on = [google_project_service.api, google_logging_metric.latency, google_logging_metric.chat_turns]
}

resource "google_monitoring_notification_channel" "operators" {
  project      = var.project_id
  display_name = "Release operators (email)"
  type         = "email"
  description  = "Canary problems a human must fix: a traffic repair the controller could not make."

  labels = {
    email_address = var.operators_group
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "canary_needs_attention" {
  project      = var.project_id
  display_name = "Canary needs attention: live traffic could not be repaired"
  combiner     = "OR"
  severity     = "CRITICAL"
  enabled      = true

  conditions {
    display_name = "CanaryNeedsAttention"

    condition_prometheus_query_language {
      query               = local.needs_attention_query
      duration            = "0s"
      evaluation_interval = "60s"
      alert_rule          = "CanaryNeedsAttention"
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  notification_channels = [google_monitoring_notification_channel.operators.id]

  documentation {
    mime_type = "text/markdown"
    subject   = "Canary needs attention on $${metric.label.service}"
    content   = "The canary controller could not move live traffic to match the stored rollout of $${metric.label.service} (needs_attention). The scheduler's next advance retries; if this persists, read the canary audit log (jsonPayload.canary_event) and fix traffic by hand (docs/canary.md)."
  }

  depends_on = [google_project_service.api, google_logging_metric.canary_needs_attention]
}
