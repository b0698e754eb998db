"""Model backends: the `Model` protocol and the scripted fake (`scripted`), LiteLLM's Router
(`router`), the OpenAI-compatible fast path (`openai_compat`) and the built-in local model (`local`)."""
