"""One module per pipeline stage, each with its ``Settings`` dataclass and ``run(settings)``:
self_instruct, tool_selection, trajectories, filtering, training, evaluation, report."""

import autoact.testing  # noqa: F401  (registers the reply policies --scripted_policy names)
