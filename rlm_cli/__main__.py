"""`python -m rlm_cli ...` is the same as `rlm ...`."""
from .cli import run

if __name__ == "__main__":
    run()
