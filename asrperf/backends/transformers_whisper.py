"""Hugging Face transformers (PyTorch) Whisper, built offline from the same weights.

The model is assembled from the converted openai-format checkpoint (names mapped to
transformers' layout), the tokenizer from the packaged ``tokenizer.json`` and the
feature extractor from its defaults; nothing touches the hub. Long-form audio goes
through transformers' own chunked, batched ASR pipeline (30 s chunks, 5 s strides:
the recipe whisper-jax used), greedy, with timestamps, under openai-whisper's token
rules: its suppress list, blank suppression and first-timestamp bound, derived from the
suite's ``DecodingSettings`` and openai-whisper's tokenizer (transformers' own defaults
come from the hub's generation config, which an offline build does not have).

Every ``generate`` call the ASR pipeline makes is observed: its arguments, on top of
the model's generation config (as ``generate`` combines them), are the decoding record,
and its output rows the token counts.
"""

from __future__ import annotations

import re

import numpy as np

from ..config import DecodingSettings, PipelineConfig
from ..decoding_record import DecodingRecord, initial_timestamp_index
from ..errors import ConfigurationError, ModelNotFoundError
from ..hardware import cpu_threads
from ..segments import Segment, segments_from_chunks
from ..tokens import sampled_count, suppressed_ids
from ..weights.sources import checkpoint_fingerprint, load_checkpoint, resolve_model
from ..weights.names import hf_name
from .base import Pipeline, RunStats
from .devices import check_dtype, synchronize, torch_device, torch_full_float32

_DTYPES = {"cpu": ("float32", "bfloat16"), "gpu": ("float16", "bfloat16", "float32")}
def openai_token_rules(checkpoint, tokenizer, decoding: DecodingSettings) -> dict:
    """openai-whisper's suppress list, blank suppression and first-timestamp bound, as generation-config fields.

    The ids come from openai-whisper's tokenizer for the model, checked against the
    transformers tokenizer's ids for the same tokens.
    """
    from whisper.tokenizer import get_tokenizer

    multilingual = not checkpoint.english_only
    reference = get_tokenizer(multilingual, num_languages=checkpoint.dims["n_vocab"] - 51765 - int(multilingual),
                              language=decoding.language if multilingual else None,
                              task=decoding.task if multilingual else None)
    ids = tokenizer.convert_tokens_to_ids
    blank = tokenizer.encode(" ", add_special_tokens=False)
    pairs = {"<|endoftext|>": reference.eot, "<|startoftranscript|>": reference.sot,
             "<|transcribe|>": reference.transcribe, "<|startofprev|>": reference.sot_prev,
             "<|notimestamps|>": reference.no_timestamps}
    mismatched = {token: (ids(token), expected) for token, expected in pairs.items() if ids(token) != expected}
    if mismatched or blank != reference.encode(" "):
        raise ConfigurationError(f"the transformers tokenizer's ids differ from openai-whisper's for this model "
                                 f"({mismatched or 'blank'}): its tokenizer.json does not belong to these weights")
    return {
        "suppress_tokens": list(suppressed_ids(reference)),
        "begin_suppress_tokens": [*blank, reference.eot] if decoding.suppress_blank else None,
        "max_initial_timestamp_index": initial_timestamp_index(decoding.max_initial_timestamp),
    }


