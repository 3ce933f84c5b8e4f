"""Real images (scikit-learn digits) through PyTorch, with the same strategies as the theory engine."""
