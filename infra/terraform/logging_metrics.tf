# Log-based metrics: the product metrics that only exist inside an instance (engine latencies,
# cache hits, recommendation feedback) reach Cloud Monitoring through the structured log
# entries the functions write (one JSON object per line, see recoengine.web.logs).
# Contract with the code: an entry carries the metric's name as a jsonPayload field.
#   jsonPayload.recommendation_engine_latency       seconds (float)
#   jsonPayload.multiturn_engine_latency            seconds (float)
#   jsonPayload.personality_router_latency_seconds  seconds (float)
#   jsonPayload.cache                               "hit" | "miss"
#   jsonPayload.event = "feedback", .feedback_event, .revision   (recommendation feedback)
#   jsonPayload.canary_event, .service                            (canary audit: enable, step, rollback, ...)
#   jsonPayload.chat_reply, .chat_understanding   "model" | "fallback" | "offline"  (one per chat turn)
#   jsonPayload.chat_first_token_seconds          seconds from the turn's start to its first reply text
#   jsonPayload.chat_model_calls, .chat_tokens_in, .chat_tokens_out   counts per chat turn
# chat's rollback rules (shared/recoengine/rollback_rules.yml) judge multiturn_engine_latency (the
# turn minus the model's wait) and chat_turns (the fallback rates) per revision_name.
# In PromQL they are logging_googleapis_com:user_<name>{monitored_resource="cloud_run_revision"}.
# A log-based metric counts entries of whatever resource type matches its filter, so in PromQL
# it can map to several resource types: every query names monitored_resource (tests/infra).
# The monitored resource already labels each point with service_name, revision_name,
# configuration_name and location, so no metric extracts a label that repeats one of them
# (a duplicate costs cardinality, and `revision` next to `revision_name` invites mixing them).
# recommendation_feedback's `revision` is different: the revision that SERVED the
# recommendation (from the entry), not the one that received the feedback (the resource).

locals {
  # Every distribution a log entry's number feeds: latencies in seconds, and chat's per-turn
  # counts (their mean is the per-turn average). Buckets: exponential from `scale`, doubling
  # `buckets` times (latencies 50 us .. ~14 min; calls 1, 2, 4 ...; tokens 16 .. ~500k).
  distribution_metrics = {
    recommendation_engine_latency = {
      description = "Seconds the recommendation engine spends scoring one request (cache misses)."
      unit        = "s"
      scale       = 0.00005
      buckets     = 24
    }
    multiturn_engine_latency = {
      description = "Seconds the multi-turn engine spends on one turn, excluding the language model call."
      unit        = "s"
      scale       = 0.001
      buckets     = 24
    }
    personality_router_latency_seconds = {
      description = "Seconds the personality router takes to pick the persona of a turn."
      unit        = "s"
      scale       = 0.00005
      buckets     = 24
    }
    chat_first_token_seconds = {
      description = "Seconds from a chat turn's start until reply text exists (streamed: the first delta; whole: the reply): what a user waits before reading."
      unit        = "s"
      scale       = 0.001
      buckets     = 24
    }
    chat_model_calls = {
      description = "Model calls per chat turn (understanding and reply, retries included): 1 in the common case, 2 when the offline reading asked the model."
      unit        = "1"
      scale       = 1
      buckets     = 8
    }
    chat_tokens_in = {
      description = "Input tokens the model counted per chat turn."
      unit        = "1"
      scale       = 16
      buckets     = 16
    }
    chat_tokens_out = {
      description = "Output tokens the model counted per chat turn (thinking included)."
      unit        = "1"
      scale       = 16
      buckets     = 16
    }
  }
  run_filter = "resource.type=\"cloud_run_revision\""
}

# Named "latency" since it held only latencies; renaming it would recreate the deployed metrics.
resource "google_logging_metric" "latency" {
  for_each = local.distribution_metrics

  project         = var.project_id
  name            = each.key
  description     = each.value.description
  filter          = "${local.run_filter} AND jsonPayload.${each.key}:*"
  value_extractor = "EXTRACT(jsonPayload.${each.key})"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = each.value.unit
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = each.value.buckets
      growth_factor      = 2
      scale              = each.value.scale
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "recommendation_cache" {
  project     = var.project_id
  name        = "recommendation_cache"
  description = "Recommendation result cache lookups by result (hit or miss)."
  filter      = "${local.run_filter} AND jsonPayload.cache:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "result"
      value_type  = "STRING"
      description = "hit or miss."
    }
  }

  label_extractors = {
    result = "EXTRACT(jsonPayload.cache)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "recommendation_feedback" {
  project     = var.project_id
  name        = "recommendation_feedback"
  description = "Feedback events on recommendations (impression, click, accept) by serving revision: the A/B conversion the canary judges."
  filter      = "${local.run_filter} AND jsonPayload.event=\"feedback\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "event"
      value_type  = "STRING"
      description = "Feedback event: impression, click or accept."
    }
    labels {
      key         = "revision"
      value_type  = "STRING"
      description = "Revision that served the recommendation."
    }
  }

  label_extractors = {
    event    = "EXTRACT(jsonPayload.feedback_event)"
    revision = "EXTRACT(jsonPayload.revision)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "canary_events" {
  project     = var.project_id
  name        = "canary_events"
  description = "Canary controller actions (enable, advance, promote, rollback, incident, ...) by service: the dashboard's deployment status."
  filter      = "${local.run_filter} AND jsonPayload.canary_event:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "action"
      value_type  = "STRING"
      description = "What the canary did."
    }
    labels {
      key         = "service"
      value_type  = "STRING"
      description = "Service whose rollout it concerns."
    }
  }

  label_extractors = {
    action  = "EXTRACT(jsonPayload.canary_event)"
    service = "EXTRACT(jsonPayload.service)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "chat_turns" {
  project     = var.project_id
  name        = "chat_turns"
  description = "Chat turns by who wrote the reply and who understood the message (model, fallback: the model failed and the offline part stood in, offline: configured so): chat's fallback rates, judged per revision by the canary."
  filter      = "${local.run_filter} AND jsonPayload.chat_reply:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "reply"
      value_type  = "STRING"
      description = "Who wrote the reply: model, fallback or offline."
    }
    labels {
      key         = "understanding"
      value_type  = "STRING"
      description = "Who understood the message: model, fallback or offline."
    }
  }

  label_extractors = {
    reply         = "EXTRACT(jsonPayload.chat_reply)"
    understanding = "EXTRACT(jsonPayload.chat_understanding)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "canary_needs_attention" {
  project     = var.project_id
  name        = "canary_needs_attention"
  description = "Canary controller entries saying live traffic could not be repaired to match a stored rollout (a human must act): the alert in alerts.tf."
  filter      = "${local.run_filter} AND jsonPayload.canary_event=\"needs_attention\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "service"
      value_type  = "STRING"
      description = "Service whose rollout needs attention."
    }
  }

  label_extractors = {
    service = "EXTRACT(jsonPayload.service)"
  }

  depends_on = [google_project_service.api]
}
