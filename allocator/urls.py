from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from accounts import views as account_views
from allocator import health
from allocator.api import errors as api
from allocator.views import errors

admin.site.site_header = "Allocator administration"
admin.site.site_title = "Allocator admin"

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("", include("allocator.urls_app")),
    path("budgets/capacity/", include("allocator.capacity.urls")),
    path("budgets/", include("budgets.urls")),
    path("api/", include("allocator.api.urls")),
    path("admin/", admin.site.urls),
]

if settings.OIDC_ENABLED:
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))


# Under /api/ the error pages answer the API's JSON error shape; everywhere else the HTML pages.
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if api.is_api_request(request):
        return api.not_found(request, exception)
    return errors.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if api.is_api_request(request):
        return api.server_error(request)
    return errors.server_error(request)


handler400 = "allocator.views.errors.bad_request"
handler404 = page_not_found
handler500 = server_error
