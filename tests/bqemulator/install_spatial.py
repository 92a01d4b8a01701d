"""Registers the spatial extension from its wheel with DuckDB, for bqemulator to load offline.

bqemulator runs `INSTALL spatial; LOAD spatial` at start. With the extension already
registered under `$HOME/.duckdb/extensions`, that INSTALL finds it there instead of
downloading it. Run by scripts/bootstrap.sh with the emulator's Python and the HOME the
test fixture later starts the server with.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import duckdb_extension_spatial


def main() -> None:
    bundled = (Path(duckdb_extension_spatial.__file__).parent / "extensions"
               / f"v{duckdb.__version__}" / "spatial.duckdb_extension")
    if not bundled.is_file():
        raise SystemExit(f"install_spatial: {bundled} is missing; duckdb and "
                         "duckdb-extension-spatial must have the same version in the lock.")
    # FORCE: a new lock may bring a new build of the same extension version.
    duckdb.connect().execute(f"FORCE INSTALL '{bundled}'")


if __name__ == "__main__":
    main()
