"""Quo (formerly OpenPhone) API: client, resource models, contact upsert, webhooks."""
