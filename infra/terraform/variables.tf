# Inputs. Every variable is typed, described and validated where a wrong value can be caught
# before Google's APIs reject it halfway through an apply.

variable "project_id" {
  type        = string
  description = "Google Cloud project id that receives the whole layout."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  type        = string
  description = "Region of Cloud Run, Artifact Registry, the serverless NEGs, Cloud Scheduler and the model bucket."
  default     = "europe-west1"
  validation {
    # Google Cloud regions are <area>-<direction><number>, and the number can have two digits
    # (europe-west10, europe-west12, us-east5, me-central2, africa-south1, ...).
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]{1,2}$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or europe-west10."
  }
}

variable "firestore_location" {
  type        = string
  description = "Firestore location (a region such as europe-west1 or a multi-region such as eur3); cannot change after creation."
  default     = "eur3"
  validation {
    condition     = can(regex("^(nam[0-9]+|eur[0-9]+|[a-z]+-[a-z]+[0-9]{1,2})$", var.firestore_location))
    error_message = "firestore_location must be a Firestore region or multi-region (nam5, eur3, europe-west1, ...)."
  }
}

variable "firestore_database" {
  type        = string
  description = "Firestore database id the functions use ('(default)' unless several environments share a project)."
  default     = "(default)"
  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be (default) or 4-63 lowercase letters, digits and hyphens."
  }
}

variable "backup_retention_days" {
  type        = number
  description = "Days each daily Firestore backup is kept (Firestore keeps a scheduled backup for at most 14 weeks = 98 days)."
  default     = 7
  validation {
    # BackupSchedule.retention: "can be set up to 14 weeks" for daily and weekly schedules alike.
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 98 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number of days from 1 to 98 (14 weeks)."
  }
}

variable "artifact_repository" {
  type        = string
  description = "Artifact Registry Docker repository that holds the function images."
  default     = "recoengine"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,62}$", var.artifact_repository))
    error_message = "artifact_repository must be lowercase letters, digits and hyphens."
  }
}

variable "image_tag" {
  type        = string
  description = "Tag of the images (make build TAG=...) the services start from. After creation the canary function owns recommend's and chat's image."
  default     = "latest"
  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag."
  }
}

variable "domain" {
  type        = string
  description = "DNS name of the public API (an A record must point at the load_balancer_ip output for the managed certificate to provision)."
  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a fully qualified lowercase DNS name such as api.example.com."
  }
}

variable "operators_group" {
  type        = string
  description = "Email of the Google group whose members may call the canary API and run the training job."
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", var.operators_group))
    error_message = "operators_group must be a group email address such as release-operators@example.com."
  }
}

variable "services" {
  type = map(object({
    min_instances   = number
    max_instances   = number
    cpu             = string
    memory          = string
    timeout_seconds = number
  }))
  description = "Scaling and resources of each function's Cloud Run service (keys: recommend, chat, canary). Request concurrency and server threads are not here: they come from shared/recoengine/capacity.yml."
  default = {
    recommend = { min_instances = 1, max_instances = 20, cpu = "1", memory = "1Gi", timeout_seconds = 30 }
    chat      = { min_instances = 1, max_instances = 20, cpu = "1", memory = "512Mi", timeout_seconds = 60 }
    canary    = { min_instances = 0, max_instances = 2, cpu = "1", memory = "512Mi", timeout_seconds = 120 }
  }
  validation {
    condition     = toset(keys(var.services)) == toset(["recommend", "chat", "canary"])
    error_message = "services must have exactly the keys recommend, chat and canary."
  }
  validation {
    condition = alltrue([for s in values(var.services) :
      s.min_instances >= 0 && s.max_instances >= 1 && s.min_instances <= s.max_instances && s.max_instances <= 1000
    ])
    error_message = "each service needs 0 <= min_instances <= max_instances <= 1000 and max_instances >= 1."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : contains(["1", "2", "4", "8"], s.cpu)])
    error_message = "cpu must be one of 1, 2, 4, 8."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : can(regex("^[0-9]+(Mi|Gi)$", s.memory))])
    error_message = "memory must look like 512Mi or 2Gi."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.timeout_seconds >= 1 && s.timeout_seconds <= 3600])
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "extra_env" {
  type        = map(map(string))
  description = "Extra environment variables per function (keys recommend, chat, canary), merged over the defaults in services.tf. Never put secrets here."
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.extra_env) : contains(["recommend", "chat", "canary"], k)])
    error_message = "extra_env keys must be recommend, chat or canary."
  }
}

