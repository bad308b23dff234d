"""What made the difference: each factor is a pair of pipelines that differ in that one thing.

The article compared openai-whisper as shipped with whisper-jax as shipped and credited the
framework. Those two differ in framework, in code (a hand-tuned port against a library), in
long-form algorithm and, for whisper-jax, in JAX version. Each pair below changes one of
those and holds the rest, so its ratio can be read as that factor alone; where a pair cannot
avoid changing two things together its label says so. Every ratio is measured as ABBA pairs
in one process (``asrperf.paired``) and printed with its interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def option_label(name: str, value) -> str:
    """How a backend option reads in labels: the torch backend's compile="none" is eager PyTorch."""
    return "eager" if (name, value) == ("compile", "none") else str(value)


@dataclass(frozen=True)
class Side:
    """One pipeline of a pair: the ``make_config`` arguments beyond model, device and dtype."""

    backend: str
    longform: str
    batch_size: int | None = None
    options: tuple[tuple[str, object], ...] = ()  # backend options, e.g. (("compile", "inductor"),)
    dtype: str = "float32"

    @property
    def label(self) -> str:
        batch = f" b{self.batch_size}" if self.batch_size else ""
        extra = "".join(f" {option_label(name, value)}" for name, value in self.options)
        dtype = f" {self.dtype}" if self.dtype != "float32" else ""
        return f"{self.backend}{extra}{dtype} {self.longform}{batch}"

    @property
    def slug(self) -> str:
        return self.label.replace(" ", "-")

    def config_kwargs(self) -> dict:
        return {"backend": self.backend, "longform": self.longform, "batch_size": self.batch_size,
                **dict(self.options)}


@dataclass(frozen=True)
class Factor:
    """``first`` and ``second`` differ in ``name`` only (see ``held``); the ratio is second / first."""

    name: str
    held: str
    first: Side
    second: Side
    quick: bool = True  # part of the quick preset's first answer
    note: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        return f"{self.name.replace(' ', '_')}-{self.first.slug}-vs-{self.second.slug}"


_JAX_B8 = Side("jax", "chunked", 8)
_TORCH_B8 = Side("torch", "chunked", 8, (("compile", "inductor"),))
_TORCH_EAGER_B8 = Side("torch", "chunked", 8, (("compile", "none"),))
_OW_SEQ = Side("openai-whisper", "sequential")
_JAX_SEQ = Side("jax", "sequential")
_OW_B8 = Side("openai-whisper", "chunked", 8)
_WJ_B8 = Side("whisper-jax", "chunked", 8)

FACTORS: tuple[Factor, ...] = (
    Factor("framework, equal effort", "same port, algorithm and batch", _TORCH_B8, _JAX_B8,
           note="asrperf's own Whisper in PyTorch (Inductor) and in JAX (XLA), engineered alike"),
    Factor("framework, as shipped", "same plan and batch", _OW_B8, _WJ_B8,
           note="openai-whisper's batched decode against upstream whisper-jax (JAX 0.4.30), both unmodified"),
    # Not in the quick preset: Inductor against eager moves the time 5-15 %, and its eager pipeline
    # costs the preset most of a minute; the full preset has it.
    Factor("compiler", "same PyTorch code", _TORCH_B8, _TORCH_EAGER_B8, quick=False),
    Factor("implementation", "PyTorch, same plan and batch", _TORCH_B8, _OW_B8,
           note="asrperf's PyTorch port against openai-whisper's code"),
    Factor("implementation + JAX version", "same plan and batch", _JAX_B8, _WJ_B8,
           note="asrperf's port on current JAX against whisper-jax on JAX 0.4.30: code and version together"),
    Factor("algorithm", "jax", _JAX_B8, _JAX_SEQ),
    Factor("algorithm", "openai-whisper", _OW_B8, _OW_SEQ, quick=False),
    Factor("article's comparison", "nothing: framework, code and algorithm all differ", _JAX_B8, _OW_SEQ,
           note="what the article timed: a tuned JAX port, batched chunks, against openai-whisper as shipped"),
    # The engines practitioners pick on a CPU, beside the frameworks, at the same (sequential) algorithm.
    Factor("engine", "sequential seek, same weights", _JAX_SEQ, Side("faster-whisper", "sequential"),
           note="CTranslate2 (faster-whisper) against asrperf's JAX port"),
    Factor("engine", "sequential seek, same weights", _JAX_SEQ, Side("whisper-cpp", "sequential", dtype="float16"),
           note="whisper.cpp (ggml, its default float16 file; the PyPI wheel has no AVX-512) against asrperf's JAX port"),
)


def factor_by_id(factor_id: str) -> Factor:
    for factor in FACTORS:
        if factor.id == factor_id:
            return factor
    raise KeyError(factor_id)
