"""Budgets, budget requests, enforcement state and alerts."""
