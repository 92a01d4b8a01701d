"""Warm start (models/warm_start.py) through `run_fn` on real Transform output: a warm run
begins where the blessed model ended, a different network trains from scratch and says
why, and embedding rows follow their tokens when a vocabulary changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.export import EXTRA_ASSETS_DIRECTORY
from models.package import training_summary
from models.trainer import run_fn
from models.warm_start import _by_token
from pipeline.settings import PipelineConfig, TrainingSettings
from tests.configs import taxi_config
from tests.trainer_harness import trainer_fn_args

SMALL = dict(hidden_units=(8,), embedding_dim=4, batch_size=50, learning_rate=0.02)


def train(trainer_inputs: dict[str, str], directory: Path, config: PipelineConfig,
          base_model: Path | None = None) -> dict:
    """Runs `run_fn` as TFX's Trainer would, from `base_model` (a serving directory) when
    given; returns the model's training facts (training.json)."""
    fn_args = trainer_fn_args({**trainer_inputs, "model": str(directory / "model"),
                               "model_run": str(directory / "model_run"),
                               "training_settings": TrainingSettings.from_config(config).to_dict()})
    fn_args.base_model = str(base_model) if base_model else None
    run_fn(fn_args)
    return json.loads((directory / "model" / "Format-Serving" / EXTRA_ASSETS_DIRECTORY
                       / "training.json").read_text())


@pytest.fixture(scope="module")
def blessed(trainer_inputs: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, dict]:
    """A model trained 8 epochs from scratch: the one a warm start reads."""
    directory = tmp_path_factory.mktemp("blessed")
    facts = train(trainer_inputs, directory, taxi_config(epochs=8, **SMALL))
    return directory / "model" / "Format-Serving", facts


def test_a_warm_start_begins_where_the_blessed_model_ended(
        trainer_inputs: dict[str, str], blessed: tuple[Path, dict], tmp_path: Path) -> None:
    base, base_facts = blessed
    warm = train(trainer_inputs, tmp_path / "warm",
                 taxi_config(epochs=1, warm_start=True, **SMALL), base_model=base)
    cold = train(trainer_inputs, tmp_path / "cold",
                 taxi_config(epochs=1, warm_start=True, **SMALL))
    assert warm["warm_start"]["base_model"] == str(base)
    assert warm["warm_start"]["weights"] > 10 and warm["warm_start"]["reason"] == ""
    # Its first epoch continues the blessed model's training: its loss is near the
    # blessed model's last, far below a cold start's first.
    first_warm, first_cold = warm["history"]["loss"][0], cold["history"]["loss"][0]
    assert first_warm < 0.8 * first_cold
    assert first_warm < 1.1 * base_facts["history"]["loss"][-1]
    assert cold["warm_start"] == {"base_model": None, "reason": "no blessed model yet",
                                  "weights": 0, "matched_by_token": [],
                                  "summary": "trained from scratch: no blessed model yet"}
    summary = training_summary(str(tmp_path / "warm" / "model"))
    assert summary.endswith(f"warm-started from {base} ({warm['warm_start']['weights']} "
                            "weights)")


def test_another_network_trains_from_scratch_and_says_why(
        trainer_inputs: dict[str, str], blessed: tuple[Path, dict], tmp_path: Path) -> None:
    base, _ = blessed
    wider = train(trainer_inputs, tmp_path / "wider",
                  taxi_config(epochs=1, warm_start=True, **{**SMALL, "hidden_units": (16,)}),
                  base_model=base)
    assert wider["warm_start"]["base_model"] is None
    assert "changed shape from" in wider["warm_start"]["reason"]
    assert "trained from scratch: " in training_summary(str(tmp_path / "wider" / "model"))
    deep = train(trainer_inputs, tmp_path / "deep",
                 taxi_config(epochs=1, warm_start=True, architecture="deep", **SMALL),
                 base_model=base)
    assert "'wide_and_deep' network, this run trains 'deep'" in deep["warm_start"]["reason"]


def test_embedding_rows_follow_their_tokens() -> None:
    """Old vocabulary a, b, c; new c, a, d, e (d and e unseen before); one hash bucket
    after the tokens, and for a text feature a padding row before them."""
    old = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)  # pad a b c oov
    fresh = -np.ones((6, 2), np.float32)  # pad c a d e oov
    table = _by_token(old, fresh, [b"a", b"b", b"c"], [b"c", b"a", b"d", b"e"], 1)
    np.testing.assert_array_equal(table[:, 0], [0, 3, 1, -1, -1, 4])
    categorical = _by_token(old[1:], fresh[1:], [b"a", b"b", b"c"],
                            [b"c", b"a", b"d", b"e"], 1)
    np.testing.assert_array_equal(categorical[:, 0], [3, 1, -1, -1, 4])
