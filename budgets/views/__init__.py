"""Pages of the budgets app, one module per page family (urls.py maps them)."""
