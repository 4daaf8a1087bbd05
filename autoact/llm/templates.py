"""The prompt template of the fine-tuned agents, in one place.

Training text is ``input + RESPONSE_MARKER + output + EOS`` with the loss on ``output`` only;
inference sends ``agent_prompt(input)``. Both sides call these functions, so the bytes the model
saw in training are the bytes it sees at inference.
"""

RESPONSE_MARKER = "\n### Response:\n"


def agent_prompt(text: str) -> str:
    """What a fine-tuned agent is asked: its input followed by the response marker."""
    return text + RESPONSE_MARKER
