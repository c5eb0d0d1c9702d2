from django.urls import path

from allocator import views
from allocator.usage import views as usage_views

app_name = "allocator"

urlpatterns = [
    path("keys/", views.key_list, name="key_list"),
    path("keys/all/", views.key_admin_list, name="key_admin_list"),
    path("keys/<int:pk>/", views.key_detail, name="key_detail"),
    path("keys/<int:pk>/reveal/", views.key_reveal, name="key_reveal"),
    path("keys/<int:pk>/rotate/", views.key_rotate, name="key_rotate"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("keys/<int:pk>/suspend/", views.key_suspend, name="key_suspend"),
    path("keys/<int:pk>/reinstate/", views.key_reinstate, name="key_reinstate"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/status/", views.request_status, name="request_status"),
    path("requests/<int:pk>/approve/", views.request_approve, name="request_approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request_reject"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request_cancel"),
    path("requests/<int:pk>/retry/", views.request_retry, name="request_retry"),
    path("approvals/", views.approvals, name="approvals"),
    path("providers/", views.account_list, name="account_list"),
    path("providers/new/", views.account_form, name="account_create"),
    path("providers/<int:pk>/", views.account_detail, name="account_detail"),
    path("providers/<int:pk>/edit/", views.account_form, name="account_edit"),
    path("providers/<int:pk>/test/", views.account_test, name="account_test"),
    path("providers/<int:pk>/unmanaged/", views.account_unmanaged, name="account_unmanaged"),
    path("providers/<int:pk>/import/", views.account_import_key, name="account_import_key"),
    path("providers/<int:pk>/revoke-remote/", views.account_revoke_remote, name="account_revoke_remote"),
    path("policy/", views.policy, name="policy"),
    path("sync/", usage_views.sync_status, name="sync_status"),
    path("sync/<int:pk>/now/", usage_views.sync_now, name="sync_now"),
    path("sync/<int:pk>/status/", usage_views.sync_account_status, name="sync_account_status"),
]
