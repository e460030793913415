"""karyotrain: synthetic metaphase spreads, DeepACEv2 training in PyTorch, and export to the Swift engine."""
