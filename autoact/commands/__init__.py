"""The command-line front ends of the stages: each module has ``make_parser()`` and
``main(args)``. The seed scripts (``Self_Instruct/data_generation.py`` and the others) and the
pipeline call these; ``autoact.cli.run`` turns their errors into one line."""
