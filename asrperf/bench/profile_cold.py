"""Where the jax backend's cold start goes: ``python -m asrperf.bench.profile_cold AUDIO``.

Three views, each from fresh processes (a cold start is what is measured):

- phases (default): one cold start with a timestamp around every step of loading
  (weights, verification, conversion, fingerprint, tokenizer, parameters, compile),
  printed as a tree;
- ``--cprofile N``: the same cold start under cProfile, its N costliest functions by
  cumulative time (cProfile slows Python-heavy steps such as tracing; use it to find
  hot spots, the phases to size them);
- ``--compare ROUNDS``: ``asrperf.bench.cold`` for jax (persistent compilation cache
  filled first) and openai-whisper, alternating, whole-process medians and their ratio.

Example: ``python -m asrperf.bench.profile_cold --model tiny.en --batch-size 8 --compare 5 utt.wav``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import wraps
from pathlib import Path

# The steps timed in the phases view: (module, attribute, phase name, parent phase). The
# backend module binds some names at import (``pipeline.load_checkpoint``), so each is
# patched where it is looked up when the pipeline is built.
_PIPELINE = "asrperf.backends.jax_whisper.pipeline"
_PROBES = (
    (_PIPELINE, "resolve_model", "resolve_model", "load"),
    (_PIPELINE, "load_checkpoint", "load_checkpoint", "load"),
    ("asrperf.weights.sources", "verify_pinned", "verify_pinned (sha256)", "load_checkpoint"),
    ("asrperf.weights.sources", "read_ct2_model", "read_ct2_model", "load_checkpoint"),
    ("asrperf.weights.sources", "convert", "convert", "load_checkpoint"),
    (_PIPELINE, "checkpoint_fingerprint", "fingerprint", "load"),
    ("asrperf.tokenizer", "tokenizer_for_model", "tokenizer", "load"),
    ("asrperf.backends.jax_whisper.decode", "token_spec", "token_spec", "load"),
    ("asrperf.backends.jax_whisper.params", "params_from_state", "params (host casts + device_put)", "load"),
    ("asrperf.backends.jax_whisper.model", "mel_filters", "mel_filters", "load"),
    ("jax.experimental.serialize_executable", "deserialize_and_load", "load stored executables", "compile"),
    ("jax.stages", "Lowered.compile", "XLA compile (or JAX cache read)", "compile"),
)
_COMPILE_STEPS = ("load stored executables", "XLA compile (or JAX cache read)")


def _patch(module_name: str, attribute: str, record) -> None:
    import importlib

    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name, None)
    if original is None:
        raise SystemExit(f"profile_cold: {module_name}.{attribute} no longer exists; update _PROBES to the "
                         "current code")

    @wraps(original)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            record(time.perf_counter() - started)

    setattr(owner, name, timed)


def _child(args) -> dict:
    """One cold start in this (fresh) process; returns its phases in seconds."""
    started = time.perf_counter()
    import jax  # noqa: F401  (the framework import, as asrperf.bench.cold counts it)

    from asrperf.audio import load_audio
    from asrperf.backends import build_pipeline, make_config

    samples = load_audio(args.audio)
    phases: dict[str, float] = {"import": time.perf_counter() - started}
    for module_name, attribute, phase, _parent in _PROBES:
        def record(seconds, phase=phase):
            phases[phase] = phases.get(phase, 0.0) + seconds
        _patch(module_name, attribute, record)
    options = {"compilation_cache_dir": args.compilation_cache_dir} if args.compilation_cache_dir else {}
    config = make_config("jax", args.model, "cpu", None, args.batch_size, **options)

    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    loading = time.perf_counter()
    pipeline = build_pipeline(config)
    loaded = time.perf_counter()
    pipeline.transcribe(samples)
    first = time.perf_counter()
    if profiler is not None:
        profiler.disable()
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(args.cprofile)
    pipeline.transcribe(samples)
    second = time.perf_counter()
    compile_s = pipeline.compile_s
    phases.update({
        "load": loaded - loading - compile_s,
        "compile": compile_s,
        "trace, lower, keys": compile_s - sum(phases.get(step, 0.0) for step in _COMPILE_STEPS),
        "first call": first - loaded,
        "second call": second - first,
        "total in process": second - started,
    })
    phases["other load steps"] = phases["load"] - sum(
        phases.get(phase, 0.0) for _m, _a, phase, parent in _PROBES if parent == "load")
    return {"phases": phases, "compilation_cache": pipeline.compilation_cache,
            "executables_loaded": pipeline.executables_loaded}


def _print_tree(phases: dict[str, float]) -> None:
    children: dict[str, list[str]] = {}
    for _module, _attribute, phase, parent in _PROBES:
        if phase in phases and parent != "compile":
            children.setdefault(parent, []).append(phase)
    children.setdefault("load", []).append("other load steps")
    children["compile"] = ["trace, lower, keys", *_COMPILE_STEPS]

    def show(phase: str, depth: int) -> None:
        print(f"{'  ' * depth}{phase:<{40 - 2 * depth}} {phases.get(phase, 0.0):7.3f} s")
        for child in children.get(phase, []):
            show(child, depth + 1)

    for top in ("import", "load", "compile", "first call", "second call", "total in process"):
        show(top, 0)


def _run_cold(backend: str, args, cache_dir: str | None) -> dict:
    command = [sys.executable, "-m", "asrperf.bench.cold", "--backend", backend, "--model", args.model, args.audio]
    if backend == "jax" and args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if cache_dir:
        command += ["--compilation-cache-dir", cache_dir]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return {"process_s": wall, **json.loads(out.stdout.strip().splitlines()[-1])}


def _compare(args) -> None:
    cache_dir = args.compilation_cache_dir or tempfile.mkdtemp(prefix="asrperf-jax-cache-")
    _run_cold("jax", args, cache_dir)  # fills the persistent compilation cache
    runs: dict[str, list[dict]] = {"jax": [], "openai-whisper": []}
    for _ in range(args.compare):
        for backend in runs:  # alternating, so drifting load on the machine hits both alike
            runs[backend].append(_run_cold(backend, args, cache_dir if backend == "jax" else None))
    fields = ("process_s", "import_s", "load_s", "compile_s", "first_call_s", "second_call_s")
    print(f"{'backend':<16}" + "".join(f"{f:>14}" for f in fields) + "   (medians of "
          f"{args.compare} fresh processes)")
    medians = {}
    for backend, results in runs.items():
        medians[backend] = {f: statistics.median(r.get(f, 0.0) for r in results) for f in fields}
        print(f"{backend:<16}" + "".join(f"{medians[backend][f]:14.2f}" for f in fields))
    caches = sorted({r["compilation_cache"] for r in runs["jax"]})
    ratio = medians["jax"]["process_s"] / medians["openai-whisper"]["process_s"]
    print(f"jax / openai-whisper, whole process: {ratio:.2f} (jax compilation cache: {', '.join(caches)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--compilation-cache-dir", default=None,
                        help="persistent compilation cache (phases: used as is; --compare: filled first)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also print the N costliest functions of load + first call (to stderr)")
    parser.add_argument("--compare", type=int, default=0, metavar="ROUNDS",
                        help="compare whole cold processes of jax and openai-whisper instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("audio")
    args = parser.parse_args(argv)
    args.audio = str(Path(args.audio).resolve())
    if args.child:
        print(json.dumps(_child(args)))
        return 0
    if args.compare:
        _compare(args)
        return 0
    command = [sys.executable, "-m", "asrperf.bench.profile_cold", "--child", *(argv or sys.argv[1:])]
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    if out.returncode != 0:
        return out.returncode
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"jax {args.model} batch {args.batch_size}, compilation cache: {result['compilation_cache']}, "
          f"executables loaded whole: {result['executables_loaded']}")
    _print_tree(result["phases"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
