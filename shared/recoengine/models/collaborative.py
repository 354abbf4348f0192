"""CF: a sequence-aware item-to-item model.

Two item-item matrices learned from implicit feedback:

- EASE (Steck, WWW 2019): a closed-form linear autoencoder ``B = I - P / diag(P)`` with
  ``P = (XᵀX + λI)⁻¹``; strong on MovieLens and with no iterative training to tune.
- Transitions: how often item j follows item i in a user's chronological sequence (within a
  few steps), row-normalised. What users do next matters on a leave-last-out protocol.

A user's score vector is the recency-weighted sum of the rows of their recent items, so the
model follows what a user just did (including events supplied at request time) without
retraining. Cost per request: O(len(recent history) x n_items). The dense matrices limit the
catalog to ``max_items`` (about 0.4 GB per matrix at 10,000 items); beyond that, swap in a
sparse neighbourhood version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from recoengine.models import kernels
from recoengine.models.history import recency_weights


@dataclass(frozen=True)
class CFParams:
    l2: float = 400.0  # EASE regularisation
    half_life: float = 10.0  # recency half-life, in history steps
    max_history: int = 30  # at most this many recent items contribute (see ``window``)
    transition_weight: float = 1.0  # weight of the transition matrix against EASE
    transition_window: int = 3  # j counts as following i when within this many steps
    transition_half_life: float = 1.5
    max_items: int = 10_000


class SequenceCF:
    def __init__(self, params: CFParams | None = None) -> None:
        self.params = params or CFParams()
        self.ease: np.ndarray | None = None
        self._transitions: np.ndarray | None = None
        self._transitions_csr: kernels.Csr | None = None

    def fit(self, histories: list[np.ndarray], n_items: int) -> SequenceCF:
        p = self.params
        if n_items > p.max_items:
            raise ValueError(f"{n_items} items exceed the dense CF limit of {p.max_items}")
        gram = np.zeros((n_items, n_items), dtype=np.float64)
        trans = np.zeros((n_items, n_items), dtype=np.float64)
        for hist in histories:
            if len(hist) == 0:
                continue
            unique = np.unique(hist)
            gram[np.ix_(unique, unique)] += 1.0
            for step in range(1, p.transition_window + 1):
                if len(hist) > step:
                    w = 0.5 ** ((step - 1) / p.transition_half_life)
                    np.add.at(trans, (hist[:-step], hist[step:]), w)
        diag = np.diag_indices(n_items)
        gram[diag] += p.l2
        precision = np.linalg.inv(gram)
        ease = precision / (-np.diag(precision))
        ease[diag] = 0.0
        np.fill_diagonal(trans, 0.0)
        row_sums = trans.sum(axis=1, keepdims=True)
        trans = np.divide(trans, row_sums, out=np.zeros_like(trans), where=row_sums > 0)
        self.ease = ease.astype(np.float32)
        self.transitions = trans.astype(np.float32)
        return self

    @property
    def transitions(self) -> np.ndarray | None:
        return self._transitions

    @transitions.setter
    def transitions(self, matrix: np.ndarray | None) -> None:
        """Scored in sparse form (an item is followed by a few percent of the catalog)."""
        self._transitions = matrix
        self._transitions_csr = None if matrix is None else kernels.Csr.from_dense(matrix)

    @cached_property
    def window(self) -> int:
        """Recent items that count: up to four half-lives back (older weigh < 1/16) and at most
        ``max_history``. The cost of a request is proportional to it."""
        return max(1, min(self.params.max_history, math.ceil(4 * self.params.half_life)))

    def score(self, history: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """One score per item (written into ``out`` when given: serving avoids a copy)."""
        assert self.ease is not None and self._transitions_csr is not None
        p = self.params
        out = np.empty(self.ease.shape[0], dtype=np.float32) if out is None else out
        recent = np.asarray(history[-self.window :], dtype=np.int32)  # no copy when int32
        weights = recency_weights(len(recent), p.half_life)
        kernels.weighted_row_sum(self.ease, recent, weights, out, False)
        if p.transition_weight and len(recent):
            last = recent[-p.transition_window :]
            tw = transition_weights(len(last), p.transition_half_life, p.transition_weight)
            kernels.csr_weighted_row_sum(self._transitions_csr, last, tw, out, True)
        return out


@lru_cache(maxsize=64)
def transition_weights(length: int, half_life: float, weight: float) -> np.ndarray:
    """Recency weights of the last items' transition rows, times the transitions' weight."""
    weights = recency_weights(length, half_life) * np.float32(weight)
    weights.flags.writeable = False
    return weights
