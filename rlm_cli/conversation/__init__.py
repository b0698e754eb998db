"""Conversations: follow-up questions over one REPL whose variables survive (in-process and across
processes). `Conversation` is the one object every front end uses; `Store` keeps them on disk."""
from .session import Conversation
from .store import Exchange, Meta, Store

__all__ = ["Conversation", "Exchange", "Meta", "Store"]
