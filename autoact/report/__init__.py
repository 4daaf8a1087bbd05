"""Tables and plots from result logs."""
