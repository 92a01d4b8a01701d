"""No credentials in the repository, the configuration or what a run writes; cloud access
goes through Application Default Credentials."""

from __future__ import annotations

import dataclasses
import re
import subprocess

from pipeline.settings import REPOSITORY_ROOT, PipelineConfig
from tests.configs import taxi_config

CREDENTIAL_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----"),
    "a service-account key file": re.compile(r'"type":\s*"service_account"'),
    "a Google API key": re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    "an AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "an OAuth token": re.compile(r"ya29\.[0-9A-Za-z_\-]{20,}"),
}


def test_no_tracked_file_holds_a_credential() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPOSITORY_ROOT, text=True,
                             capture_output=True, check=True).stdout.split()
    found = []
    for name in tracked:
        path = REPOSITORY_ROOT / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {what}" for what, pattern in CREDENTIAL_PATTERNS.items()
                  if pattern.search(text)]
    assert found == []


def test_configuration_has_no_setting_for_a_secret() -> None:
    # Secrets never pass through settings (which are printed and recorded with each run):
    # cloud calls use Application Default Credentials, and the one password the project
    # knows of (a MySQL metadata store's) is read from MLMD_MYSQL_PASSWORD only.
    names = [field.name for field in dataclasses.fields(PipelineConfig)]
    assert [name for name in names
            if re.search(r"password|secret|token|credential|api_key", name)] == []
    assert "MLMD_MYSQL_PASSWORD" not in taxi_config().to_json()
