"""Where a warm jax (or torch) chunked run spends its time: ``python -m asrperf.bench.profile_warm``.

Splits one batched long-form transcription into what the README discusses: how many
30 s windows the chunk plan makes, the encoder's time per window, and the decoder's
time per batch and per decoding step; then the GEMM rate of one encoder MLP product in
numpy, XLA and torch on this CPU (the ceiling the encoder runs against). Every timed
region waits for its result. Prints one JSON object; figures hold for this machine and
this run only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def _median_s(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def gemm_gflops(repeats: int) -> dict:
    """One encoder MLP product (tiny.en: 1500 frames x 384 → 1536) per library, GFLOP/s."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rows, inner, out = 3000, 384, 1536  # two windows' frames, as a batch of the encoder runs them
    a = np.random.default_rng(0).standard_normal((rows, inner), np.float32)
    b = np.random.default_rng(1).standard_normal((inner, out), np.float32)
    flop = 2 * rows * inner * out
    results = {"shape": f"[{rows}, {inner}] @ [{inner}, {out}]"}
    results["numpy_float32"] = flop / _median_s(lambda: a @ b, repeats) / 1e9
    for dtype in ("float32", "bfloat16"):
        x, y = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
        product = jax.jit(lambda p, q: p @ q)
        product(x, y).block_until_ready()
        results[f"xla_{dtype}"] = flop / _median_s(lambda: product(x, y).block_until_ready(), repeats) / 1e9
    try:
        import torch
    except ImportError:
        return results
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    results["torch_float32"] = flop / _median_s(lambda: ta @ tb, repeats) / 1e9
    return results


def profile(model: str, batch_size: int, seconds: float, repeats: int) -> dict:
    import jax
    import numpy as np

    from asrperf.backends import load_pipeline
    from asrperf.batch_buckets import BucketLog
    from asrperf.corpus import compose
    from asrperf.longform import plan_chunks

    pipe = load_pipeline("jax", model, batch_size=batch_size)
    samples = compose(seconds, seed=0).samples
    chunks = plan_chunks(len(samples))
    window = 30 * 16000
    audio = np.zeros((pipe.batch, window), np.float32)
    for row, chunk in enumerate(chunks[: pipe.batch]):
        audio[row, : chunk.end - chunk.start] = samples[chunk.start : chunk.end]
    # The full batch's compiled programs (a short input would run a smaller bucket: asrperf.batch_buckets).
    encode, micro, _, generate = pipe._bucket(pipe.batch, BucketLog())
    one = jax.device_put(audio[:micro], pipe._batch_sharding)
    encode(one).block_until_ready()
    encoder_s = _median_s(lambda: encode(one).block_until_ready(), repeats) / micro
    features = jax.block_until_ready(jax.device_put(
        jax.numpy.concatenate([encode(jax.device_put(audio[i : i + micro], pipe._batch_sharding))
                               for i in range(0, pipe.batch, micro)]), pipe._batch_sharding))
    valid = jax.device_put(np.arange(pipe.batch) < min(len(chunks), pipe.batch), pipe._batch_sharding)
    tokens, n_tokens, _ = jax.block_until_ready(generate(features, valid))
    steps = len(pipe.spec.prompt) + int(np.asarray(n_tokens).max())  # the loop runs until the longest row ends
    decode_s = _median_s(lambda: jax.block_until_ready(generate(features, valid)), repeats)
    whole_s = _median_s(lambda: pipe.transcribe(samples), max(1, repeats // 2))
    batches = -(-len(chunks) // pipe.batch)
    return {
        "model": model, "batch_size": pipe.batch, "audio_s": seconds, "windows": len(chunks),
        "encoder_s_per_window": encoder_s, "encoder_s_total_estimate": encoder_s * len(chunks),
        "decode_s_first_batch": decode_s, "decode_steps_first_batch": steps,
        "decode_ms_per_step": 1000 * decode_s / steps, "batches": batches, "transcribe_s": whole_s,
    }


def profile_torch(model: str, batch_size: int, seconds: float, repeats: int, compile_mode: str) -> dict:
    """The same figures for the torch port (``--backend torch``), plus its compile time."""
    import torch

    from asrperf.backends import load_pipeline
    from asrperf.backends.torch_whisper import decode
    from asrperf.batch_buckets import BucketLog
    from asrperf.corpus import compose
    from asrperf.longform import plan_chunks

    pipe = load_pipeline("torch", model, batch_size=batch_size, compile=compile_mode)
    samples = compose(seconds, seed=0).samples
    chunks = plan_chunks(len(samples))
    mels = [pipe._log_mel(samples[c.start : c.end]) for c in chunks[: pipe.batch]]
    cache, features = pipe._bucket(pipe.batch, BucketLog())  # the full batch's bucket, compiled
    with torch.no_grad():
        one = torch.stack(mels[: pipe.encoder_batch])
        encoder_s = _median_s(lambda: pipe._encoder(one), repeats) / pipe.encoder_batch
        for row, mel in enumerate(mels):
            features[row] = pipe._encoder(mel[None])[0]
        cross_kv_s = _median_s(lambda: pipe._cross_kv(features), repeats)
        cross = pipe._cross_kv(features)
        valid = torch.arange(pipe.batch) < len(mels)

        def generate():
            return decode.generate(pipe._step, pipe.spec, cache, cross, valid)

        steps = len(pipe.spec.prompt) + int(generate()[1].max())  # the loop runs until the longest row ends
        decode_s = _median_s(generate, repeats)
    whole_s = _median_s(lambda: pipe.transcribe(samples), max(1, repeats // 2))
    return {
        "backend": "torch", "compile": compile_mode, "freezing": pipe.compiler.freezing,
        "compile_s": pipe.compiler.compile_s, "threads": torch.get_num_threads(),
        "model": model, "batch_size": pipe.batch, "audio_s": seconds, "windows": len(chunks),
        "encoder_s_per_window": encoder_s, "encoder_s_total_estimate": encoder_s * len(chunks),
        "cross_kv_s_per_batch": cross_kv_s,
        "decode_s_first_batch": decode_s, "decode_steps_first_batch": steps,
        "decode_ms_per_step": 1000 * decode_s / steps, "batches": -(-len(chunks) // pipe.batch),
        "transcribe_s": whole_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=300.0, help="composed audio length")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", choices=("jax", "torch"), default="jax")
    parser.add_argument("--compile", choices=("none", "inductor"), default="inductor", help="torch only")
    args = parser.parse_args(argv)
    from asrperf.hardware import cpu_model

    measured = (profile_torch(args.model, args.batch_size, args.seconds, args.repeats, args.compile)
                if args.backend == "torch" else profile(args.model, args.batch_size, args.seconds, args.repeats))
    result = {"cpu": cpu_model(), **measured,
              "gemm_gflops": gemm_gflops(args.repeats)}
    result["gemm_gflops"] = {k: round(v, 1) if isinstance(v, float) else v for k, v in result["gemm_gflops"].items()}
    json.dump({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