variable "end_user_auth" {
  type        = string
  description = "How recommend and chat identify end users: \"firebase\" (a verified Firebase / Identity Platform ID token whose project is project_id; a body's user_id must match it) or \"none\" (trust the request's user_id: demos only)."
  default     = "firebase"
  validation {
    condition     = contains(["firebase", "none"], var.end_user_auth)
    error_message = "end_user_auth must be \"firebase\" or \"none\"."
  }
}

variable "model_uri" {
  type        = string
  description = "gs:// URI of the model artifact recommend serves; empty serves the demo model baked into the image (trained from generated data at build time) until a trained model is released."
  default     = ""
  validation {
    condition     = var.model_uri == "" || can(regex("^gs://[a-z0-9._-]+/.+", var.model_uri))
    error_message = "model_uri must be empty or a gs://bucket/path URI."
  }
}

variable "gemini_model" {
  type        = string
  description = "Gemini model the chat function calls on Vertex AI (docs/chat.md, \"The model and its thinking\")."
  default     = "gemini-3.5-flash"
  validation {
    condition     = can(regex("^gemini-[a-z0-9.-]+$", var.gemini_model))
    error_message = "gemini_model must be a Gemini model id such as gemini-3.5-flash."
  }
}

variable "gemini_location" {
  type        = string
  description = "Vertex AI location the chat calls Gemini in: \"global\" (Gemini 3 models are served there, not from every region) or a region such as europe-west1 for data residency, where the chosen model is offered."
  default     = "global"
  validation {
    condition     = can(regex("^(global|[a-z]+-[a-z]+[0-9]+)$", var.gemini_location))
    error_message = "gemini_location must be \"global\" or a region id such as europe-west1."
  }
}

variable "training_data_format" {
  type        = string
  description = "Format of the training data under gs://MODEL_BUCKET/data (generic CSV/JSONL or the MovieLens layout)."
  default     = "generic"
  validation {
    condition     = contains(["generic", "movielens"], var.training_data_format)
    error_message = "training_data_format must be generic or movielens."
  }
}

variable "rate_limit_per_minute" {
  type        = number
  description = "Requests per minute one client IP may send through the load balancer before Cloud Armor answers 429."
  default     = 600
  validation {
    condition     = var.rate_limit_per_minute >= 10 && var.rate_limit_per_minute <= 100000
    error_message = "rate_limit_per_minute must be between 10 and 100000."
  }
}

variable "canary_advance_schedule" {
  type        = string
  description = "Cron schedule on which Cloud Scheduler asks the canary function to advance (or roll back) each rollout."
  default     = "*/5 * * * *"
  validation {
    condition     = length(split(" ", trimspace(var.canary_advance_schedule))) == 5
    error_message = "canary_advance_schedule must be a five-field cron expression."
  }
}

variable "scheduler_time_zone" {
  type        = string
  description = "Time zone of the Cloud Scheduler jobs (tz database name)."
  default     = "Etc/UTC"
  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.scheduler_time_zone))
    error_message = "scheduler_time_zone must be a tz database name such as Etc/UTC or Europe/Paris."
  }
}

variable "released_services" {
  type        = list(string)
  description = "Services whose rollouts the canary function manages (one Cloud Scheduler advance job each)."
  default     = ["recommend", "chat"]
  validation {
    condition     = length(var.released_services) > 0 && alltrue([for s in var.released_services : contains(["recommend", "chat"], s)])
    error_message = "released_services must be a non-empty subset of recommend and chat."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the Cloud Run services, the job and the Firestore database from terraform destroy."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that supports them."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "label keys and values must be lowercase letters, digits, _ and - (keys start with a letter)."
  }
}

# --- Spark training (training_spark.tf) ---

