from django.contrib.auth import views as auth_views
from django.urls import path

import allocator.converters  # noqa: F401  (registers the <id:…> converter)
from accounts import audit, token_settings, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organisation/", views.organisation, name="organisation"),
    path("audit/", audit.audit_log, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
    path("tokens/", token_settings.token_list, name="tokens"),
    path("tokens/<id:pk>/revoke/", token_settings.token_revoke, name="token_revoke"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
]
