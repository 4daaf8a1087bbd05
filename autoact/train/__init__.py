"""LoRA training of the plan, tool and reflect agents."""
