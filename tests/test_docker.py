"""The container images, checked as far as a machine without a Docker engine can: each
installs exactly its lock file, carries the code TFX loads by module path, and makes the
same Keras choice as the local entry points."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

from pipeline.definition import CODE_ENTRIES, entry_module
from pipeline.fingerprint import repository_files
from pipeline.orchestration.vertex import CPU_DOCKERFILE, GPU_DOCKERFILE, image_sources
from pipeline.settings import REPOSITORY_ROOT

LOCKS = {CPU_DOCKERFILE: "requirements.lock", GPU_DOCKERFILE: "requirements-gpu.lock"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPOSITORY_ROOT / dockerfile).read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def pins(lock: str) -> dict[str, str]:
    lines = (REPOSITORY_ROOT / lock).read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if re.match(r"^[A-Za-z0-9]", line))


def copied_paths(dockerfile: str) -> set[str]:
    paths: set[str] = set()
    for keyword, arguments in instructions(dockerfile):
        if keyword == "COPY":
            paths.update(part.rstrip("/") for part in arguments.split()[:-1])
    return paths


@pytest.mark.parametrize("dockerfile", sorted(LOCKS))
def test_image_installs_exactly_its_lock_file(dockerfile: str) -> None:
    lock = LOCKS[dockerfile]
    steps = instructions(dockerfile)
    copy_lock = steps.index(("COPY", f"{lock} ./"))
    install = steps.index(("RUN", f"pip install --no-deps -r {lock}"))
    assert copy_lock < install
    # Nothing else resolves packages: every other pip call installs the project alone.
    other_pip = [args for keyword, args in steps
                 if keyword == "RUN" and "pip install" in args and lock not in args]
    assert other_pip == ["pip install --no-deps -e ."]


def environment_of(dockerfile: str) -> dict[str, str]:
    """The variables the image's ENV instructions set, in both of ENV's forms
    (`ENV KEY=value KEY2=value2` and the legacy `ENV KEY value`), a later one winning."""
    environment: dict[str, str] = {}
    for keyword, arguments in instructions(dockerfile):
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        if words and "=" not in words[0]:
            environment[words[0]] = " ".join(words[1:])
        else:
            environment.update(word.split("=", 1) for word in words)
    return environment


@pytest.mark.parametrize("dockerfile", sorted(LOCKS))
def test_image_uses_python_310_and_the_projects_keras_choice(dockerfile: str) -> None:
    steps = instructions(dockerfile)
    [base] = [args for keyword, args in steps if keyword == "FROM"]
    assert "python3.10" in base or "python:3.10" in base
    # The image's own setting, read from its ENV instructions: in the container it is set
    # before any process starts, whichever module imports TensorFlow first.
    assert environment_of(dockerfile).get("TF_USE_LEGACY_KERAS") == "1"


@pytest.mark.parametrize("module", sorted({entry_module(entry) for entry in CODE_ENTRIES}))
def test_modules_components_load_import_the_keras_choice_first(module: str) -> None:
    # On Vertex AI each of these is the first of our modules a component's process loads,
    # so the Keras choice must come before any import that could load TensorFlow.
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    tree = ast.parse(Path(spec.origin).read_text())
    imported = []
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            imported += [alias.name for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
            # `from pipeline import keras_choice` imports pipeline.keras_choice too.
            imported += [f"{statement.module}.{alias.name}" if statement.module == "pipeline"
                         else statement.module or "" for alias in statement.names]
    third_party_or_ours = [name for name in imported
                           if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}]
    assert third_party_or_ours[:1] == ["pipeline.keras_choice"], (module, imported)


def test_cpu_image_is_the_beam_sdk_image_of_the_locked_beam() -> None:
    # Dataflow workers boot from this image, so its Beam must be the one the lock pins.
    [base] = [args for keyword, args in instructions(CPU_DOCKERFILE) if keyword == "FROM"]
    assert base == f"apache/beam_python3.10_sdk:{pins('requirements.lock')['apache-beam']}"


@pytest.mark.parametrize("dockerfile", sorted(LOCKS))
def test_image_carries_the_code_components_load_by_module_path(dockerfile: str) -> None:
    copied = copied_paths(dockerfile)
    code = repository_files(*(entry_module(entry) for entry in CODE_ENTRIES))
    needed = {file.relative_to(REPOSITORY_ROOT).parts[0] for file in code}
    assert {"pipeline", "models", "evaluation", "preprocessing.py"} <= needed
    needed |= {"schemas", "variants.yaml", "pyproject.toml"}
    assert needed <= copied, needed - copied
    for path in copied - {LOCKS[dockerfile]}:
        assert (REPOSITORY_ROOT / path).exists(), path
    # The tag is computed from what the Dockerfiles copy, the other lock included.
    assert copied | {dockerfile} <= set(image_sources())


def test_gpu_lock_is_the_cpu_lock_plus_cuda_wheels() -> None:
    cpu, gpu = pins("requirements.lock"), pins("requirements-gpu.lock")
    assert {name: cpu[name] for name in gpu.keys() & cpu.keys()} == \
        {name: gpu[name] for name in gpu.keys() & cpu.keys()}
    assert {name for name in gpu.keys() - cpu.keys() if not name.startswith("nvidia-")} == set()
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= gpu.keys()
    assert cpu.keys() - gpu.keys() <= dev_only_packages()
    assert {"pytest", "ruff", "palmerpenguins"} <= dev_only_packages()


def dev_only_packages() -> set[str]:
    """The packages of requirements.lock that only the dev extra brings in: its entries in
    pyproject.toml, and those whose every "# via" line in the lock is a dev-only package."""
    pyproject = (REPOSITORY_ROOT / "pyproject.toml").read_text()
    block = pyproject.split("\ndev = [", 1)[1].split("\n]", 1)[0]
    dev = {re.split(r"[=<>\[]", line.strip().strip('",'))[0].lower()
           for line in block.splitlines() if line.strip().startswith('"')}
    needed_by: dict[str, set[str]] = {}
    name = ""
    for line in (REPOSITORY_ROOT / "requirements.lock").read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            name = line.split("==", 1)[0].lower()
            needed_by[name] = set()
        elif name and re.match(r"^\s+#\s+(via\s+)?[A-Za-z0-9]", line):
            needed_by[name].add(re.sub(r"^\s+#\s+(via\s+)?", "", line).split()[0].lower())
    grown = True
    while grown:
        more = {package for package, parents in needed_by.items()
                if package not in dev and parents and parents <= dev}
        grown = bool(more)
        dev |= more
    return dev


def test_build_context_leaves_out_local_state() -> None:
    ignored = (REPOSITORY_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "output"} <= set(ignored)


def test_image_tag_follows_dockerfiles_and_schemas_not_only_python(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    from pipeline.orchestration import vertex

    for source in image_sources():
        path = REPOSITORY_ROOT / source
        if path.is_dir():
            shutil.copytree(path, tmp_path / source,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, tmp_path / source)
    monkeypatch.setattr(vertex, "REPOSITORY_ROOT", tmp_path)
    before = vertex.image_tag()
    assert before == vertex.image_tag()
    with open(tmp_path / CPU_DOCKERFILE, "a") as handle:
        handle.write("# a comment changes the image\n")
    after_dockerfile = vertex.image_tag()
    with open(tmp_path / "schemas" / "taxi_trips.pbtxt", "a") as handle:
        handle.write("# so does a schema edit\n")
    assert len({before, after_dockerfile, vertex.image_tag()}) == 3
