"""The serving sandbox's comparison of served answers with in-process ones."""

from __future__ import annotations

from pipeline.serving.sandbox import _differs, _magnitude


def test_answers_are_equal_to_float32_rounding_at_the_answers_own_scale() -> None:
    """A price model's answers reach thousands; one near 0 went through the same float32
    scaling (value * spread + mean), so its rounding is of the thousands' size: the
    diamonds table's first run was held back by -18.4917 against -18.4922."""
    prices = [[-18.4921875], [3912.5], [18450.0]]
    scale = _magnitude(prices)
    assert scale == 18450.0
    assert not _differs([-18.49169921875], [-18.4921875], scale)
    assert _differs([-18.49169921875], [-18.4921875])  # without the scale: a difference
    assert _differs([-17.9], [-18.4921875], scale)  # a real difference still is one
    # Probabilities keep the tight tolerance; names and shapes must match exactly.
    assert _differs({"probability": [0.5001]}, {"probability": [0.5]}, _magnitude([[0.5]]))
    assert _differs({"classes": ["a"]}, {"classes": ["b"]}, 1.0)
    assert _differs([[1.0, 2.0]], [[1.0]], 1.0)
