"""AutoAct, rebuilt: automatic agent learning from scratch via self-planning (ACL 2024).

The stages' front ends are in :mod:`autoact.commands`, the one-command pipeline in
:mod:`autoact.pipeline`; docs/library.md maps where each concern lives."""

__version__ = "0.1.0"
