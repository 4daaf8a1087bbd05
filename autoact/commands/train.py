"""Front end of LoRA training (``Self_Planning/Train/train_lora.py`` and ``deepspeed --module
autoact.commands.train``): runs :mod:`autoact.stages.training` on ``sys.argv`` with one-line
errors. The flags are the dataclasses of :mod:`autoact.train.lora` (``--help`` lists them)."""

from __future__ import annotations

import logging
import os
import sys


def main() -> int:
    from autoact.errors import AutoActError
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        from autoact.stages import training
        if {"-h", "--help"} & set(sys.argv[1:]):
            print(training.help_text(), end="")
            return 0
        training.run(training.from_flags())
    except AutoActError as err:
        if os.environ.get("AUTOACT_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if os.environ.get("AUTOACT_DEBUG") or not err.filename:
            raise
        from autoact.cli import file_error
        print(f"error: {file_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun with --resume_from_checkpoint True to continue from the last "
              "checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
