"""From an understood request to the items a turn recommends, and honest notes about them.

- ``recommend``: the features asked for, all of them at once when there are several (AND);
  when too few items carry them all, the rest are items carrying any of them (OR), and when
  even that runs out, wider picks; each step is said in a note.
- ``something_else``: the same, excluding every item shown in the session and keeping the
  previous filter ("no more film-noir I haven't shown you, so here is something wider").
- ``more_like``: items similar to the anchor itself (the engine's item-to-item similarity),
  never anything shown in the session, the user's own history or their recent events. A
  position past the list gets no items and a note, never a silent substitute.

Every word that was not understood, and every genre the catalogue lacks, is a note too. The
notes are in the user's language (``vocabulary/*.json``); the reply says them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recoengine.chat.intents import Intent, Understanding
from recoengine.chat.lexicon import CatalogMatcher, lexicon_for, matcher_for
from recoengine.chat.recommender import Recommender, Suggestion
from recoengine.sessions.model import RecommendedItem, SessionState

log = logging.getLogger(__name__)
FETCH_FACTOR = 4  # candidates asked for when the chat filters the engine's answer itself


@dataclass(frozen=True)
class Picks:
    items: tuple[Suggestion, ...]
    anchor: str = ""
    notes: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None  # the filter used (None: keep the previous one)
    match_all: bool = True


class _Say:
    """Notes in the user's language, naming genres as that language does."""

    def __init__(self, language: str, matcher: CatalogMatcher) -> None:
        self.language = language
        self.lexicon = lexicon_for(language)
        self.matcher = matcher

    def __call__(self, key: str, **values: object) -> str:
        return self.lexicon.note(key, **values)

    def genres(self, tokens: Iterable[str], how: str = "and") -> str:
        names = [self.matcher.display(t, self.language) for t in tokens]
        joiner = str(self.lexicon.notes.get(f"{how}_join", how))
        if self.language == "en":
            return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {joiner} {names[-1]}"
        return joiner.join(names)

    def concepts(self, concepts: Iterable[str]) -> str:
        return self.genres_named([self.matcher.concept_name(c, self.language) for c in concepts])

    def genres_named(self, names: Sequence[str]) -> str:
        return ", ".join(names) if self.language == "en" else "·".join(names)

    def words(self, words: Sequence[str]) -> str:
        return ", ".join(f'"{w}"' for w in words)

    def ordinal(self, index: int) -> str:
        names = self.lexicon.notes.get("ordinal_names", {})
        key = "-1" if index < 0 else str(index + 1)
        return str(names.get(key) or f"#{key}")


@dataclass(frozen=True)
class _Turn:
    """One request being answered: who asks, what was understood, the session it refines, and
    the notes gathered so far (in the user's language, through ``say``)."""

    user_id: str
    what: Understanding
    state: SessionState
    recent_items: Sequence[str]
    say: _Say
    notes: list[str]


def _has(features: Sequence[str], wanted: Sequence[str], match_all: bool) -> bool:
    have = {f.lower() for f in features}
    hits = [w.lower() in have for w in wanted]
    return all(hits) if match_all else any(hits)


