"""The whisper-jax worker: runs upstream whisper-jax in its side environment, driven over pipes.

This file is run by path with the side environment's Python (``.venv-whisper-jax``), which
has jax 0.4.30, flax, transformers 4.34 and whisper_jax but not asrperf: it imports
nothing from asrperf, and asrperf imports nothing from it.

    python whisper_jax_worker.py serve          # the protocol below, on stdin/stdout
    python whisper_jax_worker.py export DIR     # DIR/params.npz + export.json → a Flax model directory

Protocol (version 1). Every message is a frame: a 4-byte big-endian length, that many
bytes of UTF-8 JSON (the header), then ``header["payload"]`` raw bytes (0 when absent).

* worker → main, once at start: ``{"protocol": 1, "versions": {...}, "pid": N}``
* main → worker ``{"op": "load", ...settings}`` → ``{"ok": true, "generate_args": {...},
  "decoding_args": {...}, "threads": n, "load_s": s}`` (``decoding_args`` has the fields of
  asrperf's ``DecodingRecord``)
* main → worker ``{"op": "transcribe", "payload": 4 * n}`` + n little-endian float32 samples at
  16 kHz → ``{"ok": true, "chunks": [[start, end, text], ...], "worker_s": s, "windows": w,
  "tokens": t, "max_length_hits": h, "peak_rss_mb": m}``; ``worker_s`` is timed here, around
  the whole call.
* any failure → ``{"ok": false, "kind": "configuration" | "device" | "internal", "error": text,
  "traceback": text}``; the worker then waits for the next request.
* end of stdin: the worker exits.

Only the protocol uses the real stdout; fd 1 is pointed at stderr so a library that
prints cannot corrupt a frame.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import struct
import sys
import time
import traceback

PROTOCOL = 1
_LENGTH = struct.Struct(">I")
VERSIONED = ("jax", "jaxlib", "flax", "transformers", "whisper_jax", "numpy")


class RequestError(Exception):
    """A request the worker cannot serve; ``kind`` tells the main side which asrperf error to raise."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------- framing

