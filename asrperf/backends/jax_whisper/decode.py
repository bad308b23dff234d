"""Greedy decoding of a batch of windows in one compiled ``lax.while_loop``.

Every shape is static (tokens and caches are preallocated to prompt + max_new_tokens),
so one compile serves every batch. The logit rules are openai-whisper's, vectorised
over the batch: suppress blank at the start, suppress its non-speech tokens, and the
timestamp rules (pairs, non-decreasing, initial bound, and "sample a timestamp when
timestamps together outweigh the best text token").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...token_rules import TokenSpec, token_spec, vocabulary_mask  # noqa: F401  (token_spec: this module's API)
from ...tokens import split_segments as tokens_split_segments
from . import model


def _apply_rules(logits, step_state, spec: TokenSpec, vocab_ids, suppress_mask, blank_mask):
    """openai-whisper's logit filters for one step; ``n_sampled`` tokens are already out."""
    n_sampled, last, penultimate, max_ts = step_state
    neg = jnp.float32(-jnp.inf)
    first = n_sampled == 0
    logits = jnp.where(suppress_mask[None], neg, logits)
    logits = jnp.where(first & blank_mask[None], neg, logits)
    if not spec.timestamps:
        return logits
    ts_begin = spec.timestamp_begin
    is_ts = vocab_ids >= ts_begin
    logits = logits.at[:, spec.no_timestamps].set(neg)
    last_was_ts = (n_sampled >= 1) & (last >= ts_begin)
    penultimate_was_ts = (n_sampled < 2) | (penultimate >= ts_begin)
    # Timestamps come in pairs: after a lone one, text may not follow; after a pair, a timestamp may not.
    ban_ts = last_was_ts & penultimate_was_ts
    ban_text = last_was_ts & ~penultimate_was_ts
    logits = jnp.where(ban_ts[:, None] & is_ts[None], neg, logits)
    logits = jnp.where(ban_text[:, None] & (vocab_ids < spec.eot)[None], neg, logits)
    # Non-decreasing, and every segment must have a non-zero length.
    seen_ts = max_ts >= ts_begin
    floor = jnp.where(last_was_ts & ~penultimate_was_ts, max_ts, max_ts + 1)
    below = is_ts[None] & (vocab_ids[None] < floor[:, None]) & seen_ts[:, None]
    logits = jnp.where(below, neg, logits)
    # The first sampled token is a timestamp, no later than max_initial_timestamp.
    logits = jnp.where(first & (vocab_ids < ts_begin)[None], neg, logits)
    if spec.max_initial_timestamp_index is not None:
        too_late = vocab_ids > ts_begin + spec.max_initial_timestamp_index
        logits = jnp.where(first & too_late[None], neg, logits)
    # When all timestamps together are likelier than the best text token, take a timestamp.
    # openai-whisper compares log-probabilities; both sides share log_softmax's normaliser,
    # so comparing the raw logits decides the same and saves two passes over the vocabulary.
    ts_mass = jax.nn.logsumexp(jnp.where(is_ts[None], logits, neg), axis=-1)
    best_text = jnp.max(jnp.where(is_ts[None], neg, logits), axis=-1)
    return jnp.where((ts_mass > best_text)[:, None] & ~is_ts[None], neg, logits)


def generate(params, audio_features, valid, spec: TokenSpec, n_head: int):
    """Greedy tokens for each window: ([B, prompt + max_new] tokens, [B] sampled count, [B] hit max).

    ``valid`` [B] marks real windows; padding rows start finished, so they never
    keep the loop running (silence can make Whisper babble until the length limit).
    Prompt tokens are fed through the same single-token step (forced), so the cache
    fill and the sampling share one loop body and one compile.
    """
    batch = audio_features.shape[0]
    prompt_len = len(spec.prompt)
    total = spec.length
    vocab_ids = jnp.arange(spec.n_vocab)
    suppress_mask = jnp.asarray(vocabulary_mask(spec, spec.suppress))
    blank_mask = jnp.asarray(vocabulary_mask(spec, spec.blank))

    cross = model.cross_kv(params, audio_features, n_head)
    cache = model.empty_self_cache(params, batch, total, n_head)
    tokens = jnp.zeros((batch, total), jnp.int32).at[:, :prompt_len].set(jnp.array(spec.prompt, jnp.int32))
    ts_floor = jnp.full((batch,), -1, jnp.int32)
    state = (0, tokens, cache, ~valid, ts_floor)

    def keep_going(state):
        position, _, _, done, _ = state
        return (position < total - 1) & ~jnp.all(done)

    def step(state):
        position, tokens, cache, done, max_ts = state
        logits, cache = model.decode_step(params, tokens[:, position], position, cache, cross, n_head)
        n_sampled = position + 1 - prompt_len
        last = tokens[:, position]
        penultimate = tokens[:, jnp.maximum(position - 1, 0)]
        logits = _apply_rules(logits, (n_sampled, last, penultimate, max_ts), spec, vocab_ids,
                              suppress_mask, blank_mask)
        sampled = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        sampled = jnp.where(done, spec.eot, sampled)
        forced = position + 1 < prompt_len
        next_token = jnp.where(forced, tokens[:, position + 1], sampled)
        tokens = tokens.at[:, position + 1].set(next_token)
        is_new_ts = ~forced & (next_token >= spec.timestamp_begin)
        max_ts = jnp.where(is_new_ts, jnp.maximum(max_ts, next_token), max_ts)
        done = done | (~forced & (next_token == spec.eot))
        return position + 1, tokens, cache, done, max_ts

    position, tokens, _, done, _ = jax.lax.while_loop(keep_going, step, state)
    sampled = tokens[:, prompt_len:]
    is_eot = sampled == spec.eot
    n_tokens = jnp.where(is_eot.any(axis=1), jnp.argmax(is_eot, axis=1), spec.max_new_tokens)
    return tokens, n_tokens, ~done & valid


def split_segments(tokens: np.ndarray, spec: TokenSpec, decode_text) -> list[tuple[float | None, float | None, str]]:
    """One window's sampled tokens (no prompt, no eot) → (start, end, text): ``asrperf.tokens.split_segments``."""
    return tokens_split_segments(tokens, spec.timestamp_begin, spec.eot, decode_text)