variable "spark_training_enabled" {
  type        = bool
  description = "Train on Apache Spark (Dataproc Serverless) on spark_training_schedule: creates the batch and scheduler identities, the network and the Cloud Scheduler job."
  default     = false
}

variable "spark_training_schedule" {
  type        = string
  description = "Cron schedule (five fields, scheduler_time_zone) of the Spark training batch; at most hourly, so the minute field is fixed."
  default     = "0 3 * * *"
  validation {
    condition     = length(split(" ", trimspace(var.spark_training_schedule))) == 5 && alltrue([for f in split(" ", trimspace(var.spark_training_schedule)) : can(regex("^(\\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$", f))])
    error_message = "spark_training_schedule must be a five-field cron expression such as \"0 3 * * *\"."
  }
  validation {
    condition     = can(regex("^[0-9]+(,[0-9]+)*$", split(" ", trimspace(var.spark_training_schedule))[0]))
    error_message = "spark_training_schedule may run at most a few times an hour: its minute field must be fixed numbers (0, or 0,30), not * or */N."
  }
}

variable "spark_training_data_uri" {
  type        = string
  description = "gs://bucket[/prefix] holding interactions.parquet (+ optional items.csv, users.csv) for the Spark trainer; empty creates gs://PROJECT-recoengine-interactions and uses its interactions/ prefix."
  default     = ""
  validation {
    condition     = var.spark_training_data_uri == "" || can(regex("^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\\s]*)?$", var.spark_training_data_uri))
    error_message = "spark_training_data_uri must be empty or gs://BUCKET[/PREFIX]."
  }
}

variable "spark_training_max_executors" {
  type        = number
  description = "Upper bound of the Spark training batch's executors (spark.dynamicAllocation.maxExecutors); bounds the cost of one run."
  default     = 10
  validation {
    condition     = var.spark_training_max_executors >= 2 && var.spark_training_max_executors <= 2000 && floor(var.spark_training_max_executors) == var.spark_training_max_executors
    error_message = "spark_training_max_executors must be a whole number from 2 to 2000."
  }
}

variable "spark_training_max_hours" {
  type        = number
  description = "Hours after which a Spark training batch is stopped (executionConfig.ttl), so a stuck run stops billing."
  default     = 4
  validation {
    condition     = var.spark_training_max_hours >= 1 && var.spark_training_max_hours <= 336 && floor(var.spark_training_max_hours) == var.spark_training_max_hours
    error_message = "spark_training_max_hours must be a whole number from 1 to 336 (Dataproc's 14-day maximum)."
  }
}

variable "feedback_key_version" {
  type        = number
  description = "Generation of the CURRENT feedback-token signing key (feedback_key.tf): recommend signs with it and verifies with it. Each generation is one pinned Secret Manager version. Rotate in two applies (docs/deploy.md): first set feedback_key_next_version, then promote it here."
  default     = 1
  validation {
    condition     = var.feedback_key_version >= 1 && floor(var.feedback_key_version) == var.feedback_key_version
    error_message = "feedback_key_version must be a positive integer."
  }
}

variable "feedback_key_previous_version" {
  type        = number
  description = "Generation of the PREVIOUS feedback signing key, still verified (tokens signed by revisions deployed before the last promotion), never used to sign; 0 = none. Must be below feedback_key_version."
  default     = 0
  validation {
    condition     = floor(var.feedback_key_previous_version) == var.feedback_key_previous_version && var.feedback_key_previous_version >= 0 && var.feedback_key_previous_version < var.feedback_key_version
    error_message = "feedback_key_previous_version must be 0 (none) or a whole number below feedback_key_version."
  }
}

variable "feedback_key_next_version" {
  type        = number
  description = "Generation of the NEXT feedback signing key, verified but not yet used to sign, so that revisions deployed after its promotion are trusted by every revision deployed now; 0 = none. Must be above feedback_key_version."
  default     = 0
  validation {
    condition     = floor(var.feedback_key_next_version) == var.feedback_key_next_version && (var.feedback_key_next_version == 0 ? true : var.feedback_key_next_version > var.feedback_key_version)
    error_message = "feedback_key_next_version must be 0 (none) or a whole number above feedback_key_version."
  }
}
