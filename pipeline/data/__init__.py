"""The datasets: makers, fixed train/validation/test splits, and the files the `fetch` stage writes."""
