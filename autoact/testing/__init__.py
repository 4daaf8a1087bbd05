"""Test doubles and demo pieces, imported explicitly by tests, benches and the smoke preset:
never used by a real run unless asked for."""
