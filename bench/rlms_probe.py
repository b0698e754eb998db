"""Run inside the separate venv holding the official `rlms` package (never imported by bench itself).

    /tmp/rlms-venv/bin/python bench/rlms_probe.py repl --n 3000
    /tmp/rlms-venv/bin/python bench/rlms_probe.py fanout --url URL --concurrency 16
    /tmp/rlms-venv/bin/python bench/rlms_probe.py turns --url URL --iterations 20

Prints one JSON object on stdout.
"""
import argparse
import json
import statistics
import time


def repl(n: int) -> dict:
    from rlm.environments.local_repl import LocalREPL

    env = LocalREPL(context_payload="hello world")
    for _ in range(50):
        env.execute_code("x = 1")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        env.execute_code("x = 1")
        times.append(time.perf_counter() - t0)
    env.cleanup()
    times.sort()
    return {"median_ms": statistics.median(times) * 1e3, "p95_ms": times[int(0.95 * n)] * 1e3, "n": n}


def fanout(url: str, concurrency: int) -> dict:
    import rlm
    from rlm.core import lm_handler

    init = lm_handler.LMHandler.__init__

    def patched(self, *a, **kw):  # rlms has no option for its batch limit (default 16): set it like ours
        init(self, *a, **kw)
        self.batch_max_concurrent = concurrency

    lm_handler.LMHandler.__init__ = patched
    kw = {"base_url": url, "api_key": "sk-bench"}
    r = rlm.RLM(backend="openai", backend_kwargs={"model_name": "root", **kw}, other_backends=["openai"],
                other_backend_kwargs=[{"model_name": "sub", **kw}], max_iterations=3,
                max_concurrent_subcalls=concurrency)
    t0 = time.perf_counter()
    out = r.completion("filler. " * 1000, root_prompt="fan out")
    return {"wall_s": time.perf_counter() - t0, "answer": out.response, "version": _version()}


def turns(url: str, iterations: int) -> dict:
    """A root model that never answers: rlms runs `iterations` turns against the stub (the driver
    measures the gaps between consecutive root requests at the stub)."""
    import rlm

    r = rlm.RLM(backend="openai", backend_kwargs={"model_name": "root", "base_url": url, "api_key": "sk-bench"},
                max_iterations=iterations)
    t0 = time.perf_counter()
    out = r.completion("filler text. " * 1000, root_prompt="count")
    return {"wall_s": time.perf_counter() - t0, "answer": str(out.response)[:100], "version": _version()}


def _version() -> str:
    from importlib.metadata import version

    return version("rlms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["repl", "fanout", "turns"])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--url")
    p.add_argument("--concurrency", type=int, default=16)
    a = p.parse_args()
    if a.workload == "repl":
        res = repl(a.n)
    elif a.workload == "turns":
        res = turns(a.url, a.iterations)
    else:
        res = fanout(a.url, a.concurrency)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
