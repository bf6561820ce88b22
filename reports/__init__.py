"""Result records, report renderers, baselines."""
