"""Image2Text (the question's caption and OCR text, as the reference does for ScienceQA) and
Text2Image (selectable in the pool, but no task needs an image generator: it says so)."""

from __future__ import annotations

import ast

from autoact.tools.base import ToolContext
from autoact.tools.wiki import one_line

NO_IMAGE = "This question doesn't have an image."


def ocr_words(orc: str) -> str:
    """ScienceQA stores OCR as the repr of a list of (box, text, confidence) tuples; keep the
    words. ``ast.literal_eval`` parses literals only (never code); anything else is kept as is."""
    text = orc.strip()
    if not text.startswith("["):
        return one_line(text)
    try:
        items = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return one_line(text)
    words = [str(it[1]) for it in items
             if isinstance(it, (list, tuple)) and len(it) >= 2 and isinstance(it[1], str)]
    return ", ".join(words) if words else "no text detected"


def image2text(arg: str, ctx: ToolContext) -> str:
    caption = str(ctx.fields.get("caption") or "").strip()
    orc = str(ctx.fields.get("orc") or ctx.fields.get("ocr") or "").strip()
    if not caption or caption == "no img" or orc == "no img":
        return NO_IMAGE
    return one_line(f"Image caption: {caption} OCR result: {ocr_words(orc) if orc else 'no text detected'}")


def text2image(arg: str, ctx: ToolContext) -> str:
    return ("Text2Image is not available here: no image-generation model is configured and no "
            "task's answer needs one. Use a text tool instead.")