def read_exact(stream, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        block = stream.read(size - len(data))
        if not block:
            return None
        data += block
    return bytes(data)


def read_frame(stream) -> tuple[dict, bytes] | None:
    raw = read_exact(stream, _LENGTH.size)
    if raw is None:
        return None
    body = read_exact(stream, _LENGTH.unpack(raw)[0])
    header = json.loads(body) if body is not None else None
    payload = read_exact(stream, int(header.get("payload", 0))) if header and header.get("payload") else b""
    if header is None or payload is None:  # the main process went away mid-frame
        return None
    return header, payload


def write_frame(stream, header: dict) -> None:
    body = json.dumps(header).encode()
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def versions() -> dict:
    found = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def peak_rss_mb() -> float | None:
    """This worker's peak resident memory (Linux VmHWM), which the main process's figure leaves out."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


# ---------------------------------------------------------------- the model

class Session:
    """One loaded FlaxWhisperPipline and the generate arguments it runs with."""

    def __init__(self, request: dict):
        started = time.perf_counter()
        if request.get("threads"):
            # XLA's CPU thread pool follows the affinity at import time, so this comes first.
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: request["threads"]])
        import jax
        import jax.numpy as jnp
        from transformers import logging as hf_logging
        from whisper_jax import FlaxWhisperPipline  # sic: upstream's class name

        hf_logging.set_verbosity_error()
        platform = "gpu" if request["device"] == "gpu" else "cpu"
        try:
            jax.devices(platform)
        except RuntimeError:
            fix = (f"install a CUDA build of the same JAX there ({sys.executable} -m pip install "
                   f"'jax[cuda12]=={jax.__version__}'), or use device='cpu'") if platform == "gpu" else ""
            raise RequestError("device", f"the whisper-jax side environment's JAX {jax.__version__} has no "
                                         f"{platform} backend; {fix}") from None
        self.batch_size = request["batch_size"]
        if self.batch_size % jax.local_device_count():
            raise RequestError("configuration", f"whisper-jax needs a batch size that is a multiple of the "
                                                f"{jax.local_device_count()} JAX devices, not {self.batch_size}")
        self.pipe = FlaxWhisperPipline(request["model_dir"], dtype=getattr(jnp, request["dtype"]),
                                       batch_size=self.batch_size, max_length=request["max_length"])
        config = self.pipe.model.generation_config
        multilingual = bool(getattr(config, "is_multilingual", False))
        # Everything FlaxWhisperPipline's generate reads from the generation config, set explicitly.
        # ``return_timestamps`` is the one that broke it: whisper-jax's pipeline_generate adds the
        # timestamp logits processor only ``if hasattr(generation_config, "return_timestamps")``.
        # Neither transformers 4.34 nor a current one gives GenerationConfig that attribute unless
        # it is set, so a generation config written without the field decodes with no timestamp
        # rules even when the call asks for timestamps: the model then takes <|notimestamps|>
        # right after the start token (seen on tiny.en), and the pipeline stitches the untimed
        # windows by their longest common token run, which garbles long audio (5 composed
        # minutes: 663 words for 554 here, 142 in the run). With the attribute set, the
        # same 5 minutes come out as 553 words, WER 0.087.
        config.return_timestamps = bool(request["timestamps"])
        config.is_multilingual = multilingual
        config.suppress_tokens = list(request["suppress_tokens"])
        config.begin_suppress_tokens = list(request["begin_suppress_tokens"]) or None
        config.max_initial_timestamp_index = request["max_initial_timestamp_index"]
        self.language = request["language"] if multilingual else None
        self.task = request["task"] if multilingual else None
        self.timestamps = bool(config.return_timestamps)
        self.prompt_length = 3 if multilingual else 1  # start token, then the forced language and task
        self.eot = config.eos_token_id
        forced = self.pipe.get_forced_decoder_ids(language=self.language, task=self.task,
                                                  return_timestamps=config.return_timestamps)
        self.generate_args = {
            "FlaxWhisperPipline": {"max_length": request["max_length"], "batch_size": self.batch_size,
                                   "dtype": request["dtype"]},
            "call": {"chunk_length_s": 30.0, "stride_length_s": 5.0, "return_timestamps": config.return_timestamps,
                     "language": self.language, "task": self.task},
            "forced_decoder_ids": [list(pair) for pair in forced],
            "generation_config": {key: getattr(config, key, None) for key in (
                "num_beams", "do_sample", "max_length", "return_timestamps", "is_multilingual",
                "begin_suppress_tokens", "max_initial_timestamp_index", "no_timestamps_token_id")},
        }
        self.decoding_args = self._decoding_record(config, forced, request["max_length"])
        self.threads = len(os.sched_getaffinity(0))
        self.load_s = time.perf_counter() - started

    def _decoding_record(self, config, forced, max_length: int) -> dict:
        """What generate is given, in the fields of asrperf's DecodingRecord (asrperf/decoding_record.py)."""
        prompt = self.pipe.tokenizer.convert_ids_to_tokens([token for _, token in forced])
        language = next((t[2:-2] for t in prompt if t not in ("<|transcribe|>", "<|translate|>",
                                                               "<|notimestamps|>")), "en")
        blank = self.pipe.tokenizer.encode(" ", add_special_tokens=False) + [self.eot]
        timestamps = bool(config.return_timestamps)
        return {
            "beam_size": int(config.num_beams or 1),
            "temperature": float(config.temperature or 0.0) if config.do_sample else 0.0,
            "max_new_tokens": max_length - self.prompt_length,  # the end-of-text token included
            "suppress_tokens": sorted(config.suppress_tokens or ()),
            "suppress_blank": sorted(config.begin_suppress_tokens or ()) == sorted(blank),
            "timestamps": timestamps,
            "max_initial_timestamp_index": config.max_initial_timestamp_index if timestamps else None,
            "condition_on_previous_text": False,  # the pipeline passes no prompt ids
            "language": language,
            "task": "translate" if "<|translate|>" in prompt else "transcribe",
        }

    def transcribe(self, samples) -> dict:
        """FlaxWhisperPipline.__call__'s own steps, keeping the token ids to count them."""
        started = time.perf_counter()
        timestamps = self.timestamps
        outputs, windows, tokens, hits = [], 0, 0, 0
        for batch in self.pipe.preprocess_batch({"array": samples, "sampling_rate": 16000}, chunk_length_s=30.0,
                                                stride_length_s=5.0, batch_size=self.batch_size):
            out = self.pipe.forward(batch, batch_size=self.batch_size, language=self.language, task=self.task,
                                    return_timestamps=timestamps)
            for row in out["tokens"][:, 0, self.prompt_length:]:
                ends = (row == self.eot).nonzero()[0]
                windows += 1
                tokens += int(ends[0]) if len(ends) else len(row)
                hits += int(not len(ends))
            outputs.append(out)
        result = self.pipe.postprocess(outputs, return_timestamps=timestamps)
        chunks = result.get("chunks") or [{"timestamp": (0.0, None), "text": result["text"]}]
        worker_s = time.perf_counter() - started
        return {"ok": True, "chunks": [[c["timestamp"][0], c["timestamp"][1], c["text"]] for c in chunks],
                "worker_s": worker_s, "windows": windows, "tokens": tokens, "max_length_hits": hits,
                "peak_rss_mb": peak_rss_mb()}


def serve(stdin, stdout) -> int:
    write_frame(stdout, {"protocol": PROTOCOL, "versions": versions(), "pid": os.getpid()})
    session = None
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return 0
        header, payload = frame
        try:
            if header.get("op") == "load":
                session = Session(header)
                reply = {"ok": True, "generate_args": session.generate_args, "decoding_args": session.decoding_args,
                         "threads": session.threads, "load_s": session.load_s}
            elif header.get("op") == "transcribe":
                if session is None:
                    raise RequestError("internal", "transcribe before load")
                import numpy as np

                reply = session.transcribe(np.frombuffer(payload, "<f4"))
            else:
                raise RequestError("internal", f"unknown op {header.get('op')!r} (protocol {PROTOCOL})")
        except RequestError as exc:
            reply = {"ok": False, "kind": exc.kind, "error": str(exc), "traceback": ""}
        except Exception as exc:  # reported to the main side, which raises it as an asrperf error
            reply = {"ok": False, "kind": "internal", "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()}
        write_frame(stdout, reply)


# ---------------------------------------------------------------- export

def export(directory: str) -> int:
    """Write flax_model.msgpack and the transformers-4.34 configs; check names and shapes against whisper-jax."""
    import numpy as np
    from flax.serialization import msgpack_serialize
    from flax.traverse_util import flatten_dict, unflatten_dict
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor
    from whisper_jax import FlaxWhisperForConditionalGeneration

    spec = json.loads(open(os.path.join(directory, "export.json")).read())
    dims = spec["dims"]
    config = WhisperConfig(
        vocab_size=dims["n_vocab"], num_mel_bins=dims["n_mels"], d_model=dims["n_audio_state"],
        encoder_layers=dims["n_audio_layer"], encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"], decoder_attention_heads=dims["n_text_head"],
        encoder_ffn_dim=4 * dims["n_audio_state"], decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"], max_target_positions=dims["n_text_ctx"],
        decoder_start_token_id=spec["sot"], pad_token_id=spec["eot"], bos_token_id=spec["eot"],
        eos_token_id=spec["eot"], suppress_tokens=spec["suppress_tokens"],
        begin_suppress_tokens=spec["begin_suppress_tokens"], architectures=["WhisperForConditionalGeneration"],
    )
    with np.load(os.path.join(directory, "params.npz")) as npz:
        flat = {tuple(name.split("/")): npz[name] for name in npz.files}
    model = FlaxWhisperForConditionalGeneration(config, _do_init=False)
    expected = {k: v.shape for k, v in flatten_dict(model.params_shape_tree).items()}
    got = {k: v.shape for k, v in flat.items()}
    if expected != got:
        missing = sorted("/".join(k) for k in expected.keys() - got.keys())
        extra = sorted("/".join(k) for k in got.keys() - expected.keys())
        wrong = sorted("/".join(k) for k in expected.keys() & got.keys() if expected[k] != got[k])
        raise SystemExit(f"parameter tree does not match whisper-jax's model: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}, wrong shape {wrong[:5]}")
    with open(os.path.join(directory, "flax_model.msgpack"), "wb") as handle:
        handle.write(msgpack_serialize(unflatten_dict(flat)))
    config.save_pretrained(directory)
    GenerationConfig(
        decoder_start_token_id=spec["sot"], eos_token_id=spec["eot"], pad_token_id=spec["eot"],
        bos_token_id=spec["eot"], no_timestamps_token_id=spec["no_timestamps"], prev_sot_token_id=spec["sot_prev"],
        is_multilingual=spec["multilingual"], lang_to_id=spec["lang_to_id"] or None,
        task_to_id=spec["task_to_id"] or None, max_length=dims["n_text_ctx"], return_timestamps=False,
        suppress_tokens=spec["suppress_tokens"], begin_suppress_tokens=spec["begin_suppress_tokens"],
        max_initial_timestamp_index=50, alignment_heads=spec["alignment_heads"] or None,
    ).save_pretrained(directory)
    WhisperFeatureExtractor(feature_size=dims["n_mels"]).save_pretrained(directory)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        protocol_out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)  # stray prints from any library go to stderr, never into a frame
        sys.stdout = sys.stderr
        return serve(sys.stdin.buffer, protocol_out)
    if argv[:1] == ["export"] and len(argv) == 2:
        return export(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
