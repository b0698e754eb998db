"""Test helpers shipped with rlm_cli (e.g. a local OpenAI-compatible stub server)."""
