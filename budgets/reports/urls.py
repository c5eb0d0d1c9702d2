"""Chargeback URLs, under /budgets/chargeback/ in the budgets namespace (budgets/urls.py includes them)."""

from django.urls import path

from budgets.reports import views

urlpatterns = [
    path("", views.chargeback, name="chargeback"),
    path("export/<str:fmt>/", views.chargeback_export, name="chargeback_export"),
    path("close/", views.chargeback_close, name="chargeback_close"),
    path("stripe/customers/", views.chargeback_customers, name="chargeback_customers"),
    path("stripe/invoice/", views.chargeback_invoice, name="chargeback_invoice"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
