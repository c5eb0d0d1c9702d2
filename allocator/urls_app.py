from django.urls import path

import allocator.converters  # noqa: F401  (registers the <id:…> converter)
from allocator.usage import views as usage_views
from allocator.views import approvals, coding, key_requests, keys, policy, provider_accounts

app_name = "allocator"

urlpatterns = [
    path("keys/", keys.key_list, name="key_list"),
    path("keys/all/", keys.key_admin_list, name="key_admin_list"),
    path("keys/team/", keys.key_team_list, name="key_team_list"),
    path("keys/<id:pk>/", keys.key_detail, name="key_detail"),
    path("keys/<id:pk>/cost-sources/", keys.key_cost_sources_view, name="key_cost_sources"),
    path("keys/<id:pk>/reveal/", keys.key_reveal, name="key_reveal"),
    path("keys/<id:pk>/rotate/", keys.key_rotate, name="key_rotate"),
    path("keys/<id:pk>/revoke/", keys.key_revoke, name="key_revoke"),
    path("keys/<id:pk>/suspend/", keys.key_suspend, name="key_suspend"),
    path("keys/<id:pk>/reinstate/", keys.key_reinstate, name="key_reinstate"),
    path("requests/new/", key_requests.request_create, name="request_create"),
    path("requests/<id:pk>/", key_requests.request_detail, name="request_detail"),
    path("requests/<id:pk>/status/", key_requests.request_status, name="request_status"),
    path("requests/<id:pk>/approve/", approvals.request_approve, name="request_approve"),
    path("requests/<id:pk>/reject/", approvals.request_reject, name="request_reject"),
    path("requests/<id:pk>/cancel/", key_requests.request_cancel, name="request_cancel"),
    path("requests/<id:pk>/retry/", key_requests.request_retry, name="request_retry"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("providers/", provider_accounts.account_list, name="account_list"),
    path("providers/new/", provider_accounts.account_form, name="account_create"),
    path("providers/<id:pk>/", provider_accounts.account_detail, name="account_detail"),
    path("providers/<id:pk>/edit/", provider_accounts.account_form, name="account_edit"),
    path("providers/<id:pk>/test/", provider_accounts.account_test, name="account_test"),
    path("providers/<id:pk>/unmanaged/", provider_accounts.account_unmanaged, name="account_unmanaged"),
    path("providers/<id:pk>/import/", provider_accounts.account_import_key, name="account_import_key"),
    path("providers/<id:pk>/revoke-remote/", provider_accounts.account_revoke_remote, name="account_revoke_remote"),
    path("providers/coding-identities/", coding.coding_identities, name="coding_identities"),
    path("providers/coding-identities/<id:pk>/map/", coding.coding_identity_map_view, name="coding_identity_map"),
    path("policy/", policy.policy, name="policy"),
    path("sync/", usage_views.sync_status, name="sync_status"),
    path("sync/<id:pk>/now/", usage_views.sync_now, name="sync_now"),
    path("sync/<id:pk>/status/", usage_views.sync_account_status, name="sync_account_status"),
]
