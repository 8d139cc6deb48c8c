"""Solves run in child processes: a supervisor for jobs, a bounded runner for synchronous solves."""
