"""``asrperf`` command line: transcribe, list models, build or compose the corpus."""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import __version__
from .errors import AsrperfError


def _transcribe(args) -> int:
    from .backends import load_pipeline

    pipeline = load_pipeline(args.backend, args.model, device=args.device, dtype=args.dtype,
                             batch_size=args.batch_size)
    from tqdm import tqdm

    results = []
    for path in tqdm(args.files, desc="transcribing", unit="file", disable=args.json or len(args.files) < 2):
        started = time.perf_counter()
        segments = pipeline.transcribe(path)
        elapsed = time.perf_counter() - started
        stats = pipeline.last_run
        results.append({"file": path, "seconds": round(elapsed, 3), "audio_s": round(stats.audio_s, 3),
                        "rtfx": round(stats.audio_s / elapsed, 2) if elapsed else None,
                        **pipeline.describe(), "segments": [s.to_dict() for s in segments]})
        if not args.json:
            print(f"# {path}: {stats.audio_s:.1f} s of audio in {elapsed:.2f} s "
                  f"({results[-1]['rtfx']}x real time, backend {pipeline.backend_name})", file=sys.stderr)
            for s in segments:
                print(f"[{s.start:8.2f} → {s.end:8.2f}] {s.text}")
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
    return 0


def _models(args) -> int:
    from .weights.sources import OFFICIAL_NAMES, download_official, resolve_model

    if args.download:
        print(download_official(args.download))
        return 0
    for name in OFFICIAL_NAMES:
        try:
            print(f"{name:16} {resolve_model(name).source}")
        except AsrperfError as exc:
            print(f"{name:16} unavailable: {str(exc).split('Tried: ')[-1]}" if args.verbose else f"{name:16} -")
    return 0


def _backends(_args) -> int:
    from .backends import available_backends

    for name, reason in available_backends().items():
        print(f"{name:16} {'available' if reason is None else 'unavailable: ' + reason}")
    return 0


def _corpus(args) -> int:
    if args.action == "build":
        from .corpus.build import build

        print(build())
        return 0
    from .audio import write_wav
    from .corpus import compose

    composed = compose(args.seconds, seed=args.seed, progress=True)
    write_wav(args.output, composed.samples)
    reference = args.output.rsplit(".", 1)[0] + ".txt"
    with open(reference, "w") as handle:
        handle.write(composed.reference + "\n")
    print(f"{args.output}: {composed.duration_s:.1f} s, {len(composed.pieces)} utterances; reference in {reference}")
    return 0


def _report(args) -> int:
    from pathlib import Path

    from .report import write_report

    print(write_report([Path(p) for p in args.results], Path(args.output)))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="asrperf", description=__doc__)
    top.add_argument("--version", action="version", version=__version__)
    sub = top.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="transcribe audio files")
    t.add_argument("files", nargs="+")
    t.add_argument("--backend", default="openai-whisper")
    t.add_argument("--model", default="tiny.en")
    t.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    t.add_argument("--dtype", default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--json", action="store_true", help="print results as JSON")
    t.set_defaults(run=_transcribe)

    m = sub.add_parser("models", help="which models are available here, and from where")
    m.add_argument("--download", metavar="NAME", help="fetch an official checkpoint (needs network)")
    m.add_argument("-v", "--verbose", action="store_true", help="say why a model is unavailable")
    m.set_defaults(run=_models)

    b = sub.add_parser("backends", help="which backends can run here")
    b.set_defaults(run=_backends)

    c = sub.add_parser("corpus", help="rebuild the corpus, or compose long-form audio from it")
    c.add_argument("action", choices=("build", "compose"))
    c.add_argument("--seconds", type=float, default=60.0, help="compose: target length")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("-o", "--output", default="composed.wav")
    c.set_defaults(run=_corpus)
    r = sub.add_parser("report", help="Markdown table and PNG plots from pytest-benchmark JSON files")
    r.add_argument("results", nargs="+", help="pytest-benchmark JSON files (--benchmark-json or .benchmarks/)")
    r.add_argument("-o", "--output", default="report", help="output directory")
    r.set_defaults(run=_report)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except AsrperfError as exc:
        print(f"asrperf: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
