"""One question's episode: the scratchpad, the Finish/Reflect protocol, tools, halting, scoring.

The episode does not know who writes the thoughts and actions (the zero-shot Meta-Agent, or the
plan/tool/reflect agents of group planning); it executes what it is given:

* the first ``Finish[x]`` records ``x`` and observes ``Please reflect your answer.``;
* ``Reflect[right]`` right after a ``Finish`` ends the episode (the observation says whether the
  answer is correct); ``Reflect[wrong]`` observes that the answer may be wrong and the agent
  solves the question again;
* any later ``Finish[y]`` replaces the answer and ends the episode at once (the reference does
  the same: only the first answer is reflected on); with ``reflect=False`` (the no_reflect
  ablation and the ReAct/CoT baselines) the first ``Finish`` already ends it;
* ``Reflect`` anywhere else, an unknown tool or text that is no action at all are answered with
  an ``Invalid action`` observation, never an exception;
* the episode halts (unfinished) after ``max_steps`` steps or when its prompt would exceed
  ``max_context_len`` tokens, counted by the backend (the model's tokenizer for a local model;
  an estimate of 4 characters per token over HTTP).

What the episode answers (``Please reflect your answer.`` ...) comes from the ``observations``
section of the prompts file, like every other text a model reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from autoact.agents.prompts import Step, instruction, prefix
from autoact.prompting import Prompts, resolve
from autoact.tasks.base import Example, Task
from autoact.tools import Environment, Tool, ToolContext, parse_action, resolve_tool_name
from autoact.tools.wiki import one_line

_STEP_LABEL = re.compile(r"^\s*(?:Thought|Action|Observation)\s*\d*\s*:\s*", re.I)
_NEXT_LABEL = re.compile(r"\s*\b(?:Thought|Action|Observation)\s*\d*\s*:", re.I)


class ModelAgent:
    """A policy that asks one model: ``model`` is a served name or an adapter (``None``: the
    backend's default). :meth:`ask` counts each call in the episode's usage."""

    def __init__(self, llm, model: str | None = None):
        self.llm = llm
        self.model = model

    def ask(self, ep: "Episode", prompt: str, params) -> str:
        c = self.llm.complete([prompt], params, model=self.model)[0]
        ep.add_usage(c)
        return c.text


def clean_generation(text: str) -> str:
    """One step's text from a generation: the first line, without a repeated ``Thought n:``
    label and without anything from a following ``Action n:``/``Observation n:`` on."""
    text = (text or "").strip().split("\n", 1)[0]
    text = _STEP_LABEL.sub("", text, count=1)
    m = _NEXT_LABEL.search(text)
    if m:
        text = text[:m.start()]
    return text.strip()


@dataclass
class Episode:
    task: Task
    example: Example
    tools: Sequence[Tool]
    env: Environment
    max_steps: int = 15
    max_context_len: int = 4096
    count_tokens: Callable[[str], int] = lambda text: (len(text) + 3) // 4
    instruction: str = ""
    reflect: bool = True        # False: the first Finish ends the episode (no_reflect, ReAct, CoT)
    prompts: Prompts | None = None      # None: the shipped prompts file
    max_observation_chars: int = 0      # cut longer observations (0: never, as the reference)
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    answers: list[dict] = field(default_factory=list)     # every Finish: {"answer", "correct"}
    reflections: list[str] = field(default_factory=list)  # "right" / "wrong", in order
    finished: bool = False
    halted: bool = False
    usage: dict = field(default_factory=lambda: {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
    agent_state: dict = field(default_factory=dict)    # the policy's own state for this question
    details: dict = field(default_factory=dict)        # a method's own fields of the record

    def __post_init__(self) -> None:
        self.prompts = resolve(self.prompts)
        if not self.instruction:
            self.instruction = instruction(self.task, self.tools, prompts=self.prompts)
        self.ctx = ToolContext(env=self.env, fields=dict(self.example.fields))

    # -- state ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.finished or self.halted

    @property
    def reflecting(self) -> bool:
        """The step being written follows a Finish: the reflect agent's turn."""
        return bool(self.steps) and self.steps[-1].action.startswith("Finish[") and not self.finished

    def prompt(self) -> str:
        return prefix(self.instruction, self.example.question, self.steps, self.prompts)

    def check_halt(self) -> bool:
        """Halt when the step budget is spent or the prompt no longer fits the context."""
        if not self.done and (len(self.steps) >= self.max_steps
                              or self.count_tokens(self.prompt()) > self.max_context_len):
            self.halted = True
        return self.halted

    def add_usage(self, completion) -> None:
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += completion.prompt_tokens
        self.usage["completion_tokens"] += completion.completion_tokens

    # -- acting ------------------------------------------------------------------------------
    def act(self, thought: str, action_text: str) -> Step:
        """Execute ``action_text`` (e.g. ``"Retrieve[Milhouse]"``) after ``thought``."""
        parsed = parse_action(action_text)
        if parsed is None:
            action = one_line(action_text) or "(none)"
            step = Step(thought, action, self._invalid(), invalid=True)
        else:
            name, arg = parsed
            canonical = resolve_tool_name(name) or name
            action = f"{canonical}[{one_line(arg)}]"
            observation, invalid = self._observe(canonical, one_line(arg))
            step = Step(thought, action, observation, invalid=invalid)
        self.steps.append(step)
        return step

    def _message(self, name: str) -> str:
        return self.prompts.render(f"observations.{name}")

    def _verdict(self, correct: bool) -> str:
        return self._message("correct" if correct else "incorrect")

    def _observe(self, name: str, arg: str) -> tuple[str, bool]:
        """The observation of an action, and whether the action was invalid (not executed)."""
        if name == "Finish":
            first = self.answer is None
            self.answer = arg
            ok = self.task.score(arg, self.example).correct
            self.answers.append({"answer": arg, "correct": ok})
            if first and self.reflect:
                return self._message("please_reflect"), False
            self.finished = True
            return self._verdict(ok), False
        if name == "Reflect":
            if not self.reflecting or not self.reflect:
                return self._message("reflect_only_after_finish"), True
            verdict = arg.strip().lower()
            if verdict.startswith("right"):
                self.reflections.append("right")
                self.finished = True
                return self._verdict(self.task.score(self.answer, self.example).correct), False
            if verdict.startswith("wrong"):
                self.reflections.append("wrong")
                return self._message("try_again"), False
            return self._message("reflect_argument"), True
        selected = {t.name: t for t in self.tools}
        if name not in selected:
            return self._invalid(), True
        obs = one_line(selected[name].run(arg, self.ctx))
        cap = self.max_observation_chars
        if cap and len(obs) > cap:
            obs = obs[:cap] + " ... [truncated]"
        return obs, False

    def _invalid(self) -> str:
        valid = " ".join(f"{t.name}[...]" for t in self.tools)
        return self.prompts.render("observations.invalid_action", tools=valid)

    # -- the record ------------------------------------------------------------------------------
    def record(self, **extra) -> dict:
        prediction = self.answer if self.answer is not None else ""
        score = self.task.score(prediction, self.example)
        return {
            "id": self.example.id, "question": self.example.question, "answer": self.example.answer,
            "level": self.example.level, "task": self.task.name, "prediction": prediction,
            "correct": bool(score.correct), "reward": round(float(score.reward), 6),
            "finished": self.finished, "halted": self.halted, "error": None,
            "n_steps": len(self.steps),
            "steps": [step_record(s) for s in self.steps],
            "answers": self.answers, "reflection": self.reflections,
            "prompt": self.prompt(), "usage": dict(self.usage), **self.details, **extra,
        }


def step_record(step: Step) -> dict:
    """A step as stored in a record (``invalid`` only when true, to keep logs small)."""
    rec = {"thought": step.thought, "action": step.action, "observation": step.observation}
    if step.invalid:
        rec["invalid"] = True
    return rec


def steps_from_record(record: dict) -> list[Step]:
    return [Step(s["thought"], s["action"], s["observation"], bool(s.get("invalid")))
            for s in record.get("steps") or []]
