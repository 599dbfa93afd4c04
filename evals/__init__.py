"""evals: labeled sets, judge and benchmark scripts, and their recorded reports."""