class Picker:
    def __init__(self, recommender: Recommender, k: int) -> None:
        self.recommender = recommender
        self.k = k

    def _features(self, item_id: str) -> tuple[str, ...]:
        return self.recommender.features_of(item_id)

    def _without(self, items: list[Suggestion], excluded: Sequence[str]) -> list[Suggestion]:
        if not excluded:
            return items
        return [s for s in items if not _has(self._features(s.item_id), excluded, False)]

    def pick(
        self,
        user_id: str,
        what: Understanding,
        state: SessionState,
        recent_items: Sequence[str],
        vocabulary: Iterable[str],
    ) -> Picks:
        say = _Say(what.language, matcher_for(vocabulary))
        notes: list[str] = []
        more_like = what.intent is Intent.MORE_LIKE and bool(state.last_items)
        # In "more like X" without a position or a shown title, the unknown words are X.
        unknown_title = more_like and what.ordinal is None and what.anchor_title is None
        if what.unknown and not unknown_title:
            it = say.lexicon.notes.get("unknown_words_it", ["it", "them"])
            pronoun = it[0] if len(what.unknown) == 1 else it[-1]
            notes.append(say("unknown_words", words=say.words(what.unknown), it=pronoun))
        if what.missing:
            notes.append(say("concept_missing", genres=say.concepts(what.missing)))
        if what.dangling:
            notes.append(say("nothing_to_refer"))
        turn = _Turn(user_id, what, state, recent_items, say, notes)
        return self._more_like(turn) if more_like else self._recommend(turn)

    # -- more like ----------------------------------------------------------------------
    def _more_like(self, turn: _Turn) -> Picks:
        what, state, say, notes = turn.what, turn.state, turn.say, turn.notes
        items = state.last_items
        anchor: RecommendedItem | None = None
        if what.anchor_title:
            anchor = next((i for i in items if i.title == what.anchor_title), None)
        if anchor is None and what.ordinal is not None:
            if not -len(items) <= what.ordinal < len(items):
                notes.append(
                    say("ordinal_out_of_range", nth=say.ordinal(what.ordinal), count=len(items))
                )
                return Picks((), notes=tuple(notes))
            anchor = items[what.ordinal]
        if anchor is None:
            anchor = items[0]
            if what.unknown:  # "more like the godfather", which was not shown
                words = say.words([" ".join(what.unknown)])
                notes.append(say("title_not_shown", words=words, title=anchor.title))
            else:
                notes.append(say("anchor_default", title=anchor.title))
        exclude = list(dict.fromkeys([*state.shown_items, *turn.recent_items, anchor.item_id]))
        similar = self.recommender.similar(
            anchor.item_id, self.k * FETCH_FACTOR, exclude=exclude, user_id=turn.user_id
        )
        similar = [s for s in similar if s.item_id not in exclude]  # whatever the adapter does
        similar = self._without(similar, what.excluded)
        # "More like X" is first of all the same kind of thing: among the engine's nearest
        # items, those sharing a feature with X come first (each group in the engine's order).
        kind = {f.lower() for f in self._features(anchor.item_id)}
        if kind:
            similar.sort(key=lambda s: not kind & {f.lower() for f in self._features(s.item_id)})
        chosen = similar
        if what.features:
            chosen = [
                s for s in similar if _has(self._features(s.item_id), what.features, what.match_all)
            ]
            if not chosen and similar:
                notes.append(
                    say(
                        "similar_filtered_empty",
                        title=anchor.title,
                        genres=say.genres(what.features, "and" if what.match_all else "or"),
                    )
                )
                chosen = similar
        chosen = chosen[: self.k]
        if not chosen:
            notes.append(say("similar_exhausted", title=anchor.title))
        return Picks(tuple(chosen), anchor=anchor.title, notes=tuple(notes))

    # -- recommend / something else -----------------------------------------------------
    def _recommend(self, turn: _Turn) -> Picks:
        what, state, say, notes = turn.what, turn.state, turn.say, turn.notes
        k = self.k
        features = list(what.features)
        match_all = what.match_all
        exclude: list[str] = []
        refining = what.intent is Intent.SOMETHING_ELSE
        if refining:
            exclude = list(state.shown_items)
            if not features:  # "a comedy", then "something else": more comedies
                unwanted = {t.lower() for t in what.excluded}  # "not comedy, something else"
                features = [f for f in state.last_features if f.lower() not in unwanted]
                match_all = state.last_match != "any"
        fetch = k * FETCH_FACTOR if what.excluded else k

        def get(feats: Sequence[str], all_: bool, skip: Sequence[str]) -> list[Suggestion]:
            found = self.recommender.recommend(
                turn.user_id,
                fetch,
                features=feats,
                match_all=all_,
                exclude=skip,
                recent_items=turn.recent_items,
            )
            return self._without(found, what.excluded)

        chosen = get(features, match_all and len(features) > 1, exclude)[:k]
        if features and len(chosen) < k and match_all and len(features) > 1:
            both, either = say.genres(features, "and"), say.genres(features, "or")
            if chosen:
                is_are = "is" if len(chosen) == 1 else "are"
                notes.append(
                    say("and_partial", count=len(chosen), all=both, any=either, is_are=is_are)
                )
            else:
                notes.append(say("and_to_or", all=both, any=either))
            more = get(features, False, [*exclude, *(s.item_id for s in chosen)])
            chosen += more[: k - len(chosen)]
        if features and len(chosen) < k:
            how = "and" if match_all and len(features) > 1 and not chosen else "or"
            named = say.genres(features, how if len(features) > 1 else "and")
            if refining and exclude:
                key = "filter_partial" if chosen else "filter_exhausted"
            else:
                key = "filter_few" if chosen else "filter_empty"
            titles_are = "title is" if len(chosen) == 1 else "titles are"
            notes.append(say(key, genres=named, count=len(chosen), titles_are=titles_are))
            wider = get((), False, [*exclude, *(s.item_id for s in chosen)])
            chosen += wider[: k - len(chosen)]
        if what.excluded:
            if chosen:
                notes.append(say("excluded", genres=say.genres(what.excluded, "or")))
            else:
                notes.append(say("excluded_exhausted", genres=say.genres(what.excluded, "or")))
        return Picks(
            tuple(chosen), notes=tuple(notes), features=tuple(features), match_all=match_all
        )


def engine_down_note(language: str) -> str:
    return lexicon_for(language).note("engine_down")
