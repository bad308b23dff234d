"""Greedy decoding of a batch of windows: one compiled step per token, in a Python loop.

The rules are the jax port's (``jax_whisper.decode._apply_rules``, openai-whisper's logit
filters), on the same ``asrperf.token_rules.TokenSpec``, vectorised over the batch: no
Python loop over rows, no Python value that changes from step to step. Everything a step
reads that varies is a tensor (the position is 0-d), so one graph serves every step, and
the caches and the token buffer are written in place. The loop in Python stops once every
row has sampled end-of-text; jax's ``lax.while_loop`` stops on the same test.
"""

from __future__ import annotations

import torch
from torch import nn

from ...token_rules import TokenSpec, vocabulary_mask
from .model import Decoder

_NEG = float("-inf")


class GreedyStep(nn.Module):
    """The decoder's step with openai-whisper's logit rules and argmax, as one function to compile."""

    def __init__(self, decoder: Decoder, spec: TokenSpec):
        super().__init__()
        self.decoder, self.spec = decoder, spec
        device = decoder.tok.weight.device
        ids = torch.arange(spec.n_vocab, device=device)
        self.register_buffer("suppress", torch.from_numpy(vocabulary_mask(spec, spec.suppress)).to(device))
        self.register_buffer("blank", torch.from_numpy(vocabulary_mask(spec, spec.blank)).to(device))
        self.register_buffer("is_ts", ids >= spec.timestamp_begin)
        self.register_buffer("is_text", ids < spec.eot)
        self.register_buffer("ids", ids)
        late = spec.max_initial_timestamp_index
        self.register_buffer("too_late", ids > spec.timestamp_begin + (late if late is not None else spec.n_vocab))

    def rules(self, logits, n_sampled, last, penultimate, max_ts):
        """openai-whisper's filters for one step; ``n_sampled`` (0-d) tokens are already out."""
        spec = self.spec
        first = n_sampled == 0
        logits = logits.masked_fill(self.suppress | (first & self.blank), _NEG)
        if not spec.timestamps:
            return logits
        ts_begin = spec.timestamp_begin
        logits[:, spec.no_timestamps] = _NEG
        last_was_ts = (n_sampled >= 1) & (last >= ts_begin)
        penultimate_was_ts = (n_sampled < 2) | (penultimate >= ts_begin)
        # Timestamps come in pairs: after a lone one, text may not follow; after a pair, a timestamp may not.
        ban_ts = (last_was_ts & penultimate_was_ts)[:, None] & self.is_ts
        ban_text = (last_was_ts & ~penultimate_was_ts)[:, None] & self.is_text
        # Non-decreasing, and every segment must have a non-zero length.
        floor = torch.where(last_was_ts & ~penultimate_was_ts, max_ts, max_ts + 1)
        below = self.is_ts & (self.ids < floor[:, None]) & (max_ts >= ts_begin)[:, None]
        # The first sampled token is a timestamp, no later than max_initial_timestamp.
        first_rule = first & (~self.is_ts | self.too_late)
        logits = logits.masked_fill(ban_ts | ban_text | below | first_rule, _NEG)
        # When all timestamps together are likelier than the best text token, take a timestamp.
        # Compared on raw logits, as the jax port does: both sides share log_softmax's normaliser.
        ts_mass = logits.masked_fill(~self.is_ts, _NEG).logsumexp(-1)
        best_text = logits.masked_fill(self.is_ts, _NEG).amax(-1)
        return logits.masked_fill((ts_mass > best_text)[:, None] & ~self.is_ts, _NEG)

    def forward(self, tokens, position, done, max_ts, cache: list[torch.Tensor], cross: list[torch.Tensor]):
        """One step at ``position``: writes ``tokens[:, position + 1]`` and ``cache``; returns (done, max_ts)."""
        spec, prompt = self.spec, len(self.spec.prompt)
        here = position.view(1)
        last = tokens.index_select(1, here)[:, 0]
        logits = self.decoder.step(last, position, cache, cross)
        penultimate = tokens.index_select(1, (position - 1).clamp(min=0).view(1))[:, 0]
        logits = self.rules(logits, position + 1 - prompt, last, penultimate, max_ts)
        sampled = torch.where(done, spec.eot, logits.argmax(-1))
        forced = position + 1 < prompt
        next_token = torch.where(forced, tokens.index_select(1, here + 1)[:, 0], sampled)
        tokens.index_copy_(1, here + 1, next_token[:, None])
        new_ts = ~forced & (next_token >= spec.timestamp_begin)
        max_ts = torch.where(new_ts, torch.maximum(max_ts, next_token), max_ts)
        return done | (~forced & (next_token == spec.eot)), max_ts


def generate(step, spec: TokenSpec, cache: list[torch.Tensor], cross: list[torch.Tensor], valid: torch.Tensor,
             max_steps: int | None = None):
    """Greedy tokens for each window: ([B, prompt + max_new] tokens, [B] sampled count, [B] hit max).

    ``step`` is a ``GreedyStep`` (or its compiled form); ``cache`` is reused across calls
    (stale entries are masked). Padding rows (``valid`` False) start finished, so they
    never keep the loop running. Prompt tokens go through the same step, forced.
    ``max_steps`` stops early (a warm-up that compiles the step).
    """
    batch, device = valid.shape[0], valid.device
    tokens = torch.zeros((batch, spec.length), dtype=torch.long, device=device)
    tokens[:, : len(spec.prompt)] = torch.tensor(spec.prompt, device=device)
    done, max_ts = ~valid, torch.full((batch,), -1, dtype=torch.long, device=device)
    position = torch.zeros((), dtype=torch.long, device=device)
    for _ in range(min(spec.length - 1, max_steps or spec.length)):
        done, max_ts = step(tokens, position, done, max_ts, cache, cross)
        position += 1
        if bool(done.all()):
            break
    sampled = tokens[:, len(spec.prompt):]
    is_eot = sampled == spec.eot
    n_tokens = torch.where(is_eot.any(1), is_eot.int().argmax(1), spec.max_new_tokens)
    return tokens, n_tokens, ~done & valid
