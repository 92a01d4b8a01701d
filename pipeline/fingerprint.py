"""Code fingerprints: a hash of every file of this repository a module loads.

TFX caches a component on its inputs and properties, not on the code it runs by module
path, so each component that runs our code carries a fingerprint of that code as a
property. The files are found, not listed: starting from the component's entry module,
every import of a repository module is followed, transitively, including imports inside
functions and modules named by string (the architecture registry loads its networks
that way), or by a pattern of them ("tasks.*.graph": each task's part, found by its
folder). Editing a file re-runs exactly the components whose code imports it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from pathlib import Path

from pipeline.settings import REPOSITORY_ROOT

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|\*))*$")


def matching_modules(pattern: str, root: Path) -> list[str]:
    """The repository modules a pattern names, `*` standing for one folder's name
    ("tasks.*.model": every task's model part, as tasks/__init__.py finds them)."""
    parts = pattern.split(".")
    files = sorted(root.glob("/".join(parts) + ".py"))
    return [".".join(file.relative_to(root).with_suffix("").parts) for file in files
            if not file.stem.startswith("_")]


def module_file(name: str, root: Path) -> Path | None:
    """The file of repository module `name` under `root`; None for any other module."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_inits(name: str, root: Path) -> list[Path]:
    """The __init__.py files that importing `name` runs first (its parent packages)."""
    parts = name.split(".")
    files = [module_file(".".join(parts[:end]), root) for end in range(1, len(parts))]
    return [file for file in files if file is not None]


def _imported_names(source: Path, name: str) -> frozenset[str]:
    """Every module name `source` (module `name`) may import, found in its syntax tree."""
    return _names_imported_by(source.read_text(), name, source.name == "__init__.py")


# Keyed by the text itself: a pipeline build fingerprints several entries that share most
# files (config.py, ...), and an edited file is parsed afresh.
@functools.lru_cache(maxsize=512)
def _names_imported_by(text: str, name: str, is_package: bool) -> frozenset[str]:
    package = name if is_package else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            names.add(base)
            # `from package import module` imports a module, not a name in the package.
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and _MODULE_NAME.match(node.value)):
            names.add(node.value)
    return frozenset(names)


def repository_files(*modules: str, root: Path | None = None) -> list[Path]:
    """The repository files that importing `modules` loads, transitively, sorted."""
    root = REPOSITORY_ROOT if root is None else root
    seen: dict[Path, str] = {}
    pending = list(modules)
    while pending:
        name = pending.pop()
        if "*" in name:
            pending.extend(matching_modules(name, root))
            continue
        file = module_file(name, root)
        if file is None or file in seen:
            continue
        seen[file] = name
        pending.extend(_imported_names(file, name))
        for init in _package_inits(name, root):
            if init not in seen:
                pending.append(".".join(init.relative_to(root).parent.parts))
    return sorted(seen)


def code_fingerprint(*modules: str, root: Path | None = None) -> str:
    """SHA-256 over the paths and contents of `repository_files(*modules)`."""
    root = REPOSITORY_ROOT if root is None else root
    digest = hashlib.sha256()
    for file in repository_files(*modules, root=root):
        digest.update(str(file.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()
