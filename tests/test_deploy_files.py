"""The deployment files say what the README promises."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).parent.parent


def test_compose_mounts_content_read_only_with_healthcheck() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = compose["services"]["fhirterm"]
    assert "./codesystems:/app/codesystems:ro" in svc["volumes"]
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["environment"]["FHIRTERM_CONTENT_DIR"] == "/app/codesystems"
    docker = (REPO / "Dockerfile").read_text()
    assert "fhirterm check" in docker and '"serve"' in docker


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert command in readme
