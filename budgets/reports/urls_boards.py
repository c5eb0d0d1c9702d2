"""Routes of the board pages, included into the budgets namespace (budgets:leaderboard, …)."""

from django.urls import path

import allocator.converters  # noqa: F401  (registers the <id:…> converter)
from budgets.reports import views_boards, views_compare

urlpatterns = [
    path("leaderboard/", views_boards.leaderboard, name="leaderboard"),
    path("efficiency/", views_boards.efficiency, name="efficiency"),
    path("adoption/", views_boards.adoption, name="adoption"),
    path("compare/team/<id:pk>/", views_compare.compare_team, name="compare_team"),
    path("compare/cost-center/<id:pk>/", views_compare.compare_cost_center, name="compare_cost_center"),
]
