"""The trained hybrid: three fitted components, the calibration, persona lookup and catalog.

This is what an artifact holds and what serving scores with. ``candidates`` is the one scoring
path used by serving, evaluation and calibration alike, so offline numbers measure the code
that answers requests. It is two-stage: first gather candidates (neighbours of the user's
recent items, popular items of the segment and overall, and any extra items the caller adds,
such as a feature filter's), then score all three components on those candidates only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recoengine.models.blend import COMPONENTS, BlendCalibration, Blended, combine
from recoengine.models.collaborative import SequenceCF
from recoengine.models.content import ContentModel
from recoengine.models.persona import PersonaModel


@dataclass
class Scored:
    """A request's candidates and their raw component scores (rows ordered as COMPONENTS)."""

    items: np.ndarray  # int32 item indices
    raw: np.ndarray  # (3, len(items)) float32

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class HybridModel:
    cf: SequenceCF
    cb: ContentModel
    pa: PersonaModel
    calibration: BlendCalibration = field(default_factory=BlendCalibration)
    tuned_weights: tuple[float, float, float] | None = None

    @property
    def n_items(self) -> int:
        return int(self.pa.log_popularity.shape[0])

    def candidates(
        self,
        history: np.ndarray,
        persona_rows: list[int],
        forbidden: np.ndarray | None = None,
        extra: np.ndarray | None = None,
        k: int = 0,
    ) -> Scored:
        """Gather candidates and score the three components on them. ``forbidden`` items (by
        default the history) are never candidates; ``extra`` items always are; the
        ``max(candidates, k)`` most popular items are offered (the caller widens ``k`` when
        too many of them were banned)."""
        banned = history if forbidden is None else forbidden
        pool = self.pa.candidates(persona_rows, k)
        if extra is not None and len(extra):
            pool = np.concatenate([pool, np.asarray(extra, dtype=np.int32)])
        items, cf = self.cf.gather(
            history,
            np.ascontiguousarray(pool, dtype=np.int32),
            np.ascontiguousarray(banned, dtype=np.int32),
        )
        raw = np.empty((len(COMPONENTS), len(items)), dtype=np.float32)
        raw[0] = cf
        self.cb.score(history, items, raw[1])
        self.pa.score(persona_rows, items, raw[2])
        return Scored(items, raw)

    def blended(
        self,
        history: np.ndarray,
        persona_rows: list[int],
        weights: tuple[float, float, float] | np.ndarray,
        forbidden: np.ndarray | None = None,
        extra: np.ndarray | None = None,
        k: int = 0,
    ) -> tuple[Scored, Blended]:
        scored = self.candidates(history, persona_rows, forbidden, extra, k)
        return scored, combine(scored.raw, weights, self.calibration)


__all__ = ["HybridModel", "Scored"]
