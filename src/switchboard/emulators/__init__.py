"""Provider emulators (Quo, Attio, ...) for tests, benchmarks and demos.

Shared plumbing lives in `switchboard.emulators.common`.
"""
