from django.urls import path, re_path

from allocator import api

app_name = "api"

urlpatterns = [
    path("keys/", api.key_list, name="key_list"),
    path("key-requests/", api.key_request_list, name="key_request_list"),
    path("key-requests/<int:pk>/approve/", api.key_request_approve, name="key_request_approve"),
    path("key-requests/<int:pk>/reject/", api.key_request_reject, name="key_request_reject"),
    # Anything else under /api/ answers the API's error shape, not the HTML 404 page.
    re_path(r"^.*$", api.not_found),
]
