"""The deployment files say what the README promises."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).parent.parent


def test_compose_runs_replicas_behind_nginx_with_health_checks() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = compose["services"]["fhirterm"]
    assert "./codesystems:/app/codesystems:ro" in svc["volumes"]
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["environment"]["FHIRTERM_CONTENT_DIR"] == "/app/codesystems"
    assert str(svc["deploy"]["replicas"]).endswith("3}") or int(svc["deploy"]["replicas"]) > 1
    assert "ports" not in svc  # only nginx is published
    nginx = compose["services"]["nginx"]
    assert nginx["depends_on"]["fhirterm"]["condition"] == "service_healthy"
    assert "healthcheck" in nginx
    conf_host = nginx["volumes"][0].split(":")[0]
    conf = (REPO / conf_host).read_text()
    assert "server fhirterm:8080" in conf and "proxy_pass http://fhirterm" in conf
    assert nginx["volumes"][0].endswith(":ro")


def test_dockerfile_parses_content_at_build() -> None:
    docker = (REPO / "Dockerfile").read_text()
    assert "fhirterm check" in docker and '"serve"' in docker


def test_kubernetes_manifest() -> None:
    docs = list(yaml.safe_load_all((REPO / "deploy" / "k8s" / "fhirterm.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    dep = kinds["Deployment"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["spec"]["replicas"] >= 2
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert kinds["Service"]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert command in readme
