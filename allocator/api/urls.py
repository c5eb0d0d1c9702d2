"""Routes of /api/v1/: every module of this package that has `routes` adds them (one file per resource), then
the schema, its docs, and the JSON 404 for anything else under /api/."""

from __future__ import annotations

import importlib
import pkgutil

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import allocator.converters  # noqa: F401  (registers the <id:…> converter)
from allocator import api
from allocator.api.errors import not_found


def _resource_routes() -> list:
    routes: list = []
    for module in sorted(pkgutil.iter_modules(api.__path__), key=lambda m: m.name):
        routes += getattr(importlib.import_module(f"allocator.api.{module.name}"), "routes", [])
    return routes


v1 = [
    *_resource_routes(),
    path("schema/", SpectacularAPIView.as_view(api_version="1"), name="schema"),
    path("docs/", login_required(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
]

app_name = "api"

urlpatterns = [
    path("v1/", include(v1)),
    # Anything else under /api/ (the unversioned paths of before included) answers the API's error shape, POSTs
    # too (no CSRF page: nothing is done there).
    re_path(r"^.*$", csrf_exempt(not_found)),
]
