"""Search over tools and workflows: BM25, and embeddings when the semantic extra is installed."""
