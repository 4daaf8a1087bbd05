"""The zero-shot Meta-Agent of trajectory synthesis (the reference's ZeroshotThink agents).

Per step, one model call writes the thought (prompt ends ``Thought n:``, stop at the newline)
and one writes the whole action (prompt ends ``Action n:``, stop at the newline); the episode
executes it.
"""

from __future__ import annotations

from autoact.agents.episode import Episode, ModelAgent, clean_generation
from autoact.agents.prompts import action_input, thought_input
from autoact.llm.base import SamplingParams


class ZeroshotThinkAgent(ModelAgent):
    def _ask(self, ep: Episode, prompt: str, params: SamplingParams) -> str:
        return clean_generation(self.ask(ep, prompt, params))

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        instr, q, steps, p = ep.instruction, ep.example.question, ep.steps, ep.prompts
        thought = self._ask(ep, thought_input(instr, q, steps, p), params)
        action = self._ask(ep, action_input(instr, q, steps, thought, p), params)
        return thought, action

