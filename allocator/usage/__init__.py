"""Usage: sync from providers, bucket writing, reconciliation to the bill, rollups, pricing, retention."""
