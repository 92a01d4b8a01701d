"""Configuration: every setting declared once (`declarations`), the machinery that types
values and cuts each step's view (`views`), the errors and value parsing everything stands
on (`values`), and what is derived from settings with other modules' help: the layered
loading and its checks (`loading`), the label and its rule (`label`), the BigQuery query
(`bigquery`) and the search space (`search_space`).

`from pipeline.settings import X` reaches the declarations and the views, loaded on first
use (PEP 562): the tasks' specs import `pipeline.settings.values`, and the declarations
import the tasks, so this package itself must import neither. The other modules are
imported by their own names.
"""

from __future__ import annotations

import importlib
from typing import Any

# Where `from pipeline.settings import X` looks for X, in order.
_MODULES = ("pipeline.settings.declarations", "pipeline.settings.views")


def __getattr__(name: str) -> Any:
    for module in _MODULES:
        loaded = importlib.import_module(module)
        if hasattr(loaded, name) and not name.startswith("_"):
            return getattr(loaded, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
