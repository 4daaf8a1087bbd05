"""Test doubles and demo pieces, imported explicitly by tests, benches and the smoke preset:
never used by a real run unless asked for. Importing this package registers the reply policies
``--scripted_policy`` names (each module is imported on first use)."""

from autoact.llm.scripted import register_policy


def _demo_teacher():
    from autoact.testing.demo_teacher import demo_teacher
    return demo_teacher


def _react():
    from autoact.testing.fake_server import react_policy
    return react_policy


register_policy("demo_teacher", _demo_teacher)
register_policy("react", _react)
