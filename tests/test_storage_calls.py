"""On Vertex AI every artifact URI is gs://: the code that runs inside the pipeline's steps
reads and writes only through TFX's fileio or tf.io.gfile. This static check fails on a
local-only file call (`open`, `os`'s file calls, `glob`, `shutil`, `pathlib` I/O) anywhere
in those directories, outside functions and classes marked `@local_files`
(pipeline/storage.py), the documented local-copy helpers."""

from __future__ import annotations

import ast
import textwrap

from pipeline.settings import REPOSITORY_ROOT
from pipeline.storage import local_files

# The code that runs inside a pipeline step, on artifact URIs.
STEP_CODE = ("pipeline/components", "pipeline/serving", "models", "evaluation")
OS_FILE_CALLS = {"chmod", "link", "listdir", "makedirs", "mkdir", "open", "remove",
                 "removedirs", "rename", "replace", "rmdir", "scandir", "stat", "symlink",
                 "truncate", "unlink", "walk"}
OS_PATH_CALLS = {"abspath", "exists", "getmtime", "getsize", "isdir", "isfile", "islink",
                 "lexists", "realpath", "samefile"}
PATHLIB_IO = {"iterdir", "mkdir", "read_bytes", "read_text", "rglob", "touch", "unlink",
              "write_bytes", "write_text"}
STORAGE_AGNOSTIC = {"fileio", "tf.io.gfile", "gfile"}  # receivers that are not local-only
MARKER = local_files.__name__


def _marked(node: ast.AST) -> bool:
    return any((decorator.id if isinstance(decorator, ast.Name) else
                getattr(decorator, "attr", "")) == MARKER
               for decorator in getattr(node, "decorator_list", []))


def local_only_calls(source: str, filename: str) -> list[str]:
    """Each local-only file call outside a `@local_files` function or class, as
    'file:line: call'."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if _marked(node):
            return
        if isinstance(node, ast.Call):
            function = node.func
            call = ast.unparse(function)
            receiver = ast.unparse(function.value) if isinstance(function, ast.Attribute) \
                else ""
            attribute = function.attr if isinstance(function, ast.Attribute) else ""
            if (isinstance(function, ast.Name) and function.id in ("open", "Path")
                    or receiver == "os" and attribute in OS_FILE_CALLS
                    or receiver == "os.path" and attribute in OS_PATH_CALLS
                    or receiver in ("glob", "pathlib")
                    or receiver == "shutil" and attribute != "which"
                    or attribute in PATHLIB_IO and receiver not in STORAGE_AGNOSTIC):
                found.append(f"{filename}:{node.lineno}: {call}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def test_step_code_touches_storage_only_through_fileio() -> None:
    files = sorted(path for directory in STEP_CODE
                   for path in (REPOSITORY_ROOT / directory).rglob("*.py"))
    assert len(files) > 30  # the directories are there and read
    calls = [call for path in files
             for call in local_only_calls(path.read_text(),
                                          str(path.relative_to(REPOSITORY_ROOT)))]
    assert calls == [], ("local-only file calls on what may be a gs:// artifact URI; use "
                         "tfx.dsl.io.fileio, or mark a local-copy helper @local_files:\n"
                         + "\n".join(calls))


BAD_COMPONENT = textwrap.dedent('''
    import os
    from tfx.dsl.component.experimental.annotations import OutputArtifact
    from tfx.dsl.component.experimental.decorators import component
    from tfx.types.standard_artifacts import InfraBlessing

    @component
    def Marker(blessing: OutputArtifact[InfraBlessing]) -> None:
        with open(os.path.join(blessing.uri, "BLESSED"), "w"):
            pass
''')


def test_the_check_fails_on_a_component_that_opens_an_artifact_uri() -> None:
    assert local_only_calls(BAD_COMPONENT, "marker.py") == [
        'marker.py:9: open']
    for fault, calls in (("os.makedirs(blessing.uri)", ["os.makedirs"]),
                         ("glob.glob(blessing.uri + '/*')", ["glob.glob"]),
                         ("shutil.copytree(blessing.uri, 'x')", ["shutil.copytree"]),
                         ("Path(blessing.uri).write_text('')",
                          ["Path(blessing.uri).write_text", "Path"]),
                         ("os.path.abspath(blessing.uri)", ["os.path.abspath"])):
        source = BAD_COMPONENT.replace('with open(os.path.join(blessing.uri, "BLESSED"), '
                                       '"w"):\n        pass', fault)
        assert [call.rsplit(": ", 1)[1] for call in local_only_calls(source, "m.py")] \
            == calls, fault
    # The same calls in a documented local-copy helper pass, and storage-agnostic ones do.
    helper = BAD_COMPONENT.replace("@component", "@local_files")
    assert local_only_calls(helper, "marker.py") == []
    agnostic = BAD_COMPONENT.replace('with open(', 'with fileio.open(')
    assert local_only_calls(agnostic, "marker.py") == []

