"""The REPL sandbox: `host` runs a persistent worker subprocess per RLM node; `worker` is the child
side (standard library only); `confine` is what the worker applies to itself (Landlock, seccomp);
`policy` decides on the host which layers a run gets and reports them (`rlm doctor`)."""
from .host import CallHandler, CallRefused, ExecResult, Sandbox, SandboxOptions, SubprocessSandbox, sweep_stale

__all__ = ["CallHandler", "CallRefused", "ExecResult", "Sandbox", "SandboxOptions", "SubprocessSandbox", "sweep_stale"]
