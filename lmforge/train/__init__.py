"""The one training loop and its objectives."""
