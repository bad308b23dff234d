"""``asrperf`` command line: transcribe, list models, build or compose the corpus."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

from . import __version__
from .errors import AsrperfError, ConfigurationError


@contextlib.contextmanager
def _native_stdout_to_stderr():
    """Send what native code prints on file descriptor 1 (gloo's connection notices) to stderr,
    so that standard output holds only asrperf's results (``--json`` stays parseable)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _transcribe(args) -> int:
    with _native_stdout_to_stderr():
        outcome = _run_transcription(args)
    if outcome is None:
        return 0
    _print_transcription(args, *outcome)
    return 0


def _run_transcription(args):
    """Load, transcribe every file in one job; None in a process other than process 0."""
    from .backends import load_pipeline

    leader = True
    if args.coordinator or args.num_processes > 1 or args.process_id:
        from . import distributed

        if args.backend != "jax":
            raise ConfigurationError(f"--coordinator runs the jax backend over several processes; "
                                     f"--backend {args.backend} runs in one: use --backend jax")
        if not args.coordinator:
            raise ConfigurationError("--num-processes and --process-id need --coordinator HOST:PORT (process 0's "
                                     "address)")
        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               timeout_s=args.distributed_timeout)
        leader = distributed.process_index() == 0
    pipeline = load_pipeline(args.backend, args.model, device=args.device, dtype=args.dtype,
                             batch_size=args.batch_size, longform=args.longform)
    started = time.perf_counter()
    # All files in one job: where the backend can, windows of several files share each batch.
    run = pipeline.run_many(args.files, progress=False if args.json else None)
    elapsed = time.perf_counter() - started
    if not leader:  # every process has the same segments; process 0 prints them
        return None
    job = _job_row(pipeline.describe(), run, elapsed)
    job["files"] = len(args.files)
    return job, run.segments, pipeline.backend_name


def _job_row(description: dict, run, elapsed: float) -> dict:
    """The job as a result row (``ResultRow``), without a WER: the CLI has no reference text."""
    from .bench.record import ResultRow

    row = ResultRow.build(description, phase="cli", seconds=elapsed, reference=None, hypothesis="",
                          audio_s=run.audio_s, windows=run.windows, tokens=run.tokens,
                          max_length_hits=run.max_length_hits, peak=(run.peak_rss_mb, run.peak_rss_scope),
                          decoding=run.decoding, extra=run.extra).as_dict()
    del row["wer"]
    return row


def _print_transcription(args, job: dict, per_file: list, backend: str) -> None:
    if args.json:
        json.dump({"job": job, "results": [{"file": path, "segments": [s.to_dict() for s in segments]}
                                           for path, segments in zip(args.files, per_file)]}, sys.stdout, indent=1)
        print()
        return
    for path, segments in zip(args.files, per_file):
        print(f"# {path}")
        for s in segments:
            print(f"[{s.start:8.2f} → {s.end:8.2f}] {s.text}")
    print(f"# {job['files']} file(s), {job['audio_s']:.1f} s of audio in {job['seconds']:.2f} s ({job['rtfx']}x "
          f"real time, backend {backend}, {job['many_files']})", file=sys.stderr)


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
    from .corpus import compose, concatenate, utterances

    if args.corpus:
        from .corpus.external import read_corpus

        corpus = read_corpus(args.corpus)
        items, label = corpus.utterances, corpus.describe()
    else:
        items, label = utterances(), "the shipped synthetic corpus (espeak-ng)"
    if args.action == "list":
        print(f"# {label}")
        for u in items:
            print(f"{u.id}\t{u.duration_s:.2f}\t{u.text}")
        return 0
    if args.action == "wer":
        return _corpus_wer(args, items, label)
    if args.corpus and args.seconds is not None:
        raise ConfigurationError("--seconds composes the synthetic corpus; with --corpus the long-form is "
                                 "every utterance of that corpus in order: leave --seconds out")
    composed = concatenate(items) if args.corpus else compose(args.seconds or 60.0, seed=args.seed, progress=True)
    write_wav(args.output, composed.samples)
    reference = args.output.rsplit(".", 1)[0] + ".txt"
    with open(reference, "w") as handle:
        handle.write(composed.reference + "\n")
    print(f"{args.output}: {composed.duration_s:.1f} s, {len(composed.pieces)} utterances; reference in {reference}")
    return 0


