"""Exit statuses and the exception family that carries them to the CLI's one error boundary."""
from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Process exit codes (documented in README and man/rlm.1)."""

    OK = 0
    ERROR = 1  # internal error (a bug)
    USAGE = 2  # bad command line
    INPUT = 3  # missing, unreadable, encrypted or empty input
    BACKEND = 4  # auth, unknown model, unreachable server, rate limit after retries
    LIMIT = 5  # a limit stopped the run before an answer (iterations, calls, cost, time)
    UNSUPPORTED = 6  # --evidence required: the answer has no verified evidence
    INTERRUPTED = 130  # Ctrl-C


class RLMError(Exception):
    """Base of every error the CLI turns into a one-line message and an exit status."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(RLMError):
    exit_status = ExitStatus.USAGE


class InputError(RLMError):
    """Input could not be read. The message names the file and the cause."""

    exit_status = ExitStatus.INPUT

    def __init__(self, path: str, cause: str, *, hint: str | None = None):
        super().__init__(f"{path}: {cause}", hint=hint)
        self.path = path
        self.cause = cause


class ConfigError(RLMError):
    exit_status = ExitStatus.USAGE


class BackendError(RLMError):
    """The model backend failed: auth, unknown model, unreachable, rate limited after retries."""

    exit_status = ExitStatus.BACKEND


class ContextOverflow(BackendError):
    """A prompt is larger than the model's context window."""


class LimitExceeded(RLMError):
    """A budget (iterations, calls, tokens, cost, time) ran out before an answer."""

    exit_status = ExitStatus.LIMIT


class BudgetSpent(LimitExceeded):
    """A budget shared by many runs (a batch's --max-cost/--max-tokens/--max-calls) is spent."""


class SandboxError(RLMError):
    """The sandbox could not be set up as requested (e.g. --sandbox strict unavailable)."""

    exit_status = ExitStatus.ERROR
