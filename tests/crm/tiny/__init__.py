"""A minimal CRM defined only in the tests: its connector, a tiny emulator and one registry record.

It proves that a CRM is a package: nothing in `src/` knows it, yet it passes the contract kit,
`switchboard connect`, the initial sync and the activity pipeline. Child processes find it
through `SWITCHBOARD_CRM_MODULES=tests.crm.tiny.provider`.
"""
