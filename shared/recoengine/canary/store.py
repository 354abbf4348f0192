"""Durable canary state: the current rollout per service, its audit trail, processed incidents.

Two backends with one contract (tests run the same suite on both): SQLite for ``make run`` and
Firestore in the cloud (``google-cloud-firestore``, imported lazily). Saves are compare-and-set
on the rollout's ``version``, so two instances acting at once (the scheduler and an incident)
cannot both win: the loser gets ``Conflict`` and re-reads.

An incident's id is claimed in the same transaction as the rollback it causes (``save(...,
claim=...)``): five deliveries of one incident make one rollback, and a rollback that could not
be stored leaves the id unclaimed, so Pub/Sub's redelivery still rolls back (invariant I3; a
claim written apart from the rollback would swallow that redelivery as a duplicate). Claim
documents carry ``expires_at`` for Firestore's TTL policy; an expired claim counts as absent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from recoengine.canary.state import AuditEntry, Rollout
from recoengine.errors import Conflict, ServiceUnavailable
from recoengine.storage_schema import CANARY_AUDIT, CANARY_INCIDENTS, CANARY_ROLLOUTS, EXPIRY_FIELD


@dataclass(frozen=True)
class IncidentClaim:
    """An incident id to claim together with a save (what it was about goes into the record)."""

    incident_id: str
    info: dict[str, Any]
    ttl_s: float


class DuplicateIncident(Conflict):
    """The incident id was claimed by an earlier, stored rollback (within the claim's TTL)."""


class CanaryStore(Protocol):
    def get(self, service: str) -> Rollout | None: ...

    def save(
        self,
        rollout: Rollout,
        audit: AuditEntry | None = None,
        claim: IncidentClaim | None = None,
    ) -> Rollout:
        """Write if the stored version equals ``rollout.version``; returns it with version + 1.
        With ``claim``, the incident id is claimed in the same transaction: ``DuplicateIncident``
        (and nothing written) if it already is."""
        ...

    def audit(self, service: str, limit: int = 50) -> list[dict[str, Any]]: ...


# Table names are constants from storage_schema, never input.
_GET_ROLLOUT = f"SELECT doc, version FROM {CANARY_ROLLOUTS} WHERE service = ?"  # noqa: S608
_GET_VERSION = f"SELECT version FROM {CANARY_ROLLOUTS} WHERE service = ?"  # noqa: S608
_PURGE_INCIDENTS = f"DELETE FROM {CANARY_INCIDENTS} WHERE {EXPIRY_FIELD} < ?"  # noqa: S608


class SqliteCanaryStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(
                f"""
                CREATE TABLE IF NOT EXISTS {CANARY_ROLLOUTS} (
                    service TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS {CANARY_AUDIT} (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL,
                    at REAL NOT NULL, doc TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS {CANARY_AUDIT}_by_service
                    ON {CANARY_AUDIT}(service, id);
                CREATE TABLE IF NOT EXISTS {CANARY_INCIDENTS} (
                    incident_id TEXT PRIMARY KEY, {EXPIRY_FIELD} REAL NOT NULL, doc TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS canary_local_services (
                    service TEXT PRIMARY KEY, doc TEXT NOT NULL);
                """
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, service: str) -> Rollout | None:
        with self._lock:
            row = self._conn.execute(_GET_ROLLOUT, (service,)).fetchone()
        if row is None:
            return None
        rollout = Rollout.from_dict(json.loads(row[0]))
        rollout.version = int(row[1])
        return rollout

    def save(
        self,
        rollout: Rollout,
        audit: AuditEntry | None = None,
        claim: IncidentClaim | None = None,
    ) -> Rollout:
        new_version = rollout.version + 1
        rollout_doc = {**rollout.to_dict(), "version": new_version}
        doc = json.dumps(rollout_doc)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if claim is not None:
                    self._claim(claim)
                row = self._conn.execute(_GET_VERSION, (rollout.service,)).fetchone()
                stored = int(row[0]) if row else 0
                if stored != rollout.version:
                    raise Conflict(
                        f"rollout of {rollout.service} changed concurrently; retry",
                        details={"expected": rollout.version, "found": stored},
                    )
                self._conn.execute(
                    f"INSERT INTO {CANARY_ROLLOUTS}(service, version, doc) VALUES (?, ?, ?) "  # noqa: S608
                    "ON CONFLICT(service) DO UPDATE SET version = excluded.version, "
                    "doc = excluded.doc",
                    (rollout.service, new_version, doc),
                )
                if audit is not None:
                    self._insert_audit(audit)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        saved = Rollout.from_dict(rollout_doc)
        return saved

    def _insert_audit(self, entry: AuditEntry) -> None:
        self._conn.execute(
            f"INSERT INTO {CANARY_AUDIT}(service, at, doc) VALUES (?, ?, ?)",  # noqa: S608
            (entry.service, entry.at, json.dumps(entry.to_dict(), default=str)),
        )

    def audit(self, service: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT doc FROM {CANARY_AUDIT} WHERE service = ? ORDER BY id DESC LIMIT ?",  # noqa: S608
                (service, limit),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _claim(self, claim: IncidentClaim) -> None:
        """Inside the save's transaction: claim the id or raise ``DuplicateIncident``."""
        now = time.time()
        self._conn.execute(_PURGE_INCIDENTS, (now,))  # expired claims are absent, as with TTL
        cur = self._conn.execute(
            f"INSERT OR IGNORE INTO {CANARY_INCIDENTS}(incident_id, {EXPIRY_FIELD}, doc) "  # noqa: S608
            "VALUES (?, ?, ?)",
            (claim.incident_id, now + claim.ttl_s, json.dumps(claim.info, default=str)),
        )
        if cur.rowcount != 1:
            raise DuplicateIncident(f"incident {claim.incident_id} was already handled")

    # Local traffic backend (CANARY_PLATFORM=local) keeps its service documents here too.
    def load_local_service(self, service: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM canary_local_services WHERE service = ?", (service,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def save_local_service(self, service: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO canary_local_services(service, doc) VALUES (?, ?) "
                "ON CONFLICT(service) DO UPDATE SET doc = excluded.doc",
                (service, json.dumps(doc)),
            )


def _doc_id(raw: str) -> str:
    """Firestore ids cannot contain '/' or be '.'/'..'; hash anything unusual."""
    import hashlib

    if raw and "/" not in raw and raw not in (".", "..") and len(raw) <= 500:
        return raw
    return "h-" + hashlib.sha256(raw.encode()).hexdigest()


class FirestoreCanaryStore:
    def __init__(self, client: Any = None, project: str | None = None) -> None:
        if client is None:
            from google.cloud import firestore

            client = firestore.Client(project=project)
        self.db = client

    def _wrap(self, exc: Exception) -> ServiceUnavailable:
        return ServiceUnavailable(f"Firestore: {exc}")

    def get(self, service: str) -> Rollout | None:
        from google.api_core import exceptions as gexc

        try:
            snap = self.db.collection(CANARY_ROLLOUTS).document(service).get()
        except gexc.GoogleAPICallError as exc:
            raise self._wrap(exc) from None
        if not snap.exists:
            return None
        return Rollout.from_dict(snap.to_dict())

    def save(
        self,
        rollout: Rollout,
        audit: AuditEntry | None = None,
        claim: IncidentClaim | None = None,
    ) -> Rollout:
        from datetime import UTC, datetime, timedelta

        from google.api_core import exceptions as gexc
        from google.cloud import firestore

        new_version = rollout.version + 1
        doc = {**rollout.to_dict(), "version": new_version}
        ref = self.db.collection(CANARY_ROLLOUTS).document(rollout.service)
        audit_ref = self.db.collection(CANARY_AUDIT).document() if audit else None
        claims = self.db.collection(CANARY_INCIDENTS)
        claim_ref = claims.document(_doc_id(claim.incident_id)) if claim else None

        @firestore.transactional
        def write(tx: Any) -> None:
            snap = ref.get(transaction=tx)  # a transaction reads everything before it writes
            held = claim_ref.get(transaction=tx) if claim_ref is not None else None
            now = datetime.now(UTC)
            if held is not None and held.exists:
                expires = (held.to_dict() or {}).get(EXPIRY_FIELD)
                if expires is None or expires > now:  # TTL deletion lags: expired = absent
                    raise DuplicateIncident(f"incident {held.id} was already handled")
            stored = int((snap.to_dict() or {}).get("version", 0)) if snap.exists else 0
            if stored != rollout.version:
                raise Conflict(
                    f"rollout of {rollout.service} changed concurrently; retry",
                    details={"expected": rollout.version, "found": stored},
                )
            tx.set(ref, doc)
            if audit_ref is not None and audit is not None:
                tx.set(audit_ref, audit.to_dict())
            if claim_ref is not None and claim is not None:
                expiry = now + timedelta(seconds=claim.ttl_s)
                record = {**claim.info, "incident_id": claim.incident_id, EXPIRY_FIELD: expiry}
                tx.set(claim_ref, record)

        try:
            write(self.db.transaction())
        except gexc.GoogleAPICallError as exc:
            raise self._wrap(exc) from None
        return Rollout.from_dict(doc)

    def audit(self, service: str, limit: int = 50) -> list[dict[str, Any]]:
        from google.api_core import exceptions as gexc
        from google.cloud.firestore_v1.base_query import FieldFilter

        # Equality only (single-field index, no composite index to deploy); sort here. The
        # trail of one service is small: a few dozen entries per rollout.
        try:
            docs = (
                self.db.collection(CANARY_AUDIT)
                .where(filter=FieldFilter("service", "==", service))
                .stream()
            )
            entries = [d.to_dict() for d in docs]
        except gexc.GoogleAPICallError as exc:
            raise self._wrap(exc) from None
        entries.sort(key=lambda e: e.get("at", 0.0), reverse=True)
        return entries[:limit]
