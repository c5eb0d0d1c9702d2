"""Pages of the allocator app, one module per page family (urls_app.py maps them)."""
