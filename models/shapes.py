"""What a network needs to size itself: `FeatureShapes`, read from Transform's output by
`preprocessing.feature_shapes`. No TensorFlow here, so that the architectures in models/
build under any Keras 3 backend (benchmarks/gpu_model_step.py builds them under JAX on
a machine without TensorFlow).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tasks import task_named

# Token id 0 pads a text to its fixed length; vocabulary ids start at 1.
PADDING_TOKEN_ID = 0
PIECEWISE_LINEAR = "piecewise_linear"  # a `numeric_encoding` (preprocessing.py)


def numeric_width(encoding: str, bins: int) -> int:
    """Values per numeric feature Transform writes: 1 z-score, or a piecewise-linear
    encoding's bins - 2 inner bins, the z-score and a missing flag."""
    return bins if encoding == PIECEWISE_LINEAR else 1


@dataclasses.dataclass(frozen=True)
class FeatureShapes:
    """What the models need to size themselves, read from Transform's output."""

    numeric: tuple[str, ...]
    categorical_cardinalities: dict[str, int]  # id range per categorical/bucketized feature
    # Values per numeric feature (`numeric_width`): 1, a z-score; more, a vector each.
    numeric_width: int = 1
    # Per text feature: (token id range, padding included; tokens per example).
    text: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    task: str = "binary"
    class_names: tuple[str, ...] = ()  # a task with classes: the class of each output
    # regression: the train split's label mean and standard deviation (models/feeder.py's
    # `label_statistics`), which scale the model's output to the label's units.
    label_mean: float = 0.0
    label_std: float = 1.0

    @property
    def outputs(self) -> int:
        """Units of the model's last layer, as the task says (one per class, or one)."""
        return task_named(self.task).output_units(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for logs and the model's assets."""
        return {"numeric": list(self.numeric), "numeric_width": self.numeric_width,
                "categorical_cardinalities": dict(self.categorical_cardinalities),
                "text": {name: {"vocabulary": size, "length": length}
                         for name, (size, length) in self.text.items()},
                "task": self.task, "class_names": list(self.class_names),
                "label_mean": self.label_mean, "label_std": self.label_std}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FeatureShapes:
        """The inverse of `to_dict`."""
        return cls(numeric=tuple(values["numeric"]),
                   numeric_width=values.get("numeric_width", 1),
                   categorical_cardinalities=dict(values["categorical_cardinalities"]),
                   text={name: (text["vocabulary"], text["length"])
                         for name, text in values.get("text", {}).items()},
                   task=values.get("task", "binary"),
                   class_names=tuple(values.get("class_names", ())),
                   label_mean=values.get("label_mean", 0.0),
                   label_std=values.get("label_std", 1.0))
