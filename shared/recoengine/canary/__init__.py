"""Canary delivery and automatic rollback on Cloud Run.

Pure core (numpy + stdlib): ``normal`` (the normal distribution), ``significance``,
``sequential`` and ``abtest`` (statistics), ``rules`` (the rollback rules from
``rollback_rules.yml``), ``policy`` (plans), ``windows`` (what the canary sees of a revision,
and the metrics port), ``judge``, ``decision`` (per-window observe/decide), ``state`` (state
machine + audit), ``scenarios``/``simulate`` (synthetic timelines and their replay).
Adapters (Google clients imported lazily): ``traffic`` (Cloud Run Admin API v2),
``cloud_monitoring`` (Cloud Monitoring), ``store`` (SQLite / Firestore), ``notify``, and
``access`` (who may call the API). ``controller`` holds the use cases;
``recoengine.wiring.canary`` builds them from configuration. Nothing is imported here, so
importing a submodule stays cheap.
"""
