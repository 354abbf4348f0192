"""Canary delivery and automatic rollback on Cloud Run.

Pure core (numpy + stdlib): ``stats``, ``sequential``, ``abtest`` (statistics), ``rules`` (the
rollback rules from ``rollback_rules.yml``), ``policy`` (plans), ``judge``, ``engine``
(per-window observe/decide), ``state`` (state machine + audit), ``scenarios``/``simulate``.
Adapters (Google clients imported lazily): ``traffic`` (Cloud Run Admin API v2), ``monitoring``
(Cloud Monitoring), ``store`` (SQLite / Firestore), ``notify``. ``controller`` holds the use
cases and ``runtime`` wires them from configuration. Nothing is imported here, so importing a
submodule stays cheap.
"""
