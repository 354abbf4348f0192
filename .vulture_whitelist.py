"""Names vulture (``make lint``) reports as unused that are used, from outside Python's view.

Each group says why. make lint runs vulture at 80% confidence, where none of these is
reported; they are listed for the 60% run (``.venv/bin/vulture --min-confidence 60``), which
then reports only dead code. Names only (vulture matches by name, wherever it is defined).
"""
# ruff: noqa: B018, F821

# functions-framework entry points (``--target``), registered by decorator, called over HTTP.
canary_incident
chat_turn
session_history
session_delete
recommend_items
fixed_items  # tools/bench_assets/http_only.py
http_only  # tools/bench_assets/http_only.py

# Health components, registered with the ``@health.component(...)`` decorator.
store_health
llm_health
recommender_health

# pydantic: model configuration and validators (called by pydantic, by decorator).
model_config
_persona

# http.server hooks: BaseHTTPRequestHandler calls these methods and reads these attributes;
# ThreadingHTTPServer reads the server attributes.
log_message
do_GET
do_POST
do_PATCH
protocol_version
disable_nagle_algorithm
daemon_threads
request_queue_size

# Flask and Werkzeug attributes, read by the framework.
wsgi_app
max_content_length
automatically_set_content_length

# io.RawIOBase protocol methods (data/progress.py wraps a file for pyarrow and the csv reader).
readable
seekable

# numpy: ``array.flags.writeable = False`` freezes arrays shared between requests.
writeable

# PEP 562 module ``__getattr__`` (data/__init__.py: lazy imports).
__getattr__

# google.auth.credentials.Credentials reads ``expiry`` after ``refresh`` (testkit/fake_vertex).
expiry

# detect-secrets plugin, loaded by path from .secrets.baseline (tools/secret_patterns.py).
GoogleCredentialDetector
secret_type
denylist

# Fields of dataclasses serialised to JSON (API answers, reports, stored state): read by
# ``asdict``/``to_dict``, not by attribute.
boundary
diff_ci
relative_lift
relative_lift_ci
ci_low
attention_reason
window_chars
description

# A constant Terraform's TTL policies are checked against (tests/infra/test_terraform_structure).
TTL_COLLECTION_GROUPS

# Used by tests/conftest.py (outside vulture's paths): the skip message of the emulator fixture.
HOW_TO_GET
