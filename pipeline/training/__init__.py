"""Training, and nothing else: `fit.fit(cfg, data) -> Trained` and what a step costs. Imports nothing
of pipeline/ but this package, so the training code version is exactly these files and models/."""
