"""One parser for ``Tool[argument]`` actions.

Tolerant of surrounding spaces, a trailing period, an ``Action 3:`` prefix, case and spacing in
the tool name (``bingsearch``, ``Bing Search``) and the reference's short names (``Code[...]``,
``Search[...]``). Anything else is ``None`` and becomes an ``Invalid action`` observation in the
agent loop, never an exception.
"""

from __future__ import annotations

import re

_ACTION = re.compile(r"^\s*(?:Action\s*\d*\s*:\s*)?([A-Za-z][A-Za-z0-9 _-]*?)\s*\[(.*)\]\s*\.?\s*$", re.S)


def parse_action(text: str) -> tuple[str, str] | None:
    """``"Retrieve[Milhouse]."`` -> ``("Retrieve", "Milhouse")``; the name as written."""
    if not text:
        return None
    m = _ACTION.match(text.strip())
    if not m:
        return None
    return m.group(1).strip(), m.group(2).strip()


