"""Task registry: a plain dict from lower-case name to task. Names are case-insensitive."""

from __future__ import annotations

from autoact.errors import ConfigError
from autoact.tasks.base import Example, Score, Task
from autoact.tasks.hotpotqa import HotpotQA
from autoact.tasks.scienceqa import ScienceQA

TASKS: dict[str, Task] = {"hotpotqa": HotpotQA(), "scienceqa": ScienceQA()}


def get_task(name: str) -> Task:
    task = TASKS.get(name.strip().lower())
    if task is None:
        valid = ", ".join(t.name for t in TASKS.values())
        raise ConfigError(f"unknown task {name!r}; valid tasks: {valid}")
    return task


def register_task(task: Task) -> Task:
    TASKS[task.name.lower()] = task
    return task


__all__ = ["TASKS", "Example", "Score", "Task", "get_task", "register_task"]
