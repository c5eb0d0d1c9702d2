from django.urls import reverse

from allocator.celery import app as celery_app

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_healthz_reports_database_and_broker(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_broker_is_down(client, db, monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration, so point both at nothing
    # (and remember the configured one first: once the variable is set, conf answers with it).
    previous = celery_app.conf.broker_url
    monkeypatch.setenv("CELERY_BROKER_URL", DEAD_BROKER)
    celery_app.conf.broker_url = DEAD_BROKER
    try:
        response = client.get(reverse("healthz"))
    finally:
        celery_app.conf.broker_url = previous
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down" and body["database"] == "ok" and body["broker"].startswith("down")
