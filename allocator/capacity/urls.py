from django.urls import path

import allocator.converters  # noqa: F401  (registers the <id:…> converter)
from allocator.capacity import views

app_name = "capacity"

urlpatterns = [
    path("", views.capacity_headroom, name="headroom"),
    path("limits/new/", views.capacity_limit_record, name="limit_record"),
    path("limits/<id:pk>/remove/", views.capacity_limit_remove, name="limit_remove"),
    path("<id:pk>/", views.capacity_detail, name="detail"),
]
