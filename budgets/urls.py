from django.urls import path

from budgets import slack_interactions, views

app_name = "budgets"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("set/", views.budget_set, name="set"),
    path("copy/", views.copy_previous, name="copy"),
    path("<int:pk>/", views.detail, name="detail"),
    path("teams/<int:pk>/", views.team, name="team"),
    path("teams/<int:pk>/split/", views.team_split, name="team_split"),
    path("bumps/new/", views.bump_create, name="bump_create"),
    path("bumps/<int:pk>/", views.bump_detail, name="bump_detail"),
    path("bumps/<int:pk>/approve/", views.bump_approve, name="bump_approve"),
    path("bumps/<int:pk>/reject/", views.bump_reject, name="bump_reject"),
    path("bumps/<int:pk>/cancel/", views.bump_cancel, name="bump_cancel"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:pk>/retry/", views.alert_retry, name="alert_retry"),
    path("slack/", views.slack_settings, name="slack_settings"),
    path("slack/interactions/", slack_interactions.interactions, name="slack_interactions"),
]
