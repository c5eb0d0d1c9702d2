"""Capacity: provider rate limits (supply) against per-minute demand peaks, headroom, the crossover date, alerts."""
