from django.urls import include, path

import allocator.converters  # noqa: F401  (registers the <id:…> converter)
from budgets import slack_interactions
from budgets.views import alerts, budget_set, bumps, detail, increase_requests, overview, people, slack_settings, team

app_name = "budgets"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("set/", budget_set.budget_set, name="set"),
    path("copy/", budget_set.copy_previous, name="copy"),
    path("<id:pk>/", detail.detail, name="detail"),
    path("teams/<id:pk>/", team.team, name="team"),
    path("teams/<id:pk>/split/", team.team_split, name="team_split"),
    path("people/<id:pk>/", people.person, name="person"),
    path("bumps/new/", bumps.bump_create, name="bump_create"),
    path("bumps/<id:pk>/", bumps.bump_detail, name="bump_detail"),
    path("bumps/<id:pk>/approve/", bumps.bump_approve, name="bump_approve"),
    path("bumps/<id:pk>/reject/", bumps.bump_reject, name="bump_reject"),
    path("bumps/<id:pk>/cancel/", bumps.bump_cancel, name="bump_cancel"),
    path("increases/<id:pk>/approve/", increase_requests.increase_approve, name="increase_approve"),
    path("increases/<id:pk>/reject/", increase_requests.increase_reject, name="increase_reject"),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/<id:pk>/retry/", alerts.alert_retry, name="alert_retry"),
    path("slack/", slack_settings.slack_settings, name="slack_settings"),
    path("slack/interactions/", slack_interactions.interactions, name="slack_interactions"),
    path("", include("budgets.reports.urls_boards")),
    path("chargeback/", include("budgets.reports.urls")),
    path("", include("budgets.whatif.urls")),
]
