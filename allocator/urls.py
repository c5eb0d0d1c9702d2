from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from allocator import health

admin.site.site_header = "Allocator administration"
admin.site.site_title = "Allocator admin"

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("", include("allocator.urls_app")),
    path("budgets/", include("budgets.urls")),
    path("api/", include("allocator.urls_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("admin/", admin.site.urls),
]

if settings.OIDC_ENABLED:
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))

handler400 = "allocator.views.errors.bad_request"
handler404 = "allocator.views.errors.page_not_found"
handler500 = "allocator.views.errors.server_error"
