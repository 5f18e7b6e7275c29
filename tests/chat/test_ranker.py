"""The answer ranker alone (pure: no database, no model)."""

from ecom_ai.chat.ranker import Candidate, intent_score, merge, rank


def article(root, score, label=None):
    return Candidate("article", f"article:{root}", score, label=label or f"Article {root}")


def intent(name, score, confident=False):
    return Candidate("intent", f"intent:{name}", score, label=name, confident=confident)


def test_intent_probabilities_land_on_the_article_scale():
    assert intent_score(0.4, threshold=0.4, floor=0.45) == 0.45
    assert abs(intent_score(1.0, threshold=0.4, floor=0.45, top=1.0) - 1.0) < 1e-9
    assert intent_score(0.2, threshold=0.4, floor=0.45) < 0.45  # out of scope never answers on its own


def test_an_article_that_matches_better_wins_over_a_weak_intent():
    ranking = rank([intent("order_status", 0.55), article(1, 0.8)], floor=0.45, margin=0.04)
    assert ranking.best.key == "article:1" and not ranking.ask


def test_nothing_above_the_floor_is_a_miss():
    ranking = rank([intent("greeting", 0.3), article(1, 0.44)], floor=0.45, margin=0.04)
    assert ranking.best is None


def test_close_answers_ask_which_one():
    ranking = rank([article(1, 0.70), article(2, 0.68), article(3, 0.50)], floor=0.45, margin=0.04)
    assert ranking.ask and [c.key for c in ranking.alternatives] == ["article:2"]


def test_a_confident_handler_is_not_second_guessed_by_a_close_article():
    ranking = rank([intent("order_status", 0.80, confident=True), article(1, 0.78)], floor=0.45, margin=0.04)
    assert ranking.best.key == "intent:order_status" and not ranking.ask


def test_one_answer_proposed_twice_counts_once_with_its_best_score():
    merged = merge([article(1, 0.5), article(1, 0.9), article(2, 0.7)])
    assert [(c.key, c.score) for c in merged] == [("article:1", 0.9), ("article:2", 0.7)]
    assert not rank([article(1, 0.5), article(1, 0.52)], floor=0.45, margin=0.04).ask


def test_the_calibration_puts_every_encoder_on_one_scale():
    from ecom_ai.chat.retrieval import KnowledgeCalibration

    ngrams, sentences = KnowledgeCalibration(floor=0.2, high=0.4), KnowledgeCalibration(floor=0.45, high=0.75)
    # halfway between off-topic talk and a clear match, whatever the encoder's raw similarities
    assert abs(ngrams.normalise(0.3) - 0.5) < 1e-9 and abs(sentences.normalise(0.6) - 0.5) < 1e-9
    assert abs(KnowledgeCalibration(floor=0.5, high=0.5).normalise(0.55) - 1.0) < 1e-9  # a degenerate span is bounded


def test_calibration_falls_back_to_defaults_with_one_article():
    import numpy as np

    from ecom_ai.chat.retrieval import KnowledgeCalibration, _calibrate

    assert _calibrate(np.eye(2, dtype=np.float32), [1, 1], encoder=None) == KnowledgeCalibration()


def test_the_off_topic_null_is_encoded_once_per_encoder_not_at_every_rebuild():
    import numpy as np

    from ecom_ai.chat.encoders import BuiltinChatEncoder
    from ecom_ai.chat.retrieval import _calibrate

    class Counting(BuiltinChatEncoder):
        calls = 0

        def encode(self, texts):
            Counting.calls += 1
            return super().encode(texts)

        def spec(self):
            return {**super().spec(), "test": "counting"}

    encoder = Counting()
    vectors = encoder.encode(["Where is my order", "How do I return an item"])
    Counting.calls = 0
    first = _calibrate(vectors, [1, 2], encoder)
    again = _calibrate(vectors, [1, 2], Counting())  # a rebuild, or another process object of the same encoder
    assert first.fitted and first == again
    assert Counting.calls == 1
    assert np.isfinite([first.floor, first.high]).all()
