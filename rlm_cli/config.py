"""Which models to call and how: resolves -m/--sub-model/--api-base/--profile into a backend.

(Profiles in LiteLLM's config format are resolved here too; see `resolve`.)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import BackendError


@dataclass
class Resolved:
    backend: object  # a model.Model
    root_model: str
    sub_model: str
    profile: str | None = None
    limits: dict = field(default_factory=dict)  # defaults from the profile (CLI flags override)
    concurrency: int | None = None
    notices: list[str] = field(default_factory=list)


NO_MODEL_HINT = ("pass -m provider/model (e.g. -m openai/gpt-4o-mini with OPENAI_API_KEY set, or "
                 "-m openai/NAME --api-base http://host:port/v1 for any OpenAI-compatible server)")


def resolve(*, profile: str | None = None, config_path: str | None = None, model: str | None = None,
            sub_model: str | None = None, api_base: str | None = None, concurrency: int = 8) -> Resolved:
    from .llm import Endpoint, LLMBackend

    model = model or os.environ.get("RLM_MODEL")
    if not model:
        raise BackendError("no model configured", hint=NO_MODEL_HINT)
    sub_model = sub_model or os.environ.get("RLM_SUB_MODEL") or model
    endpoints = {name: Endpoint(name, api_base=api_base) for name in {model, sub_model}}
    backend = LLMBackend(endpoints, default_api_base=api_base, concurrency=concurrency)
    return Resolved(backend, model, sub_model, profile=profile)
