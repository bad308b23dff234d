"""asrperf's own Whisper in JAX, following whisper-jax's batched long-form algorithm.

whisper-jax itself no longer installs or imports on current JAX, so this package
re-implements its approach on plain ``jax.numpy`` over a parameter pytree loaded
from the same openai-format checkpoint the PyTorch backend uses:

- ``params``: the checkpoint as the network's parameters, each linear layer with a
  named weight layout (``Layout``), built on the host and placed in one transfer;
- ``model``: log-mel front end, encoder and decoder (a single-token step with a
  preallocated key/value cache, and a full-sequence form for parity tests);
- ``tokenizer`` and ``assets``: openai-whisper's token ids and mel filters, read from
  its data files without importing it (and so without torch);
- ``decode``: greedy decoding in one ``lax.while_loop`` with openai-whisper's
  timestamp and suppression rules;
- ``asrperf.longform``: 30 s chunks with 5 s strides, batched, and the merge of chunk
  outputs (the native algorithm); ``asrperf.sequential`` with ``whole_mel``: openai-whisper's
  seek loop over the whole audio's log-mel (``longform="sequential"``);
- ``pipeline``: device placement, sharding, compilation and the ``Pipeline`` API;
  ``executables`` keeps its compiled programs on disk for the next process.
"""
