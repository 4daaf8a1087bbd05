"""The data shipped with the package (see README.md beside this file): the evaluation questions of
HotpotQA and ScienceQA, the self-instruct seed examples and the DeepSpeed configs. The seed paths
of the reference (``Self_Planning/Group_Planning/benchmark_run/data/...``, ``Self_Instruct/Meta_sample``,
``playground/``) are links to these folders in a clone, so both spellings read the same files."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
HOTPOTQA_DIR = DATA_DIR / "hotpotqa"
SCIENCEQA_DIR = DATA_DIR / "scienceqa"
SEEDS_DIR = DATA_DIR / "meta_sample"
DEEPSPEED_DIR = DATA_DIR / "deepspeed"


def deepspeed_config(value) -> Path:
    """The DeepSpeed config a setting names: as given when absolute or found from the current
    folder, else the shipped config of that file name (the seed's
    ``playground/deepspeed_config_s3.json`` is ``deepspeed/deepspeed_config_s3.json`` here), so
    the seed flag works from any folder and from an installed wheel."""
    p = Path(str(value))
    if p.is_absolute() or p.exists():
        return p
    shipped = DEEPSPEED_DIR / p.name
    return shipped if shipped.is_file() else p
