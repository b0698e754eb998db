"""Options shared by `rlm ask` and `rlm chat` (and later batch), declared once, and the settings they
make: models, reading, limits, display."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .. import defaults
from ..completion import complete_profiles
from ..runs import RunOptions


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class OcrMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


def _size(value: Optional[str]) -> Optional[int]:
    """--max-download SIZE: '50MB', '1.5GB', '500k' or bytes."""
    if value is None:
        return None
    from ..ingest.base import parse_size

    try:
        return parse_size(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


class SandboxMode(str, Enum):
    auto = "auto"
    strict = "strict"
    basic = "basic"


class EvidenceMode(str, Enum):
    optional = "optional"
    required = "required"


Profile = Annotated[Optional[str], typer.Option("-p", "--profile", envvar="RLM_PROFILE", help="Profile from the config file.",
                                                 autocompletion=complete_profiles)]
Config = Annotated[Optional[Path], typer.Option("--config", envvar="RLM_CONFIG",
                                                help="Config file (LiteLLM format with an `rlm` section).")]
Model = Annotated[Optional[str], typer.Option("-m", "--model", help="Root model, e.g. openai/gpt-4o-mini (overrides the profile).")]
SubModel = Annotated[Optional[str], typer.Option("--sub-model",
                                                 help="Model for llm_query sub-calls (default: the profile's, else the root model).")]
ApiBase = Annotated[Optional[str], typer.Option("--api-base", help="Base URL for both models (any OpenAI-compatible server).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object (answer, usage, cost...) instead of the answer.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing on stderr but errors.")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="One plain line per event on stderr; tracebacks on errors.")]
MaxIterations = Annotated[Optional[int], typer.Option(
    "--max-iterations", min=1, help=f"Root turns before a last request for an answer [default: {defaults.MAX_ITERATIONS}].")]
MaxDepth = Annotated[Optional[int], typer.Option(
    "--max-depth", min=0, help=f"How deep rlm_query may recurse (0: plain sub-calls) [default: {defaults.MAX_DEPTH}].")]
MaxCalls = Annotated[Optional[int], typer.Option("--max-calls", min=1, help="Model calls over the whole tree.")]
MaxCost = Annotated[Optional[float], typer.Option("--max-cost", min=0, help="Stop when the run has cost this many USD.")]
MaxTokens = Annotated[Optional[int], typer.Option("--max-tokens", min=1, help="Tokens (prompt+completion) over the whole tree.")]
Timeout = Annotated[Optional[float], typer.Option("--timeout", min=0.1, help="Wall-clock limit for the run, in seconds.")]
ExecTimeout = Annotated[float, typer.Option("--exec-timeout", min=0.1, help="Limit for one code block in the REPL, in seconds.")]
Concurrency = Annotated[Optional[int], typer.Option("--concurrency", min=1,
                                                   help=f"Parallel model calls [default: {defaults.CONCURRENCY}].")]
Sandbox = Annotated[SandboxMode, typer.Option(
    "--sandbox", help="auto: strongest available; strict: refuse without file+network isolation; basic: process only.")]
Evidence = Annotated[EvidenceMode, typer.Option(
    "--evidence", help="required: an answer without verified evidence (a quote found in the sources) ends with "
                       "status 'unsupported' and exit 6, after one request to the model for evidence.")]
NoReread = Annotated[bool, typer.Option(
    "--no-reread", help="Skip the second reading: by default the sub model re-reads the text around the answer's "
                        "evidence; an answer the model keeps against it is labelled 'disputed', or gives way to a reading "
                        "copied from that text ('reread').")]
Include = Annotated[List[str], typer.Option("--include", help="Glob of files to read in directories (repeatable).")]
Exclude = Annotated[List[str], typer.Option("--exclude", help="Glob of files to skip in directories (repeatable).")]
Password = Annotated[Optional[str], typer.Option("--password", help="Password for encrypted PDFs.")]
PdfEngine = Annotated[str, typer.Option("--pdf-engine", help="auto | pdfium | pypdf.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not use the parse cache.")]
ResponseCache = Annotated[bool, typer.Option(
    "--cache", help="Answer repeated model calls from rlm's response cache (and keep new answers there); "
                    "calls at a configured temperature > 0 are not cached.")]
CacheSampled = Annotated[bool, typer.Option(
    "--cache-sampled", help="With --cache: also cache calls whose configured temperature is above 0.")]
NoPromptCache = Annotated[bool, typer.Option(
    "--no-prompt-cache", help="Do not mark requests for the provider's prompt cache (on by default where supported).")]
Ocr = Annotated[OcrMode, typer.Option("--ocr", help="OCR scanned PDF pages and images (needs the [ocr] extra): "
                                                     "auto (pages without text, images named here), always, never.")]
MaxDownload = Annotated[Optional[int], typer.Option("--max-download", metavar="SIZE", parser=_size,
                                                    help="Largest URL download, e.g. 50MB, 1GB [default: 200MB].")]
Trace = Annotated[Optional[Path], typer.Option("--trace", help="Also write the trajectory (JSON lines) to FILE.")]
ColorOpt = Annotated[Color, typer.Option(
    "--color", help="Colour on stderr: auto (off when NO_COLOR is set or not a terminal), always, never.")]
Continue = Annotated[bool, typer.Option(
    "-c", "--continue", help="Follow up in the latest conversation: same documents (plus any SOURCES given), same REPL variables.")]
ConversationName = Annotated[Optional[str], typer.Option(
    "--conversation", "--cid", metavar="NAME", help="Continue the conversation NAME, or start it under that name.")]
ConversationMaxCost = Annotated[Optional[float], typer.Option(
    "--conversation-max-cost", min=0, metavar="USD", help="Cap for the whole conversation (kept with it), on top of --max-cost per question.")]


@dataclass
class AskOptions:
    sources: list[str]
    question: str
    profile: str | None = None
    config: str | None = None
    model: str | None = None
    sub_model: str | None = None
    api_base: str | None = None
    fmt: str = "text"
    output: Path | None = None
    quiet: bool = False
    verbose: bool = False
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    password: str | None = None
    pdf_engine: str = "auto"
    use_cache: bool = True
    color: str = "auto"
    estimate: bool = False
    continue_latest: bool = False  # -c: the latest conversation
    conversation: str | None = None  # --conversation NAME: continue it, or start it
    conversation_max_cost: float | None = None
    run: RunOptions = field(default_factory=RunOptions)
    ocr: str = "auto"  # --ocr auto|always|never
    max_download: int | None = None  # --max-download bytes (None: the ingest default, 200 MB)


def ask_options(params: dict, *, sources: list[str], question: str) -> AskOptions:
    """AskOptions from a command's typer parameters (the names declared above)."""
    g = params.get
    run = RunOptions(max_iterations=g("max_iterations"), max_depth=g("max_depth"), max_calls=g("max_calls"),
                     max_cost=g("max_cost"), max_tokens=g("max_tokens"), timeout=g("timeout"),
                     exec_timeout=g("exec_timeout", defaults.EXEC_TIMEOUT), concurrency=g("concurrency"),
                     sandbox=g("sandbox", SandboxMode.auto).value, trace=g("trace"),
                     prompt_cache=False if g("no_prompt_cache") else None,
                     cache=True if g("response_cache") or g("cache_sampled") else None,
                     cache_sampled=True if g("cache_sampled") else None,
                     evidence=g("evidence", EvidenceMode.optional).value, reread=not g("no_reread"))
    fmt = g("fmt") or Format.text
    return AskOptions(
        sources=list(sources), question=question, profile=g("profile"), config=str(g("config")) if g("config") else None,
        model=g("model"), sub_model=g("sub_model"), api_base=g("api_base"),
        fmt="json" if g("json_out") else fmt.value, output=g("output"), quiet=bool(g("quiet")), verbose=bool(g("verbose")),
        include=list(g("include") or []), exclude=list(g("exclude") or []), password=g("password"),
        pdf_engine=g("pdf_engine") or "auto", use_cache=not g("no_cache"), color=g("color", Color.auto).value,
        estimate=bool(g("estimate")), run=run, continue_latest=bool(g("continue_latest")),
        conversation=g("conversation"), conversation_max_cost=g("conversation_max_cost"),
        ocr=g("ocr", OcrMode.auto).value, max_download=g("max_download"),
    )
