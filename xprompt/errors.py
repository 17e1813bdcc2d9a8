"""Errors meant for the user.

An ``XPromptError`` carries a message that names the input that was wrong and
what would be right, plus the exit code the CLI uses and the HTTP status the
server answers with. Anything that is not an ``XPromptError`` is a bug and is
shown with its traceback.
"""

from __future__ import annotations


class XPromptError(Exception):
    """Base class of every error that is the user's to fix."""

    exit_code: int = 2
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(XPromptError):
    """A flag, config file or option is invalid or inconsistent."""


class UnknownLanguageError(XPromptError):
    """A language code or name could not be resolved to a canonical code."""

    http_status = 422


class TemplateError(XPromptError):
    """A template file is invalid, or rendering it failed (missing field, bad Jinja)."""


class DataError(XPromptError):
    """A dataset file cannot be read at all (as opposed to one bad row, which is recorded)."""


class ResumeError(XPromptError):
    """An existing output file belongs to a different run and cannot be resumed."""


class BackendError(XPromptError):
    """The inference engine could not be started or failed as a whole."""

    exit_code = 3
    http_status = 502


class RequestTooLongError(XPromptError):
    """A single prompt does not fit the model's context window."""

    http_status = 400


class DependencyMissingError(XPromptError):
    """An optional dependency is needed for the requested feature."""

    exit_code = 3
    http_status = 500


class EngineDiedError(BackendError):
    """The inference engine died while a job was running (its process was killed or crashed).

    The rows finished before are saved; the same command resumes after the engine is back.
    """

    exit_code = 4
    http_status = 503


class OutputError(XPromptError):
    """The output cannot be written: not writable, a directory, the disk full, or locked."""

    exit_code = 5


class OutputLockedError(OutputError):
    """Another process is writing the same output (its lock file is held)."""

    exit_code = 6
