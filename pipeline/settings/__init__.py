"""params.yaml as a typed, validated config, and a study expanded into its trials."""
