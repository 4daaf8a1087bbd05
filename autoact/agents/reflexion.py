"""Reflexion in the group-planning harness: retry a question, learning from verbal reflections.

Shinn et al., 2023, "Reflexion: Language Agents with Verbal Reinforcement Learning"
(arXiv:2303.11366). Each **trial** is a fresh few-shot ReAct episode (the ``react`` method's
prompt and loop, its own tool state). When a trial ends, the model judges its own answer
(``baselines.reflexion_judge``: right or wrong; never the gold answer unless ``oracle`` is set,
which the record says); after a wrong one, or a trial that halted without an answer, it writes a
reflection (``baselines.reflexion_reflect``) that every later trial's prompt carries
(``baselines.reflexion_memory``). At most ``max_trials`` trials; the answer is the last one
given. The record holds every trial's steps, one ``answers`` entry per trial, the verdicts in
``reflection`` and a ``trials`` list (answer, verdict, judge, reflection, steps); ``usage.calls``
counts every call. The base model plays every part; no adapter is trained for it.
"""

from __future__ import annotations

from autoact.agents.episode import Episode
from autoact.agents.meta import ZeroshotThinkAgent
from autoact.agents.prompts import prefix
from autoact.llm.base import LLM, SamplingParams


class ReflexionAgent(ZeroshotThinkAgent):
    """The trials' actor is the ReAct loop of :class:`ZeroshotThinkAgent` (its ``step``); the
    verdicts and reflections are calls of the same model."""

    def __init__(self, llm: LLM, model: str | None = None, *, max_trials: int = 3, oracle: bool = False):
        super().__init__(llm, model)
        self.max_trials = max_trials
        self.oracle = oracle

    def solve(self, ep: Episode, params: SamplingParams) -> None:
        """Run the trials on ``ep``'s question; ``ep`` ends holding all of them."""
        p = ep.prompts
        reflections: list[str] = []
        trials: list[dict] = []
        last: Episode | None = None
        for number in range(1, self.max_trials + 1):
            instruction = ep.instruction
            if reflections:
                instruction += "\n" + p.render("baselines.reflexion_memory",
                                               reflections="\n".join(f"- {r}" for r in reflections))
            last = Episode(ep.task, ep.example, ep.tools, ep.env, max_steps=ep.max_steps,
                           max_context_len=ep.max_context_len, count_tokens=ep.count_tokens,
                           instruction=instruction, reflect=False, prompts=p,
                           max_observation_chars=ep.max_observation_chars)
            last.usage = ep.usage                   # one count of calls and tokens per question
            while not last.done and not last.check_halt():
                last.act(*self.step(last, params))
            ep.steps.extend(last.steps)
            trajectory = prefix("", ep.example.question, last.steps, p).strip()
            trial = {"trial": number, "answer": last.answer, "steps": len(last.steps)}
            if last.answer is None:
                trial |= {"verdict": "wrong", "judge": "halted"}
            elif self.oracle:
                ok = ep.task.score(last.answer, ep.example).correct
                trial |= {"verdict": "right" if ok else "wrong", "judge": "oracle"}
            else:
                said = self._ask(ep, p.render("baselines.reflexion_judge", trajectory=trajectory,
                                              answer=last.answer), params)
                trial |= {"verdict": "right" if said.strip().lower().startswith("right") else "wrong",
                          "judge": "self"}
            if last.answer is not None:
                ep.answer = last.answer
                ep.answers.append({"answer": last.answer,
                                   "correct": ep.task.score(last.answer, ep.example).correct})
            ep.reflections.append(trial["verdict"])
            trials.append(trial)
            if trial["verdict"] == "right" or number == self.max_trials:
                break
            trial["reflection"] = self._ask(ep, p.render("baselines.reflexion_reflect", trajectory=trajectory),
                                            params)
            reflections.append(trial["reflection"])
        ep.finished = ep.answer is not None
        ep.halted = not ep.finished
        ep.details = {"trials": trials, "prompt": last.prompt() if last else ep.prompt()}
