"""A small-network playground: architectures, toy data sets, and a training loop that teaches."""
