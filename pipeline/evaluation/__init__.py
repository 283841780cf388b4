"""A trained model scored on held-out data: the metric registry, the samplers, the evaluation
classifier, the trivial baselines and the theory study's computations. Reads saved weights; never
trains a family."""
