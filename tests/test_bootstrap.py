"""What scripts/bootstrap.sh leaves in .venv, beyond the packages themselves."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_the_venv_holds_compiled_bytecode_for_what_every_process_imports() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set, a venv without .pyc files makes every process
    compile TensorFlow's and TFX's source again (the bootstrap's --compile-bytecode)."""
    import tensorflow
    import tfx

    for module in (tensorflow, tfx):
        compiled = Path(importlib.util.cache_from_source(module.__file__))
        assert compiled.is_file(), f"{module.__name__}: no bytecode at {compiled}"
