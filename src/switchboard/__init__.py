"""Switchboard: keeps CRM people in Quo and writes Quo calls and texts back onto them."""

__version__ = "0.1.0"
