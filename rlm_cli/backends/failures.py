"""Backend failures as one line that says what to fix: the openai SDK's / litellm's exceptions and the
fast path's transport errors mapped to BackendError (exit 4) or ContextOverflow."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import redact
from ..errors import BackendError, ContextOverflow

if TYPE_CHECKING:
    from .router import Endpoint


def backend_error(exc: Exception, ep: Endpoint) -> Exception:
    """Map an openai/litellm exception (litellm's subclass openai's) to one line saying what to fix."""
    if isinstance(exc, BackendError):
        return exc
    from . import openai_compat

    if isinstance(exc, (openai_compat.APIError, openai_compat.APIConnectionError)):
        return _compat_error(exc, ep)
    try:
        import openai
    except ImportError:  # pragma: no cover
        return BackendError(redact.redact(f"{ep.model}: {exc}"))
    where = f" at {ep.api_base}" if ep.api_base else ""
    detail = redact.redact(_short(exc))
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        msg, hint = f"{ep.model}: authentication failed{where}", "check the API key (env var or `api_key` in the profile)"
    elif isinstance(exc, openai.NotFoundError):
        msg, hint = f"{ep.model}: model not found{where}", "check the model name (`rlm profiles show`)"
    elif isinstance(exc, openai.RateLimitError):
        msg, hint = f"{ep.model}: rate limited{where} after retries", "lower --concurrency or wait"
    elif isinstance(exc, (openai.APITimeoutError,)):
        msg, hint = f"{ep.model}: request timed out{where}", "raise the timeout or check the server"
    elif isinstance(exc, openai.APIConnectionError):
        msg, hint = f"{ep.model}: cannot reach the server{where}", "check --api-base / api_base and that the server is up"
    elif isinstance(exc, openai.BadRequestError) and "context" in detail.lower() and ("length" in detail.lower() or "window" in detail.lower()):
        return ContextOverflow(f"{ep.model}: prompt too long for the model's context window")
    elif isinstance(exc, openai.APIStatusError):
        msg, hint = f"{ep.model}: the server answered {exc.status_code}{where}", None
    elif type(exc).__module__.startswith("litellm") or "LLM Provider NOT provided" in str(exc):
        msg, hint = f"{ep.model}: {detail or 'unknown model or provider'}", "use provider/model, e.g. openai/gpt-4o-mini"
        return BackendError(msg, hint=hint)
    else:
        return exc
    err = BackendError(f"{msg}: {detail}" if detail else msg, hint=hint)
    return err


def _compat_error(exc: Exception, ep: Endpoint) -> BackendError:
    """backend_error for the fast path's transport (same messages as for the SDK's exceptions)."""
    from . import openai_compat

    where = f" at {ep.api_base}" if ep.api_base else ""
    detail = redact.redact(_short(exc))
    if isinstance(exc, openai_compat.APITimeoutError):
        msg, hint = f"{ep.model}: request timed out{where}", "raise the timeout or check the server"
    elif isinstance(exc, openai_compat.APIConnectionError):
        msg, hint = f"{ep.model}: cannot reach the server{where}", "check --api-base / api_base and that the server is up"
    elif exc.status_code in (401, 403):
        msg, hint = f"{ep.model}: authentication failed{where}", "check the API key (env var or `api_key` in the profile)"
    elif exc.status_code == 404 or (exc.status_code == 400 and _names_a_bad_model(detail)):
        msg, hint = f"{ep.model}: model not found{where}", "check the model name (`rlm profiles show`)"
    elif exc.status_code == 429:
        msg, hint = f"{ep.model}: rate limited{where} after retries", "lower --concurrency or wait"
    elif exc.status_code in (400, 413) and "context" in detail.lower() and ("length" in detail.lower() or "window" in detail.lower()):
        return ContextOverflow(f"{ep.model}: prompt too long for the model's context window")
    else:
        msg, hint = f"{ep.model}: the server answered {exc.status_code}{where}", None
    return BackendError(f"{msg}: {detail}" if detail else msg, hint=hint)


def _names_a_bad_model(detail: str) -> bool:
    """Servers that answer 400 for an unknown model (a LiteLLM proxy: "Invalid model name passed")."""
    d = detail.lower()
    return "model" in d and any(s in d for s in ("invalid model", "model not found", "does not exist", "unknown model", "model_not_found"))


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    text = " ".join(str(text).split())
    return text[:300]
