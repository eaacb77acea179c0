"""Model growth: depth up-scaling, layer slices, vocabulary growth, MoE upcycling."""
