"""The trained hybrid: three fitted components, the calibration, persona lookup and catalog.

This is what an artifact holds and what serving scores with. ``component_scores`` is the one
scoring path used by serving, evaluation and calibration alike, so offline numbers measure the
code that answers requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recoengine.models.blend import COMPONENTS, BlendCalibration, Blended, combine
from recoengine.models.collaborative import SequenceCF
from recoengine.models.content import ContentModel
from recoengine.models.persona import PersonaModel


@dataclass
class HybridModel:
    cf: SequenceCF
    cb: ContentModel
    pa: PersonaModel
    calibration: BlendCalibration = field(default_factory=BlendCalibration)
    tuned_weights: tuple[float, float, float] | None = None

    def raw_scores(self, history: np.ndarray, persona_rows: list[int]) -> np.ndarray:
        """The three components' raw scores as rows of one (3, n_items) array, each written in
        place (no stacking copy on the serving path)."""
        assert self.pa.log_popularity is not None
        raw = np.empty((len(COMPONENTS), self.pa.log_popularity.shape[0]), dtype=np.float32)
        self.cf.score(history, out=raw[0])
        self.cb.score(history, out=raw[1])
        raw[2] = self.pa.score_rows(persona_rows)
        return raw

    def component_scores(
        self, history: np.ndarray, persona_rows: list[int]
    ) -> dict[str, np.ndarray]:
        return dict(zip(COMPONENTS, self.raw_scores(history, persona_rows), strict=True))

    def blended(
        self,
        history: np.ndarray,
        persona_rows: list[int],
        weights: tuple[float, float, float] | np.ndarray,
    ) -> Blended:
        return combine(self.raw_scores(history, persona_rows), weights, self.calibration)
