"""The built-in simulated provider: its adapter (provider.py), its own state (models.py) and its usage (usage.py)."""
