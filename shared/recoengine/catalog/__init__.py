"""Catalog updates without retraining: items added, changed or withdrawn between two trainings.

``make catalog-update ITEMS=file`` validates an items file (the training formats plus an
optional ``available`` column) against the served model and publishes it beside the model:

    <model>/catalog/updates/<version>.json   the whole overlay since training (immutable)
    <model>/catalog/CURRENT.json             pointer: the version in force and its sha256

Each publish merges the file into the overlay in force (a later row for an item wins) and
writes a new versioned object first, the pointer last, so a reader sees the old overlay or the
new one, never half of one. Running instances poll the pointer (a ``stat`` locally, the
object's generation on ``gs://``) every ``CATALOG_REFRESH_SECONDS`` off the request path and
swap in the overlay (``overlay.py``); one that fails validation is logged and the previous one
stays in force. The next full training reads the overlay too (``absorb.py``).

Modules: ``update`` (the overlay document, numpy-free), ``files`` (reading an items file,
pyarrow), ``store`` (publish and read, local or ``gs://``), ``overlay`` (the served model with
the overlay applied), ``watcher`` (the poller), ``absorb`` (training), ``cold`` (evaluation).
"""
