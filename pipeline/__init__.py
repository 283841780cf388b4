"""pm2gan pipeline: config, data, training, sweeps, tracking, metrics and report."""