def build_model(checkpoint, tokenizer, token_rules: dict):
    """transformers' WhisperForConditionalGeneration holding exactly the checkpoint's weights (float32).

    ``token_rules``: suppress lists and first-timestamp bound (``openai_token_rules``).
    """
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    dims = checkpoint.dims
    multilingual = not checkpoint.english_only
    ids = tokenizer.convert_tokens_to_ids
    sot, eot = ids("<|startoftranscript|>"), ids("<|endoftext|>")
    config = WhisperConfig(
        vocab_size=dims["n_vocab"], num_mel_bins=dims["n_mels"], d_model=dims["n_audio_state"],
        encoder_layers=dims["n_audio_layer"], encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"], decoder_attention_heads=dims["n_text_head"],
        encoder_ffn_dim=4 * dims["n_audio_state"], decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"], max_target_positions=dims["n_text_ctx"],
        decoder_start_token_id=sot, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
    )
    model = WhisperForConditionalGeneration(config)
    state = {hf_name(k): torch.from_numpy(v.astype(np.float32)) for k, v in checkpoint.state.items()}
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or missing:
        raise ConfigurationError(f"weight mapping to transformers failed: missing {missing[:5]}, "
                                 f"unexpected {unexpected[:5]}")
    # English-only models must not even carry a language table: transformers would run
    # language detection and put its (meaningless) answer into the prompt.
    multilingual_fields = {}
    if multilingual:
        multilingual_fields = {
            "lang_to_id": {token: token_id for token, token_id in tokenizer.get_added_vocab().items()
                           if re.fullmatch(r"<\|[a-z]{2,3}\|>", token)},
            "task_to_id": {"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        }
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
        no_timestamps_token_id=ids("<|notimestamps|>"), is_multilingual=multilingual, **multilingual_fields,
        **token_rules, prev_sot_token_id=ids("<|startofprev|>"),
        alignment_heads=[list(h) for h in checkpoint.alignment_heads],
    )
    return model.eval()


class TransformersWhisperPipeline(Pipeline):
    backend_name = "transformers"

    def __init__(self, config: PipelineConfig):
        import torch
        from transformers import WhisperFeatureExtractor, WhisperTokenizerFast
        from transformers import logging as hf_logging
        from transformers import pipeline as hf_pipeline

        # Its per-call advice (chunking is "experimental", max_length vs max_new_tokens) is noise here.
        hf_logging.set_verbosity_error()

        device = torch_device(config.device)
        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        self.matmul_precision = torch_full_float32(device, self.dtype)
        # Set, not left to the default: every backend gets the same count (the CPU affinity's by default).
        torch.set_num_threads(config.threads or cpu_threads())
        self._torch = torch
        resolved = resolve_model(config.model)
        if resolved.tokenizer_json is None:
            raise ModelNotFoundError(f"the transformers backend needs a tokenizer.json beside the weights; "
                                     f"{resolved.source} has none")
        checkpoint = load_checkpoint(resolved)
        self.weights_sha256 = checkpoint_fingerprint(resolved, checkpoint)
        tokenizer = WhisperTokenizerFast(tokenizer_file=str(resolved.tokenizer_json))
        tokenizer.pad_token = "<|endoftext|>"  # openai-whisper pads with end-of-text; batching needs one
        torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        model = build_model(checkpoint, tokenizer, openai_token_rules(checkpoint, tokenizer, config.decoding))
        model = model.to(device=device, dtype=torch_dtype)
        self._eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
        # Timestamp tokens follow <|notimestamps|> (tokenizer.json need not list them).
        self._timestamp_begin = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
        self._english_only = checkpoint.english_only
        # Its ASR pipeline takes a list of inputs and batches their chunks together.
        self.batches_across_files = (config.batch_size or 1) > 1
        # Each generate call of the ASR pipeline: (its arguments, sampled tokens per row), into the
        # list of the transcription in progress.
        self._observer: list[tuple[dict, list[int]]] = []
        generate = model.generate

        def observed_generate(**kwargs):
            output = generate(**kwargs)
            rows = output["sequences"] if isinstance(output, dict) else output
            # generate drops the final end-of-text (shorter rows are padded with it): count up to it.
            counts = [sampled_count(row.tolist(), self._eot, self._timestamp_begin) for row in rows]
            self._observer.append(({k: v for k, v in kwargs.items() if not hasattr(v, "shape")}, counts))
            return output

        model.generate = observed_generate
        self._device = device
        self._pipe = hf_pipeline(
            "automatic-speech-recognition", model=model, tokenizer=tokenizer,
            feature_extractor=WhisperFeatureExtractor(feature_size=checkpoint.dims["n_mels"]),
            chunk_length_s=30, stride_length_s=5, batch_size=config.batch_size or 1, device=device,
            dtype=torch_dtype, ignore_warning=True,
        )
        self._generate_kwargs = {"num_beams": 1, "do_sample": False, "max_new_tokens": config.decoding.max_new_tokens}
        if not checkpoint.english_only:  # English-only models take no language or task tokens
            self._generate_kwargs.update(language=config.decoding.language, task=config.decoding.task)

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        return self._transcribe_many([samples], stats, lambda index: None)[0]

    def _transcribe_many(self, files, totals: RunStats, on_file_done) -> list[list[Segment]]:
        """One call of transformers' pipeline with every non-empty file; segments per file, in order."""
        self._observer = calls = []
        files = list(files)
        outputs: list[list[Segment]] = [[] for _ in files]
        spoken = [index for index, samples in enumerate(files) if samples.size]  # an empty file has no chunk
        # Its pipeline cannot take an empty list.
        results = self._pipe([{"raw": files[index], "sampling_rate": 16000} for index in spoken],
                             return_timestamps=True, generate_kwargs=self._generate_kwargs) if spoken else []
        for index, result in zip(spoken, results):
            outputs[index] = segments_from_chunks(result.get("chunks", []), len(files[index]) / 16000)
        synchronize(self._device)
        for index in range(len(files)):
            on_file_done(index)
        rows = [n for _, counts in calls for n in counts]
        limit = self._generate_kwargs["max_new_tokens"]
        totals.windows += len(rows)
        totals.tokens += sum(rows)
        # Only the end-of-text token is neither text nor timestamp: a row of `limit` of them never ended.
        totals.max_length_hits += sum(1 for n in rows if n >= limit)
        if calls:
            totals.decoding = self.decoding_record(calls[-1][0])
        return outputs

    def decoding_record(self, generate_kwargs: dict) -> DecodingRecord:
        """One generate call's arguments over the model's generation config."""
        effective = {**self._pipe.model.generation_config.to_dict(), **generate_kwargs}
        timestamps = bool(effective.get("return_timestamps"))
        begin = set(effective.get("begin_suppress_tokens") or ())
        blank = set(self._pipe.tokenizer.encode(" ", add_special_tokens=False)) | {self._eot}
        sampling = bool(effective.get("do_sample"))
        return DecodingRecord(
            beam_size=int(effective.get("num_beams") or 1),
            temperature=float(effective.get("temperature") or 0.0) if sampling else 0.0,
            max_new_tokens=int(effective["max_new_tokens"]),
            suppress_tokens=tuple(effective.get("suppress_tokens") or ()),
            suppress_blank=begin == blank,
            timestamps=timestamps,
            max_initial_timestamp_index=effective.get("max_initial_timestamp_index") if timestamps else None,
            condition_on_previous_text=bool(effective.get("condition_on_prev_tokens"))
            or effective.get("prompt_ids") is not None,
            # English-only models are given neither: they transcribe English.
            language=effective.get("language") or "en",
            task=effective.get("task") or "transcribe",
        )

    def describe(self) -> dict:
        info = super().describe()
        info.update(longform="chunked",
                    longform_detail="transformers' ASR pipeline: 30 s chunks, 5 s strides, its own merge, "
                                    f"{self.config.batch_size or 1} per generate call",
                    threads=self._torch.get_num_threads(), threads_source="torch.get_num_threads()")
        return info


def build(config: PipelineConfig) -> TransformersWhisperPipeline:
    return TransformersWhisperPipeline(config)
