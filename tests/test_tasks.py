import json

import pytest

from autoact.errors import ConfigError, DataError
from autoact.tasks import get_task
from autoact.tasks.hotpotqa import exact_match, f1, f1_precision_recall, normalize_answer
from autoact.tasks.scienceqa import gold_index, match_option, parse_options

from conftest import REPO

BENCH = REPO / "Self_Planning/Group_Planning/benchmark_run/data"


@pytest.mark.parametrize("name", ["HotpotQA", "hotpotqa", "Hotpotqa", " HOTPOTQA "])
def test_task_names_case_insensitive(name):
    assert get_task(name).name == "HotpotQA"


def test_unknown_task_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown task 'webshop'; valid tasks: HotpotQA, ScienceQA"):
        get_task("webshop")


# --- HotpotQA metrics: hand-checked against the official definitions ------------------------

@pytest.mark.parametrize("text,norm", [
    ("The Beatles", "beatles"),
    ("  an  Apple, a day! ", "apple day"),
    ("U.S.A.", "usa"),
    ("Theatre", "theatre"),             # 'the' only as a whole word
    ("Yes.", "yes"),
])
def test_normalize_answer(text, norm):
    assert normalize_answer(text) == norm


@pytest.mark.parametrize("pred,gold,em,f1v", [
    ("the Beatles", "Beatles", True, 1.0),
    ("Beatles.", "The Beatles", True, 1.0),
    ("John Lennon", "Lennon", False, 2 / 3),          # P=1/2 R=1 -> 2/3
    ("Paul McCartney and John Lennon", "John Lennon", False, 2 * (2 / 5) * 1 / (2 / 5 + 1)),
    ("yes", "no", False, 0.0),
    ("yes", "Yes", True, 1.0),
    ("no way", "no", False, 0.0),                    # gold 'no' is special: no partial credit
    ("no", "no way", False, 0.0),                    # prediction 'no' is special
    ("Chicago", "New York", False, 0.0),
    ("", "Beatles", False, 0.0),
    ("New York City", "new york", False, 0.8),       # P=2/3 R=1 -> 0.8
])
def test_em_and_f1(pred, gold, em, f1v):
    assert exact_match(pred, gold) is em
    assert f1(pred, gold) == pytest.approx(f1v)


def test_f1_precision_recall_triplet():
    f, p, r = f1_precision_recall("w x y z", "y z v")
    assert (p, r) == (0.5, 2 / 3)
    assert f == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert f1_precision_recall("a b c d", "c d") == (0.8, 2 / 3, 1.0)  # 'a' is an article


# --- ScienceQA matching ---------------------------------------------------------------------

CHOICES = ["Harrisburg", "Dover", "Wilmington", "Georgetown"]


@pytest.mark.parametrize("pred,idx", [
    ("B", 1), ("(B)", 1), ("B.", 1), ("b", 1), ("B. Dover", 1), ("(B) Dover", 1), ("B) Dover", 1),
    ("Dover", 1), ("dover.", 1), ("  Dover ", 1), ("**Dover**", 1), ("The answer is Dover.", 1),
    ("Dovr", 1), ("Wilmingtn", 2), ("Georgetown, Delaware", 3),
    ("E", None), ("(F)", None), ("Paris", None), ("", None), (None, None),
    ("Dover or Wilmington", None),                    # names two options: ambiguous
])
def test_match_option_table(pred, idx):
    assert match_option(pred, CHOICES) == idx


def test_match_option_letter_vs_article_and_nested_options():
    assert match_option("A dog", ["cat", "dog"]) == 1          # text, not the letter A
    assert match_option("A. cat", ["cat", "dog"]) == 0
    assert match_option("salt water", ["salt", "salt water"]) == 1
    assert match_option("It is salt.", ["salt", "salt water"]) == 0


def test_case_sensitive_options():
    opts = ["dear Reggie,", "Dear Reggie,"]
    assert match_option("Dear Reggie,", opts) == 1
    assert match_option("B. Dear Reggie,", opts) == 1
    assert match_option("dear reggie", opts) is None       # ambiguous after normalising


def test_parse_options_and_gold():
    q = "Which?\nOptions: (A) 5 (m) (B) West Virginia (C) x"
    assert parse_options(q) == ["5 (m)", "West Virginia", "x"]
    assert gold_index("B. West Virginia", ["a", "West Virginia"]) == 1
    assert gold_index("West Virginia", ["a", "West Virginia"]) == 1
    assert gold_index("(A)", ["a", "b"]) == 0


def test_scienceqa_gold_answers_score_correct_in_every_form():
    task = get_task("scienceqa")
    levels = task.load_levels(BENCH / "scienceqa")
    assert {k: len(v) for k, v in levels.items()} == {"grade1-4": 120, "grade5-8": 120, "grade9-12": 120}
    for exs in levels.values():
        for ex in exs:
            i = ex.fields["answer_index"]
            letter, text = "ABCDE"[i], ex.fields["choices"][i]
            for form in (letter, f"({letter})", f"{letter}. {text}", text):
                assert task.score(form, ex).correct, (ex.id, form)
            wrong = (i + 1) % len(ex.fields["choices"])
            assert not task.score("ABCDE"[wrong], ex).correct
            assert task.score(text, ex).reward == 1.0


