"""Task registry: a plain dict from lower-case name to task. Names are case-insensitive.

Every task is a spec file (``autoact.tasks.spec``). HotpotQA and ScienceQA are the shipped
``specs/hotpotqa.yaml`` and ``specs/scienceqa.yaml`` (their ``implementation`` class reads the records
and scores); more come from ``--task_spec FILE`` on any stage, or by name from ``$AUTOACT_TASKS_DIR``,
a ``tasks/`` folder in the working directory, or the shipped specs.
"""

from __future__ import annotations

from pathlib import Path

from autoact.errors import ConfigError
from autoact.tasks.base import Example, Score, Task
from autoact.tasks.spec import SHIPPED_DIR, load_spec

#: the built-in tasks, loaded from their shipped spec files; others are added when registered
TASKS: dict[str, Task] = {t.name.lower(): t for t in (load_spec(SHIPPED_DIR / "hotpotqa.yaml"),
                                                      load_spec(SHIPPED_DIR / "scienceqa.yaml"))}


def get_task(name: str) -> Task:
    task = TASKS.get(name.strip().lower())
    if task is None:
        from autoact.tasks.spec import find_spec
        task = find_spec(name)
        if task is not None:
            register_task(task)
    if task is None:
        valid = ", ".join(t.name for t in TASKS.values())
        raise ConfigError(f"unknown task {name!r}; valid tasks: {valid} (or register one with "
                          f"--task_spec FILE)")
    return task


def register_task(task: Task) -> Task:
    TASKS[task.name.lower()] = task
    return task


def register_spec(path: str | Path) -> Task:
    from autoact.tasks.spec import load_spec
    return register_task(load_spec(path))


__all__ = ["TASKS", "Example", "Score", "Task", "get_task", "register_task", "register_spec"]
