"""Running the studies: a study as one Ray Tune sweep (sweep, trainable, resources, sweep_storage), its
recovery from interruption and lost nodes, Ray's clean-up, the cluster door and dvc.yaml's stages."""
