"""One cold start, measured phase by phase in a fresh process: ``python -m asrperf.bench.cold``.

Phases: ``import_s`` (asrperf and the backend's framework), ``load_s`` (weights to
a ready pipeline, compile excluded), ``compile_s`` (jax and torch-inductor; 0 elsewhere; with
the batch buckets the first call compiled, which ``bucket_compile_s`` lists by size),
``first_call_s`` and ``second_call_s`` (the same audio twice: the article's "the
second transcription is faster" claim, measured). Prints one JSON object; on a GPU it
holds this process's peak device memory and JAX's GPU memory policy, which the parent
records instead of reading its own GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# Packages a backend reads data files from but never imports: the jax backend takes
# openai-whisper's vocabularies and mel filters from its package folder, because
# ``import whisper`` imports torch; importing it here would charge jax's cold start for torch.
_READ_AS_DATA = {"jax": ("whisper",)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", required=True)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--longform", choices=("sequential", "chunked"), default=None,
                        help="long-form algorithm (default: the backend's native one)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for the backend; also narrows this process's CPU affinity, which "
                             "XLA's thread pool follows (default: the inherited affinity's count)")
    parser.add_argument("--compilation-cache-dir", default=None)
    parser.add_argument("--compile", choices=("none", "inductor"), default=None,
                        help="the torch backend's compile mode (default: inductor)")
    parser.add_argument("audio")
    args = parser.parse_args(argv)

    if args.threads:
        import os

        # Before any framework starts its thread pool, as pytest's --asrperf-threads does.
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    started = time.perf_counter()
    import importlib

    from asrperf.hardware import share_gpu_memory

    jax_gpu_memory = share_gpu_memory()  # before the framework imports: JAX reads it when it starts
    from asrperf.audio import load_audio
    from asrperf.backends import backend_info, build_pipeline, make_config
    from asrperf.backends.devices import peak_device_memory
    from asrperf.bench.record import run_facts
    from asrperf.memory import peak_rss_mb

    options = {"compilation_cache_dir": args.compilation_cache_dir} if args.compilation_cache_dir else {}
    options.update(longform=args.longform, threads=args.threads)
    if args.compile:
        options["compile"] = args.compile
    config = make_config(args.backend, args.model, args.device, args.dtype, args.batch_size, **options)
    for framework in backend_info(config.backend).requires:
        if framework not in _READ_AS_DATA.get(config.backend, ()):
            importlib.import_module(framework)
    samples = load_audio(args.audio)
    imported = time.perf_counter()
    pipeline = build_pipeline(config)
    loaded = time.perf_counter()
    build_compile_s = float(getattr(pipeline, "compile_s", 0.0))  # compiled while building, inside load
    first_run = pipeline.run(samples)
    first = time.perf_counter()
    # The ports compile each batch bucket on first use (asrperf.batch_buckets): in the first call,
    # counted as compiling, not as transcribing.
    bucket_compile_s = first_run.extra.get("bucket_compile_s", {})
    first_call_compile_s = sum(bucket_compile_s.values())
    run = pipeline.run(samples)
    second = time.perf_counter()
    # This process's own GPU figures: the parent records them, and never reads the GPU for a cold row.
    device_memory = {}
    if config.device == "gpu":
        peak, scope = peak_device_memory(config.backend)
        device_memory = {"peak_device_mb": peak, "peak_device_scope": scope, "jax_gpu_memory": jax_gpu_memory}
    json.dump({
        "import_s": imported - started,
        "load_s": loaded - imported - build_compile_s,
        "compile_s": build_compile_s + first_call_compile_s,
        "compilation_cache": getattr(pipeline, "compilation_cache", "n/a"),
        "first_call_s": first - loaded - first_call_compile_s,
        "bucket_compile_s": bucket_compile_s,
        "second_call_s": second - first,
        "text": " ".join(s.text for s in run.segments),
        # The whole process's peak: import, load, compile and both calls (this child did nothing else).
        "run": {**run_facts(run), "peak": [round(peak_rss_mb(), 1), "the cold-start process (import to 2nd call)"]},
        "description": {**pipeline.describe(), **device_memory},
    }, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
