"""Would stopping a chunk's decoding past its seam save time, and would it change the transcript?

``python -m asrperf.bench.early_stop [--audio 5min] [--margins 1 2 5]``

The chunked algorithm decodes every 30 s chunk to its end, although the merge keeps a
chunk's words only up to the seam with its right neighbour (about 25 s into the chunk).
The idea measured here: end a row once its last timestamp passes the seam plus a margin.
From one real run of the jax backend (batch 8), for each margin it reports

* the decoder steps saved: each batch runs until its longest row ends, so a batch saves
  only what its longest row loses;
* whether the merged transcript changes, by merging the truncated windows' tokens
  exactly as the pipeline merges the full ones.

The merge aligns the two chunks' words over the whole overlap (to 1 s past the left chunk's
end), so a margin that stops inside that overlap can change which run of words is matched.
"""

from __future__ import annotations

import argparse
import json

from ..file_batches import transcribe_in_batches
from ..longform import SAMPLE_RATE, plan_chunks
from ..segments import join_text
from ..tokens import split_segments
from .audio_cases import audio_case, default_corpus_dir


def _cut_index(tokens: list[int], timestamp_begin: int, limit_s: float) -> int:
    """Tokens kept when decoding stops at the first timestamp at or past ``limit_s`` (it is kept)."""
    for index, token in enumerate(tokens):
        if token >= timestamp_begin and (token - timestamp_begin) * 0.02 >= limit_s:
            return index + 1
    return len(tokens)


def measure(audio_name: str, margins: list[float], batch_size: int = 8) -> dict:
    from ..backends import load_pipeline

    pipeline = load_pipeline("jax", "tiny.en", batch_size=batch_size)
    spec, tokenizer = pipeline.spec, pipeline.tokenizer
    case = audio_case(audio_name, default_corpus_dir())
    samples = case.samples
    chunks = plan_chunks(len(samples))
    windows: list[list[int]] = []
    original_split = split_segments

    def record(tokens, *args):
        windows.append([int(t) for t in tokens])
        return original_split(tokens, *args)

    import asrperf.backends.jax_whisper.pipeline as jax_pipeline

    jax_pipeline.split_segments = record
    try:
        full_text = join_text(pipeline.transcribe(samples))
    finally:
        jax_pipeline.split_segments = original_split
    assert len(windows) == len(chunks)
    prompt = len(spec.prompt)
    batch_size = pipeline.batch  # what ran: rounded up to a multiple of the devices

    def steps(lengths: list[int]) -> int:
        # One decoder step per prompt token and per sampled token (+ end-of-text), per batch: its longest row.
        return sum(prompt + 1 + max(lengths[i : i + batch_size]) for i in range(0, len(lengths), batch_size))

    full_lengths = [len(w) for w in windows]
    report = {"audio": audio_name, "audio_s": round(len(samples) / SAMPLE_RATE, 2), "windows": len(windows),
              "decoder_steps": steps(full_lengths), "margins": {}}
    for margin in margins:
        kept = []
        for chunk, tokens in zip(chunks, windows):
            if chunk.right_stride:  # the last chunk has no seam to its right
                seam_s = (chunk.end - chunk.start - chunk.right_stride) / SAMPLE_RATE
                tokens = tokens[: _cut_index(tokens, spec.timestamp_begin, seam_s + margin)]
            kept.append(tokens)
        iterator = iter(kept)

        def replay(batch):
            return [split_segments(next(iterator), spec.timestamp_begin, spec.eot, tokenizer.decode) for _ in batch]

        text = join_text(transcribe_in_batches([samples], batch_size, replay)[0])
        report["margins"][str(margin)] = {
            "decoder_steps": steps([len(t) for t in kept]),
            "tokens_dropped": int(sum(full_lengths) - sum(len(t) for t in kept)),
            "transcript_unchanged": text == full_text,
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", nargs="+", default=["5min"], help="audio cases (asrperf.bench.audio_cases)")
    parser.add_argument("--margins", nargs="+", type=float, default=[1.0, 2.0, 3.0, 5.0, 6.0])
    args = parser.parse_args(argv)
    for name in args.audio:
        print(json.dumps(measure(name, args.margins)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
