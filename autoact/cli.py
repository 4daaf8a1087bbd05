"""The scripts' runner: one-line errors and exit codes, ``--debug`` logging, secret redaction."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from autoact.errors import AutoActError

log = logging.getLogger("autoact")


def setup_logging(debug: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(main: Callable[[argparse.Namespace], object], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, call ``main(args)`` and turn user errors into one line on stderr.

    Exit codes: 0 success, 2 user error (bad input, flag, unreachable server), 130 interrupted.
    Secrets the flags or the environment carry are registered first, and everything written to
    stdout and stderr goes through :func:`autoact.secrets.redact_text`.
    """
    from autoact import secrets
    secrets.register_environment()
    guard_streams()
    args = parser.parse_args(argv)
    register_arg_secrets(args)
    debug = bool(getattr(args, "debug", False))
    setup_logging(debug)
    try:
        for spec in getattr(args, "task_spec", None) or []:
            from autoact.tasks import register_spec
            register_spec(spec)
        main(args)
    except AutoActError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        if debug or not err.filename:
            raise
        print(f"error: {file_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted: finished records are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


def file_error(err: OSError) -> str:
    """One line for a failed read or write of a named file (a full disk, a read-only or
    system folder, a missing permission)."""
    return f"{err.filename}: {err.strerror or err}"


def guard_streams() -> None:
    """Route stdout and stderr through the secret redaction (once per process)."""
    from autoact.secrets import RedactingStream
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)


def register_arg_secrets(args: argparse.Namespace) -> None:
    """Flags that are keys, and the credentials of flags that are URLs, are secrets."""
    from autoact import secrets
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, str):
                continue
            if any(k in name.lower() for k in ("key", "token", "password", "secret")):
                secrets.register(v)
            if "://" in v:
                secrets.register_url(v)
