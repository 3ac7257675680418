"""The batched scoring engine: token-budget batches, shared contexts, OOM retry.

It works on token ids and a torch causal LM; adapters turn text requests into
token requests and back. Requests arrive as one flat list and results leave by
index, so sharding the list across data-parallel ranks (rank::world_size) can
be added in front of it without touching the scoring code.
"""
