"""One cold start, measured phase by phase in a fresh process: ``python -m asrperf.bench.cold``.

Phases: ``import_s`` (asrperf and the backend's framework), ``load_s`` (weights to
a ready pipeline, compile excluded), ``compile_s`` (jax only; 0 elsewhere),
``first_call_s`` and ``second_call_s`` (the same audio twice: the article's "the
second transcription is faster" claim, measured). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", required=True)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--compilation-cache-dir", default=None)
    parser.add_argument("audio")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import importlib

    from asrperf.audio import load_audio
    from asrperf.backends import _info, build_pipeline, make_config
    from asrperf.bench.record import peak_rss_mb

    options = {"compilation_cache_dir": args.compilation_cache_dir} if args.compilation_cache_dir else {}
    config = make_config(args.backend, args.model, args.device, args.dtype, args.batch_size, **options)
    for framework in _info(config.backend).requires:
        importlib.import_module(framework)
    samples = load_audio(args.audio)
    imported = time.perf_counter()
    pipeline = build_pipeline(config)
    loaded = time.perf_counter()
    compile_s = float(getattr(pipeline, "compile_s", 0.0))
    pipeline.transcribe(samples)
    first = time.perf_counter()
    segments = pipeline.transcribe(samples)
    second = time.perf_counter()
    json.dump({
        "import_s": imported - started,
        "load_s": loaded - imported - compile_s,
        "compile_s": compile_s,
        "compilation_cache": getattr(pipeline, "compilation_cache", "n/a"),
        "first_call_s": first - loaded,
        "second_call_s": second - first,
        "text": " ".join(s.text for s in segments),
        "tokens": pipeline.last_run.tokens,
        "max_length_hits": pipeline.last_run.max_length_hits,
        "audio_s": pipeline.last_run.audio_s,
        "peak_rss_mb": peak_rss_mb(),
        **pipeline.describe(),
    }, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
