"""One answer ranker over every source the chat can answer from.

Each source proposes *candidates* on one scale (the cosine-similarity scale of the
knowledge base): knowledge-base articles by their similarity to the message plus
``INTENT_BONUS`` × the classifier's probability when its top intent is the one the article
answers (the intent its own questions are classified as), intent handlers (order
status, catalog search, hand-off, small talk, a knowledge intent's best article) by their
classifier probability mapped onto that scale — the threshold probability lands on the
article floor, certainty on 1.0. The best candidate answers; two candidates for different
answers within ``margin`` of each other make the bot ask which one was meant (buttons);
nothing above the floor is a miss (the off-topic answer). A *confident* handler (probability
≥ ``CHAT_HANDLER_MIN_CONFIDENCE``) is not second-guessed by a close article; an article
that matches better still wins. Handlers that an entity triggers (an order number, a
product) are decided before ranking, by the service.

Pure Python, no database: ``rank()`` takes candidates and returns a ``Ranking``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The scale: the knowledge base's calibration (``retrieval.KnowledgeCalibration``), fitted on the
# articles for the encoder in use — 0 is where off-topic talk stops (FLOOR), 1 is what an article's
# own question variants score. Every constant below is on that scale, so one value fits any encoder.
FLOOR = 0.0
# where a certain handler intent (probability 1) lands: above a clear article match, so a sure
# handler (order status, catalog, hand-off) is not beaten by an article that merely shares words
INTENT_TOP = 1.5
# where a certain *knowledge* intent's own article lands: on a clear article match (it competes
# with the articles retrieval found, on their terms)
KNOWLEDGE_INTENT_TOP = 1.0
# a clear article match (what an article's own questions score)
CLEAR_MATCH = 1.0
# how much the classifier's probability for an intent adds to the article(s) answering that intent
INTENT_BONUS = 0.5


@dataclass
class Candidate:
    kind: str  # "article" or "intent"
    key: str  # what the answer is: "article:<root id>", "intent:<name>"; candidates with one key are one answer
    score: float
    label: str = ""  # the clarifying button's text
    confident: bool = False  # a handler at CHAT_HANDLER_MIN_CONFIDENCE or above
    payload: object = None  # the ArticleMatch / Intent
    extra: dict = field(default_factory=dict)


@dataclass
class Ranking:
    best: Candidate | None  # None: nothing above the floor (a miss)
    alternatives: list[Candidate] = field(default_factory=list)  # close runners-up: ask which one
    ranked: list[Candidate] = field(default_factory=list)

    @property
    def ask(self) -> bool:
        return self.best is not None and bool(self.alternatives)


def intent_score(
    probability: float, *, threshold: float, floor: float | None = None, top: float | None = None
) -> float:
    """A classifier probability on the ranker's scale: ``threshold`` → ``floor``, 1 → ``top``
    (``INTENT_TOP`` by default); below the threshold always under the floor."""
    floor = FLOOR if floor is None else floor
    top = INTENT_TOP if top is None else top
    if probability < threshold:
        return floor - (threshold - probability) / max(threshold, 1e-9)  # never answers on its own
    span = max(1e-9, 1.0 - threshold)
    return floor + (probability - threshold) / span * (top - floor)


def merge(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per key (the best-scoring one; confident if any was), best first."""
    by_key: dict[str, Candidate] = {}
    for cand in candidates:
        kept = by_key.get(cand.key)
        if kept is None or cand.score > kept.score:
            if kept is not None:
                cand.confident = cand.confident or kept.confident
                cand.label = cand.label or kept.label
            by_key[cand.key] = cand
        elif cand.confident:
            kept.confident = True
    return sorted(by_key.values(), key=lambda c: (-c.score, c.kind != "intent", c.key))


def rank(candidates: list[Candidate], *, floor: float, margin: float, max_alternatives: int = 2) -> Ranking:
    """The answer to give: the best candidate above ``floor``, with close alternatives to offer."""
    ranked = merge(candidates)
    if not ranked or ranked[0].score < floor:
        return Ranking(best=None, ranked=ranked)
    best = ranked[0]
    if margin <= 0:
        return Ranking(best=best, ranked=ranked)
    close = [c for c in ranked[1:] if c.score >= floor and best.score - c.score < margin and c.label]
    if best.kind == "intent" and best.confident:
        close = []  # a confident handler is not second-guessed by a close article
    elif close and any(c.kind == "intent" and c.confident for c in close):
        close = [c for c in close if c.kind == "intent" and c.confident]
    if not best.label:
        close = []
    return Ranking(best=best, alternatives=close[:max_alternatives], ranked=ranked)
