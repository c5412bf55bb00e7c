"""Provider emulators (Quo and each CRM) for tests, benchmarks and demos.

Shared plumbing lives in `switchboard.emulators.common`.
"""
