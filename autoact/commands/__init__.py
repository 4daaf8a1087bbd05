"""The command-line front ends: each module has its script's ``--help`` text, ``make_parser()``
(built from the stage's ``Settings``) and ``main(args)``. The seed scripts
(``Self_Instruct/data_generation.py`` and the others) call these; ``autoact.cli.run`` turns
their errors into one line."""
