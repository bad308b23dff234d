"""asrperf's own Whisper in JAX, following whisper-jax's batched long-form algorithm.

whisper-jax itself no longer installs or imports on current JAX, so this package
re-implements its approach on plain ``jax.numpy`` over a parameter pytree loaded
from the same openai-format checkpoint the PyTorch backend uses:

- ``model``: log-mel front end, encoder and decoder (a single-token step with a
  preallocated key/value cache, and a full-sequence form for parity tests);
- ``decode``: greedy decoding in one ``lax.while_loop`` with openai-whisper's
  timestamp and suppression rules;
- ``longform``: 30 s chunks with 5 s strides, batched, and the merge of chunk outputs;
- ``pipeline``: device placement, sharding, compilation and the ``Pipeline`` API.
"""
