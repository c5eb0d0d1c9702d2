"""/healthz: JSON with database and broker status; 503 when either is down.

Orchestrators probe narrower questions: `?probe=ready` checks the database only (with the broker down the site
still works: approvals are saved and the mint sweeper sends them later), `?probe=live` checks nothing but that
the process answers (restarting web processes cures no outage of the database or the broker).
"""

from django.db import connection
from django.http import HttpRequest, JsonResponse

from allocator.celery import app as celery_app


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as e:  # noqa: BLE001 - any failure means "down"; the class name is the report
        return f"down: {e.__class__.__name__}"


def _broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as e:  # noqa: BLE001
        return f"down: {e.__class__.__name__}"


CHECKS = {"database": _database, "broker": _broker}
PROBES = {"live": (), "ready": ("database",)}


def healthz(request: HttpRequest) -> JsonResponse:
    names = PROBES.get(request.GET.get("probe", ""), tuple(CHECKS))
    checks = {name: CHECKS[name]() for name in names}
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503)
