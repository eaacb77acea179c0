"""Reinforcement learning after SFT: reward models (`lmforge rm`) and GRPO with rule rewards (`lmforge rl`)."""
