"""asrperf's own Whisper in PyTorch, built the way the JAX port (``jax_whisper``) is.

The framework question at equal effort (issue 19): the same weights, shapes, token rules
and long-form algorithms as the jax port, so that a torch-against-jax row measures the
framework and its compiler, not the engineering around them.

- ``params``: openai-whisper's state dict as this network's weights (fused projections);
- ``model``: log-mel to features (encoder), and the decoder with cross-attention keys and
  values once per window and a static self-attention cache written at a 0-d tensor position;
- ``decode``: the greedy step with openai-whisper's token rules vectorised over the batch
  (``asrperf.token_rules``' ``TokenSpec``, shared with the jax port), and the loop around it;
- ``compiler``: the ``compile`` option (``none`` | ``inductor``), freezing, Inductor's disk cache;
- ``pipeline``: fixed batches, both long-form algorithms, and the ``Pipeline`` API.
"""
