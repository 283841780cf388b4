"""MLflow: every call of the project to it (mlflow_api), each trained trial's one run (trial_runs) and
each study's comparison (study_log)."""
