"""A tiny catalogue behind the chat's ``Recommender`` port, for fast deterministic tests."""

from __future__ import annotations

from collections.abc import Sequence

from recoengine.chat.recommender import Suggestion
from recoengine.errors import ServiceUnavailable

CATALOGUE = [
    ("m1", "Laugh Riot", ("comedy",)),
    ("m2", "Space Drift", ("sci-fi", "drama")),
    ("m3", "Quiet Harbor", ("drama",)),
    ("m4", "Robot Dawn", ("sci-fi", "action")),
    ("m5", "Funny Bones", ("comedy", "animation")),
    ("m6", "Star Siege", ("sci-fi", "action")),
    ("m7", "Tears of June", ("drama", "romance")),
    ("m8", "Giggle Town", ("comedy",)),
    ("m9", "Deep Orbit", ("sci-fi",)),
    ("m10", "Last Waltz", ("romance",)),
    ("m11", "Night Chase", ("action", "thriller")),
    ("m12", "Paper Moon", ("comedy", "romance")),
]


class TinyRecommender:
    """Ranks the catalogue in list order (similar items by shared features); ``down=True``
    behaves like a missing model; ``seen`` plays the users' training histories."""

    def __init__(self, down: bool = False, seen: dict[str, list[str]] | None = None) -> None:
        self.down = down
        self.seen = seen or {}  # user -> items in their history (never recommended)
        self.calls: list[tuple[str, dict]] = []

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("recommendation model unavailable")

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        features: Sequence[str] = (),
        match_all: bool = False,
        exclude: Sequence[str] = (),
        recent_items: Sequence[str] = (),
    ) -> list[Suggestion]:
        self._check()
        asked = {
            "features": list(features),
            "match_all": match_all,
            "exclude": list(exclude),
            "recent_items": list(recent_items),
        }
        self.calls.append(("recommend", asked))
        skip = set(exclude) | set(recent_items) | set(self.seen.get(user_id, ()))
        wanted = {f.lower() for f in features}

        def fits(tokens: tuple[str, ...]) -> bool:
            if not wanted:
                return True
            have = set(tokens)
            return wanted <= have if match_all else bool(wanted & have)

        out = [
            Suggestion(i, t, 1.0 / (n + 1))
            for n, (i, t, f) in enumerate(CATALOGUE)
            if i not in skip and fits(f)
        ]
        return out[:k]

    def similar(
        self, item_id: str, k: int, *, exclude: Sequence[str] = (), user_id: str | None = None
    ) -> list[Suggestion]:
        self._check()
        self.calls.append(
            ("similar", {"item_id": item_id, "exclude": list(exclude), "user_id": user_id})
        )
        feats = set(self.features_of(item_id))
        skip = set(exclude) | {item_id} | set(self.seen.get(user_id or "", ()))
        ranked = sorted(
            (
                Suggestion(i, t, float(len(feats & set(f))))
                for i, t, f in CATALOGUE
                if i not in skip and feats & set(f)
            ),
            key=lambda s: -s.score,
        )
        return ranked[:k]

    def vocabulary(self) -> frozenset[str]:
        self._check()
        return frozenset(t for _, _, f in CATALOGUE for t in f)

    def features_of(self, item_id: str) -> tuple[str, ...]:
        return next((f for i, _, f in CATALOGUE if i == item_id), ())

    def describe(self) -> dict:
        self._check()
        return {"status": "ok", "model_version": "tiny"}
