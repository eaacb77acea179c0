"""Token shards: packing documents into train/val token shards with a manifest (layer above the tokenizer)."""