def test_hotpotqa_levels_and_fields():
    task = get_task("HotpotQA")
    levels = task.load_levels(BENCH / "hotpotqa")
    assert list(levels) == ["easy", "medium", "hard"]
    ex = levels["easy"][0]
    assert ex.id == "5a832c3455429954d2e2ec41" and ex.answer == "Badr Hari" and ex.level == "easy"
    assert ex.fields["context"] and ex.fields["type"] in ("bridge", "comparison")
    assert task.score("badr hari.", ex).correct
    assert sum(len(v) for v in levels.values()) == 300
    assert len({e.id for v in levels.values() for e in v}) == 300


def test_load_selected_levels_and_single_file():
    task = get_task("HotpotQA")
    assert list(task.load_levels(BENCH / "hotpotqa", ["hard"])) == ["hard"]
    one = task.load_levels(BENCH / "hotpotqa" / "medium.jsonl")
    assert list(one) == ["medium"] and len(one["medium"]) == 100
    with pytest.raises(DataError, match="unknown level"):
        task.load_levels(BENCH / "hotpotqa", ["extreme"])


def test_self_instruct_records_load_with_stable_ids(tmp_path):
    task = get_task("hotpotqa")
    exs = task.load_file(REPO / "Self_Instruct/Meta_sample/Meta_Hotpotqa.json")
    assert [e.answer for e in exs] == ["Manhattan", "yes"]
    assert exs[0].id.startswith("q-") and exs[0].id != exs[1].id
    sci = get_task("scienceqa").load_file(REPO / "Self_Instruct/Meta_sample/Meta_Scienceqa.json")
    assert sci[0].fields["choices"] == ["West Virginia", "Louisiana", "Arizona", "Oklahoma"]
    assert sci[0].answer == "A. West Virginia" and sci[0].fields["orc"].startswith("[(")


@pytest.mark.parametrize("records,msg", [
    ([{"Question": "q", "Answer": "a"}, {"Answer": "b"}], r':3: expected an object with "Question"'),
    ([{"Question": "q"}], r':2: expected an object with "Answer"'),
    ([["q", "a"]], r":2: expected an object"),
])
def test_hotpotqa_bad_records(tmp_path, records, msg):
    f = tmp_path / "d.json"
    f.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]")
    with pytest.raises(DataError, match=msg):
        get_task("hotpotqa").load_file(f)


def test_scienceqa_answer_must_name_an_option(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps([{"Question": "Which?\nOptions: (A) x (B) y", "Answer": "D"}]))
    with pytest.raises(DataError, match=r"d.json:1: \"Answer\" 'D' names none of the 2 options"):
        get_task("scienceqa").load_file(f)
    f.write_text(json.dumps([{"Question": "Which one?", "Answer": "A"}]))
    with pytest.raises(DataError, match="Options:"):
        get_task("scienceqa").load_file(f)


def test_built_in_tasks_are_spec_files_with_an_implementation(tmp_path):
    """HotpotQA and ScienceQA come from their shipped spec files; a copy of one with its own
    name, levels and data is a new task that reads records and scores as the class does."""
    import yaml

    from autoact.data import HOTPOTQA_DIR, SEEDS_DIR
    from autoact.tasks import TASKS
    from autoact.tasks.spec import SHIPPED_DIR, load_spec
    hotpot = TASKS["hotpotqa"]
    assert hotpot.implementation == "hotpotqa" and hotpot.eval_path == HOTPOTQA_DIR
    assert hotpot.seed_path == SEEDS_DIR / "Meta_Hotpotqa.json" and hotpot.levels == ("easy", "medium", "hard")
    science = TASKS["scienceqa"]
    assert science.multimodal and science.level_labels["grade1-4"] == "G1-4"
    assert set(science.load_levels(science.eval_path)) == {"grade1-4", "grade5-8", "grade9-12"}
    assert science.canonical_level("1-4") == "grade1-4"

    spec = yaml.safe_load((SHIPPED_DIR / "hotpotqa.yaml").read_text())
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev.jsonl").write_text((HOTPOTQA_DIR / "easy.jsonl").read_text().splitlines()[0] + "\n")
    spec.update(name="HotpotMini", levels=["dev"], level_labels={"dev": "Dev"}, eval_path=str(data),
                seed_path=str(SEEDS_DIR / "Meta_Hotpotqa.json"))
    (tmp_path / "mini.yaml").write_text(yaml.safe_dump(spec))
    mini = load_spec(tmp_path / "mini.yaml")
    [example] = mini.load_levels(data)["dev"]
    assert mini.score(example.answer, example).correct and mini.score("nothing like it", example).reward == 0.0
    assert mini.level_labels == {"dev": "Dev"} and mini.default_tools == hotpot.default_tools
    # a seed file whose answers need normalising is not handed to the stages as it is
    numeric = tmp_path / "numeric_seeds.json"
    numeric.write_text(json.dumps([{"Question": "What is 1+1?", "Answer": 2}]))
    (tmp_path / "num.yaml").write_text(yaml.safe_dump({**spec, "seed_path": str(numeric)}))
    num = load_spec(tmp_path / "num.yaml")
    assert num.seed_path is None and num.seed_examples == [{"Question": "What is 1+1?", "Answer": "2"}]
    for change, message in (({"implementation": "webshop"}, "must be one of hotpotqa, scienceqa"),
                            ({"answer_type": "choice"}, "does not fit implementation hotpotqa"),
                            ({"level_labels": {"nope": "X"}}, "level_labels")):
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**spec, **change}))
        with pytest.raises(DataError, match=message):
            load_spec(tmp_path / "bad.yaml")
