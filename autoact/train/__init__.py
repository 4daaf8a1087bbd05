"""LoRA training of the plan, tool and reflect agents."""

#: what a trained adapter's folder holds beside the weights: its settings, data hash and losses
RECORD_FILE = "autoact_train.json"
