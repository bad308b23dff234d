"""Hugging Face transformers (PyTorch) Whisper, built offline from the same weights.

The model is assembled from the converted openai-format checkpoint (names mapped to
transformers' layout), the tokenizer from the packaged ``tokenizer.json`` and the
feature extractor from its defaults; nothing touches the hub. Long-form audio goes
through transformers' own chunked, batched ASR pipeline (30 s chunks, 5 s strides:
the recipe whisper-jax used), greedy, with timestamps.
"""

from __future__ import annotations

import re

import numpy as np

from ..config import PipelineConfig
from ..errors import ConfigurationError, ModelNotFoundError
from ..longform import plan_chunks
from ..segments import Segment, segments_from_chunks
from ..weights.sources import load_checkpoint, resolve_model
from .base import Pipeline
from .devices import check_dtype, synchronize, torch_device

_DTYPES = {"cpu": ("float32", "bfloat16"), "gpu": ("float16", "bfloat16", "float32")}
_RENAMES = [
    (r"^encoder\.positional_embedding$", "model.encoder.embed_positions.weight"),
    (r"^decoder\.positional_embedding$", "model.decoder.embed_positions.weight"),
    (r"^decoder\.token_embedding\.", "model.decoder.embed_tokens."),
    (r"^encoder\.ln_post\.", "model.encoder.layer_norm."),
    (r"^decoder\.ln\.", "model.decoder.layer_norm."),
    (r"^(encoder|decoder)\.conv", r"model.\1.conv"),
    (r"^(encoder|decoder)\.blocks\.(\d+)\.", r"model.\1.layers.\2."),
    (r"\.cross_attn_ln\.", ".encoder_attn_layer_norm."),
    (r"\.cross_attn\.", ".encoder_attn."),
    (r"\.attn_ln\.", ".self_attn_layer_norm."),
    (r"\.attn\.", ".self_attn."),
    (r"\.mlp_ln\.", ".final_layer_norm."),
    (r"\.mlp\.0\.", ".fc1."),
    (r"\.mlp\.2\.", ".fc2."),
    (r"\.query\.", ".q_proj."),
    (r"\.key\.", ".k_proj."),
    (r"\.value\.", ".v_proj."),
    (r"\.out\.", ".out_proj."),
]


def hf_name(openai_name: str) -> str:
    name = openai_name
    for pattern, replacement in _RENAMES:
        name = re.sub(pattern, replacement, name)
    return name


def build_model(checkpoint, tokenizer):
    """transformers' WhisperForConditionalGeneration holding exactly the checkpoint's weights (float32)."""
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
        begin_suppress_tokens=[tokenizer.encode(" ", add_special_tokens=False)[0], eot],
        max_initial_timestamp_index=50, prev_sot_token_id=ids("<|startofprev|>"),
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
        if config.threads:
            torch.set_num_threads(config.threads)
        resolved = resolve_model(config.model)
        if resolved.tokenizer_json is None:
            raise ModelNotFoundError(f"the transformers backend needs a tokenizer.json beside the weights; "
                                     f"{resolved.source} has none")
        checkpoint = load_checkpoint(resolved)
        tokenizer = WhisperTokenizerFast(tokenizer_file=str(resolved.tokenizer_json))
        tokenizer.pad_token = "<|endoftext|>"  # openai-whisper pads with end-of-text; batching needs one
        torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        model = build_model(checkpoint, tokenizer).to(device=device, dtype=torch_dtype)
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

    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        result = self._pipe({"raw": samples, "sampling_rate": 16000}, return_timestamps=True,
                            generate_kwargs=self._generate_kwargs)
        synchronize(self._device)
        segments = segments_from_chunks(result.get("chunks", []), self.last_run.audio_s)
        # The pipeline does not hand back its token ids: count the output's text tokens
        # (timestamps excluded), and the chunks of its 30 s / 5 s stride plan.
        self.last_run.windows = len(plan_chunks(len(samples)))
        self.last_run.tokens = sum(len(self._pipe.tokenizer.encode(s.text, add_special_tokens=False)) for s in segments)
        return segments

    def describe(self) -> dict:
        info = super().describe()
        info["longform"] = "transformers ASR pipeline, 30 s chunks, 5 s strides"
        return info


def build(config: PipelineConfig) -> TransformersWhisperPipeline:
    return TransformersWhisperPipeline(config)
