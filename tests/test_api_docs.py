"""API docs work without internet (Swagger UI served from our static files) and only for signed-in users."""

import re

from django.test import Client
from django.urls import reverse

from tests.conftest import login


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'url:\s*"([^"]+)"', html)


def test_docs_page_loads_swagger_ui_from_local_static_files_only(engineer, settings):
    settings.WHITENOISE_USE_FINDERS = True  # as `make run` serves them (production serves collectstatic's copy)
    client = login(engineer)
    response = client.get(reverse("api:docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assets = [url for url in _asset_urls(html) if url.endswith((".js", ".css", ".png"))]
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets), assets
    for url in _asset_urls(html):
        assert url.startswith("/"), f"{url} is not served by Allocator"
        assert not url.startswith("//")
    for url in assets:
        served = client.get(url)
        assert served.status_code == 200, url
        assert b"".join(served.streaming_content if served.streaming else [served.content])


def test_docs_point_at_the_schema_which_signed_in_users_get(engineer):
    client = login(engineer)
    html = client.get(reverse("api:docs")).content.decode()
    assert reverse("api:schema") in html
    schema = client.get(reverse("api:schema"), headers={"Accept": "application/json"})
    assert schema.status_code == 200 and "/api/v1/key-requests/" in schema.json()["paths"]
    assert "Every error, whatever the status" in schema.json()["info"]["description"]


def test_anonymous_callers_get_neither_schema_nor_docs(db):
    client = Client()
    schema = client.get(reverse("api:schema"), headers={"Accept": "application/json"})
    assert schema.status_code == 403 and schema.json()["error"]["code"] == "not_authenticated"
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 302 and docs["Location"].startswith(reverse("accounts:login"))
