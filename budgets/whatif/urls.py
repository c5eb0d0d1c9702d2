"""Routes of the concentration and what-if pages, included into the budgets namespace."""

from django.urls import path

from budgets.whatif import views

urlpatterns = [
    path("concentration/", views.concentration, name="concentration"),
    path("what-if/", views.what_if, name="what_if"),
]
