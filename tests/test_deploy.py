"""The deploy files: the compose file and the Kubernetes manifests are valid against their published schemas
(vendored in tests/schemas/, no network), say what production needs (one beat, migrations first, non-root,
probes on /healthz), and the image builds where a Docker daemon runs."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.urls import reverse
from referencing import Registry, Resource

from allocator.celery import app as celery_app
from tests.test_configuration_docs import _variables

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KINDS = {
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("v1", "Service"): "service-v1.json",
    ("batch/v1", "Job"): "job-batch-v1.json",
    ("v1", "ConfigMap"): "configmap-v1.json",
    ("v1", "Secret"): "secret-v1.json",
}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _validator(schema: dict, registry: Registry | None = None):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry) if registry else cls(schema)


def _kubernetes_validator(api_version: str, kind: str):
    definitions = _load(SCHEMAS / "kubernetes" / "_definitions.json")
    registry = Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))
    return _validator(_load(SCHEMAS / "kubernetes" / KINDS[(api_version, kind)]), registry)


def _manifests() -> list[dict]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _errors(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


# --- compose -------------------------------------------------------------------------------------------------


def test_the_compose_file_is_valid_compose():
    assert _errors(_validator(_load(SCHEMAS / "compose-spec.json")), _compose()) == []


def test_the_compose_schema_catches_mistakes():
    broken = _compose()
    broken["services"]["web"]["restart_policy"] = "always"  # not a service key
    assert _errors(_validator(_load(SCHEMAS / "compose-spec.json")), broken)


def test_compose_runs_migrations_first_and_one_beat():
    services = _compose()["services"]
    assert {"db", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert services["migrate"]["command"] == "python manage.py migrate --noinput"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "replicas" not in services["beat"].get("deploy", {})
    assert "healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "POSTGRES_PASSWORD:?" in (DEPLOY / "compose.yaml").read_text()  # no password in the file


# --- Kubernetes ----------------------------------------------------------------------------------------------


def test_every_manifest_is_valid_against_the_kubernetes_schema():
    manifests = _manifests()
    assert {(m["apiVersion"], m["kind"]) for m in manifests} == set(KINDS)
    problems = {
        f"{m['kind']}/{m['metadata']['name']}": _errors(_kubernetes_validator(m["apiVersion"], m["kind"]), m)
        for m in manifests
    }
    assert {name: errors for name, errors in problems.items() if errors} == {}


def test_the_strict_kubernetes_schema_catches_a_typo():
    [beat] = [m for m in _manifests() if m["metadata"]["name"] == "allocator-beat"]
    typo = copy.deepcopy(beat)
    typo["spec"]["replica"] = typo["spec"].pop("replicas")
    assert _errors(_kubernetes_validator("apps/v1", "Deployment"), typo)


def _deployments() -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in _manifests() if m["kind"] == "Deployment"}


def test_beat_runs_exactly_once():
    beat = _deployments()["allocator-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}  # the old beat stops before the new one starts


def test_pods_run_as_non_root_on_a_read_only_filesystem_with_the_settings():
    names = {m["metadata"]["name"]: m["kind"] for m in _manifests()}
    pods = [m["spec"]["template"]["spec"] for m in _manifests() if m["kind"] in ("Deployment", "Job")]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            sources = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
            assert [names[s] for s in sources] == ["ConfigMap", "Secret"]


def test_configmap_and_secret_hold_only_variables_the_settings_read():
    read = _variables()
    for manifest in _manifests():
        if manifest["kind"] in ("ConfigMap", "Secret"):
            keys = set(manifest.get("data", {})) | set(manifest.get("stringData", {}))
            assert keys - read == set(), manifest["metadata"]["name"]


def test_web_probes_ask_healthz_with_an_allowed_host():
    web = _deployments()["allocator-web"]["spec"]["template"]["spec"]["containers"][0]
    [config] = [m for m in _manifests() if m["kind"] == "ConfigMap"]
    first_host = config["data"]["ALLOWED_HOSTS"].split(",")[0]
    for probe, path in (("readinessProbe", "/healthz?probe=ready"), ("livenessProbe", "/healthz?probe=live")):
        get = web[probe]["httpGet"]
        assert get["path"] == path and get["httpHeaders"] == [{"name": "Host", "value": first_host}]
    [service] = [m for m in _manifests() if m["kind"] == "Service"]
    web_labels = _deployments()["allocator-web"]["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == web_labels and service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_probe_urls_answer_and_readiness_survives_a_broker_outage(client, db, monkeypatch):
    assert client.get(reverse("healthz") + "?probe=live").json() == {"status": "ok"}
    assert client.get(reverse("healthz") + "?probe=ready").json() == {"status": "ok", "database": "ok"}
    previous = celery_app.conf.broker_url
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        ready = client.get(reverse("healthz") + "?probe=ready")
        full = client.get(reverse("healthz"))
    finally:
        celery_app.conf.broker_url = previous
    assert ready.status_code == 200  # mints are queued and swept later: the site keeps serving
    assert full.status_code == 503 and full.json()["broker"].startswith("down")


# --- the image -------------------------------------------------------------------------------------------------


def test_the_dockerfile_is_slim_non_root_and_collects_static_files():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "USER allocator" in dockerfile and "collectstatic --noinput" in dockerfile
    assert 'CMD ["gunicorn", "allocator.wsgi"' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var"} <= set(ignored)


def _docker_daemon() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon is running here")
def test_the_image_builds():
    build = subprocess.run(
        ["docker", "build", "-f", "deploy/Dockerfile", "-t", "allocator:test", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    user = subprocess.run(["docker", "run", "--rm", "allocator:test", "id", "-u"], capture_output=True, text=True)
    assert user.stdout.strip() == "1000"
