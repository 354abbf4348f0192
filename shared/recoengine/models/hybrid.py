"""The trained hybrid: three fitted components, the calibration, persona lookup and catalog.

This is what an artifact holds and what serving scores with. ``component_scores`` is the one
scoring path used by serving, evaluation and calibration alike, so offline numbers measure the
code that answers requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recoengine.models.blend import BlendCalibration, Blended, combine
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

    def component_scores(
        self, history: np.ndarray, persona_rows: list[int]
    ) -> dict[str, np.ndarray]:
        return {
            "cf": self.cf.score(history),
            "cb": self.cb.score(history),
            "pa": self.pa.score_rows(persona_rows),
        }

    def blended(
        self, history: np.ndarray, persona_rows: list[int], weights: tuple[float, float, float]
    ) -> Blended:
        return combine(self.component_scores(history, persona_rows), weights, self.calibration)
