# Alert policies for the rollback triggers, built from the ONE rules source that promtool tests
# (shared/recoengine/rollback_rules.yml): each Prometheus alerting rule becomes a PromQL
# condition with the same expression, `for` duration, evaluation interval and labels.

locals {
  rollback_rules_file = yamldecode(file("${path.module}/../../shared/recoengine/rollback_rules.yml"))

  duration_units = { s = 1, m = 60, h = 3600 }

  rollback_rules = {
    for rule in flatten([
      for group in local.rollback_rules_file.groups : [
        for r in group.rules : merge(r, { group_name = group.name, group_interval = group.interval })
      ]
    ]) : rule.labels.trigger => rule
  }

  rollback_rule_seconds = {
    for trigger, r in local.rollback_rules : trigger => {
      for_seconds      = tonumber(regex("^([0-9]+)([smh])$", r["for"])[0]) * local.duration_units[regex("^([0-9]+)([smh])$", r["for"])[1]]
      interval_seconds = tonumber(regex("^([0-9]+)([smh])$", r.group_interval)[0]) * local.duration_units[regex("^([0-9]+)([smh])$", r.group_interval)[1]]
    }
  }
}

resource "google_monitoring_alert_policy" "rollback" {
  for_each = local.rollback_rules

  project      = var.project_id
  display_name = "Canary rollback: ${each.value.alert}"
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
    subject   = "Rollback trigger ${each.key} on $${metric.label.revision_name}"
    content   = replace(each.value.annotations.summary, "{{ $labels.revision_name }}", "$${metric.label.revision_name}")
  }

  user_labels = {
    trigger = each.key
    windows = each.value.labels.windows
  }

  depends_on = [google_project_service.api]
}