def _corpus_wer(args, items, label) -> int:
    """Corpus WER of one pipeline over the utterances one by one (and, asked, all of them in order)."""
    from .backends import Run, RunStats, make_config, shared_pipeline
    from .bench.record import ResultRow
    from .corpus import concatenate
    from .metrics import wer
    from .segments import join_text

    # shared: called from the test suite, this reuses the session's pipeline instead of loading another
    pipeline = shared_pipeline(make_config(args.backend, args.model, args.device, args.dtype, args.batch_size,
                                           longform=args.longform))
    paths = [u.path for u in items]
    started = time.perf_counter()
    if args.one_by_one:  # a run() call per file, as before run_many
        runs = [pipeline.run(path) for path in paths]
        stats = RunStats(audio_s=sum(r.audio_s for r in runs))
        for one in runs:
            stats.add(RunStats(one.audio_s, one.windows, one.tokens, one.max_length_hits, one.decoding, one.extra))
        run = Run.of([r.segments for r in runs], stats, (None, "not measured: one call per file"))
    else:
        run = pipeline.run_many(paths, progress=False if args.json else None)
    elapsed = time.perf_counter() - started
    result = ResultRow.from_run(pipeline.describe(), run, phase="corpus", seconds=elapsed,
                                reference=[u.text for u in items]).as_dict()
    result.update(corpus=label, utterances=len(items),
                  files_in="one run() call each" if args.one_by_one else "one run_many() job")
    if args.concatenated:
        whole = concatenate(items)
        result["concatenated_s"] = round(whole.duration_s, 2)
        result["concatenated_wer"] = round(wer(whole.reference, join_text(pipeline.transcribe(whole.samples))), 4)
    if args.json:
        texts = [join_text(segments) for segments in run.segments]
        json.dump({**result, "transcripts": {u.id: text for u, text in zip(items, texts)}}, sys.stdout, indent=1)
        print()
    else:
        print(f"{label}: {pipeline.backend_name} {pipeline.dtype} batch {args.batch_size} {pipeline.config.longform}: "
              f"corpus WER {result['wer']}, {result['files_in']}: {result['seconds']} s, RTFx {result['rtfx']} (one pass)"
              + (f", all {len(items)} in order {result['concatenated_wer']}" if args.concatenated else ""))
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

    t = sub.add_parser("transcribe", help="transcribe audio files (in one job: batched across files where the "
                                          "backend can)")
    t.add_argument("files", nargs="+")
    t.add_argument("--backend", default="openai-whisper")
    t.add_argument("--model", default="tiny.en")
    t.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    t.add_argument("--dtype", default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--longform", choices=("sequential", "chunked"), default=None,
                   help="long-form algorithm: openai-whisper's sequential seek or whisper-jax's batched 30 s "
                        "chunks (default: the backend's native one)")
    t.add_argument("--json", action="store_true", help="print the job (timing, settings) and each file's "
                   "segments as JSON")
    d = t.add_argument_group("several processes or hosts (jax backend; run the same command in each)")
    d.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address (jax.distributed)")
    d.add_argument("--num-processes", type=int, default=1)
    d.add_argument("--process-id", type=int, default=0)
    d.add_argument("--distributed-timeout", type=int, default=120, metavar="S",
                   help="seconds to wait for every process to join (default 120)")
    t.set_defaults(run=_transcribe)

    m = sub.add_parser("models", help="which models are available here, and from where")
    m.add_argument("--download", metavar="NAME", help="fetch an official checkpoint (needs network)")
    m.add_argument("-v", "--verbose", action="store_true", help="say why a model is unavailable")
    m.set_defaults(run=_models)

    b = sub.add_parser("backends", help="which backends can run here")
    b.set_defaults(run=_backends)

    c = sub.add_parser("corpus", help="rebuild the corpus, list it, compose long-form audio from it, or score "
                                      "a backend on it (yours with --corpus DIR)")
    c.add_argument("action", choices=("build", "list", "compose", "wer"))
    c.add_argument("--corpus", metavar="DIR", help="a folder with transcripts.tsv, LibriSpeech *.trans.txt or LJ "
                   "Speech metadata.csv (default: the synthetic corpus); compose then joins all its utterances in order")
    c.add_argument("--seconds", type=float, default=None, help="compose, synthetic corpus: target length (default 60)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("-o", "--output", default="composed.wav")
    c.add_argument("--backend", default="openai-whisper", help="wer: the pipeline to score")
    c.add_argument("--model", default="tiny.en")
    c.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    c.add_argument("--dtype", default=None)
    c.add_argument("--batch-size", type=int, default=None)
    c.add_argument("--longform", choices=("sequential", "chunked"), default=None,
                   help="wer: long-form algorithm (default: the backend's native one)")
    c.add_argument("--concatenated", action="store_true", help="wer: also all utterances in order, as one input")
    c.add_argument("--one-by-one", action="store_true", help="wer: a transcribe() call per file instead of one "
                   "transcribe_many() job (to time batching across files)")
    c.add_argument("--json", action="store_true", help="wer: print the result and transcripts as JSON")
    c.set_defaults(run=_corpus)
    r = sub.add_parser("report", help="Markdown table and PNG plots from pytest-benchmark JSON files")
    r.add_argument("results", nargs="+", help="pytest-benchmark JSON files (--benchmark-json or .benchmarks/)")
    r.add_argument("-o", "--output", default="report", help="output directory")
    r.set_defaults(run=_report)
    h = sub.add_parser("history", help="each benchmark row across saved runs (.benchmarks/), in commit order, with "
                                       "intervals and step changes marked: history.md and history.png")
    h.add_argument("storage", nargs="?", default=".benchmarks", help="pytest-benchmark's storage folder")
    h.add_argument("-o", "--output", default="history", help="output directory")
    h.add_argument("--machine", default=None, help="a machine id folder or a CPU name (default: the pair of them with most runs)")
    h.add_argument("-k", "--match", default=None, help="only rows whose name contains this")
    h.set_defaults(run=_history)
    d = sub.add_parser("docs", help="regenerate the tables in README.md and docs/*.md from their committed "
                                    "result files (--check: only say which are stale)")
    d.add_argument("--check", action="store_true", help="exit 1 where a table differs from its result file")
    d.add_argument("--root", default=".", help="the repository root (default: here)")
    d.set_defaults(run=_docs)
    return top


def _history(args) -> int:
    from pathlib import Path

    from .history import write_history

    print(write_history(Path(args.storage), Path(args.output), args.machine, args.match))
    return 0


def _docs(args) -> int:
    from pathlib import Path

    from .docs_tables import regenerate, stale

    root = Path(args.root)
    if args.check:
        out_of_date = stale(root)
        for doc in out_of_date:
            print(f"{doc}: a table no longer matches its result file: run `asrperf docs`")
        return 1 if out_of_date else 0
    for doc in regenerate(root):
        print(f"regenerated tables in {doc}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except AsrperfError as exc:
        print(f"asrperf: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
