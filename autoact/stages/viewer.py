"""The report's HTML viewer: ``index.html``, one self-contained page (no server, no network).

What it shows: the report (its tables and notes, the PNG charts embedded as ``data:`` URIs),
every trajectory of every run and level (filtered by method, level, outcome and question text;
each one's steps, the prediction beside the gold answer, the reflection, which agent wrote each
line, calls and tokens), two methods side by side on the same question, and trajectory-synthesis
logs with what the filter kept and why (:func:`filter_reason`, from the filter's own
:func:`~autoact.stages.filtering.keep`).

How it stays safe and small: the data is model output, so it travels as JSON in
``<script type="application/json">`` blocks with ``<``, ``>`` and ``&`` escaped (ASCII-only, so
U+2028/2029 are escaped too) and the page's script writes every data string with
``textContent``; a Content-Security-Policy lets only the page's own script and style run. Records
keep what the page shows (no prompts); questions are stored once however many runs answered them,
long observations once however many steps saw them; each run's steps sit in their own block,
parsed when a trajectory of that run is first opened; lists are paginated and a trajectory's
elements are built when it is opened.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from autoact.agents.prompts import Step
from autoact.errors import DataError
from autoact.stages.evaluation import ALIASES, TUNED_METHODS
from autoact.stages.filtering import CRITERIA, is_invalid, keep, role_examples
from autoact.tools import parse_action, resolve_tool_name

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "viewer"
#: observations at least this long are stored once in a shared table and referenced by index
INTERN_MIN = 48
#: fields of a record the page shows in their own place, or that repeat per run (not copied)
_KNOWN = frozenset({
    "id", "question", "answer", "level", "task", "prediction", "correct", "reward", "finished", "halted",
    "error", "n_steps", "steps", "answers", "reflection", "prompt", "usage", "seconds", "trials", "program",
    "program_dropped", "instruction", "method", "agent", "llm", "roles", "retrieval", "source"})
#: a run's records with an extra field longer than this (as JSON) show it cut
_EXTRA_MAX = 600

#: synthesis trajectories: what the filter did with each (index entries carry the number)
KEPT, NOT_SELECTED, REJECTED, ELIGIBLE = 0, 1, 2, 3
STATUS_LABELS = {KEPT: "kept", NOT_SELECTED: "eligible, not selected", REJECTED: "not eligible",
                 ELIGIBLE: "eligible"}


# ----------------------------------------------------------------------------- small helpers

def _text(value) -> str:
    """A record's value as display text ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)


def _num(value) -> float | None:
    """A finite number, or ``None`` (NaN and infinities cannot travel as JSON)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return round(float(value), 6)
    if isinstance(value, list) and value:          # the reference wrote some rewards as [x]
        return _num(value[0])
    return None


def _int(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def _key(question: str) -> str:
    return " ".join(question.split()).casefold()


def embed_json(obj) -> str:
    """``obj`` as JSON that is safe inside a ``<script type="application/json">`` element: no
    ``<``, ``>`` or ``&`` (so no ``</script>`` or ``<!--``), ASCII only (so no U+2028/2029)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def data_uri(path: Path) -> str | None:
    """A PNG file as a ``data:`` URI (``None`` if it is not there)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


class Page:
    """The page's shared tables: questions (by task and text, so runs line up for the side by
    side view) and long strings."""

    def __init__(self) -> None:
        self.questions: list[list] = []
        self._qindex: dict[tuple, int] = {}
        self.strings: list[str] = []
        self._sindex: dict[str, int] = {}

    def question(self, task: str, text: str, gold: str) -> int:
        key = (task.casefold(), _key(text), gold)
        if key not in self._qindex:
            self._qindex[key] = len(self.questions)
            self.questions.append([task, text, gold])
        return self._qindex[key]

    def string(self, text: str):
        """A long ``text`` as its index in the shared table; a short one as itself."""
        if len(text) < INTERN_MIN:
            return text
        if text not in self._sindex:
            self._sindex[text] = len(self.strings)
            self.strings.append(text)
        return self._sindex[text]


# ----------------------------------------------------------------------------- records

def _flags(rec: dict) -> int:
    """Bits: 1 correct, 2 halted, 4 error, 8 finished (as the summaries count them: an errored
    question is neither correct nor halted)."""
    if rec.get("error"):
        return 4
    return (1 if rec.get("correct") else 0) | (2 if rec.get("halted") else 0) | \
        (8 if rec.get("finished") else 0)


def writers_of(method: str | None, roles: dict | None) -> tuple[list[dict], str]:
    """The run's writers (``{"thought", "action", "argument"}``, each ``[role, model]``) and how
    its steps are attributed: ``group`` (plan/tool/reflect agents by step), ``one`` (one model
    wrote everything) or ``""`` (not recorded, e.g. a reference log)."""
    if not isinstance(roles, dict) or not roles:
        return [], ""
    kind = ALIASES.get(str(method), str(method))
    plan, tool, reflect = (_text(roles.get(r)) for r in ("plan", "tool", "reflect"))
    if kind not in TUNED_METHODS:
        model = ["model", plan]
        return [{"thought": model, "action": model, "argument": None}], "one"
    out = [{"thought": ["plan", plan], "action": ["plan", plan], "argument": ["tool", tool]},
           {"thought": ["reflect", reflect], "action": ["reflect", reflect], "argument": None}]
    per_tool = roles.get("tool_agents") if kind == "autoact_per_tool" else None
    for name, model in (per_tool or {}).items() if isinstance(per_tool, dict) else ():
        out.append({"thought": ["plan", plan], "action": ["plan", plan], "argument": [f"tool {name}", _text(model)]})
    return out, "group"


def _step_writer(steps: list, i: int, action: tuple | None, writers: Sequence[dict], mode: str,
                 reflect: bool) -> int:
    """Index into ``writers`` of the agent(s) that wrote step ``i`` (-1: not known)."""
    if mode == "one":
        return 0
    if mode != "group":
        return -1
    prev = steps[i - 1] if i else None
    if reflect and isinstance(prev, dict) and _text(prev.get("action")).startswith("Finish["):
        return 1
    if action is not None:
        name = resolve_tool_name(action[0]) or action[0]
        for j, w in enumerate(writers[2:], 2):
            if w["argument"] and w["argument"][0] == f"tool {name}":
                return j
    return 0


def compact_record(rec: dict, page: Page, *, writers: Sequence[dict] = (), mode: str = "",
                   reflect: bool = True) -> dict:
    """The details the page shows of one record: its steps (``[thought, action, observation,
    writer, invalid]``; an action the parser reads is ``[name, argument]``; a long observation
    an index into the shared strings), prediction, answers, reflection and cost; other fields as
    short text. Whatever a record lacks is left out."""
    raw_steps = rec.get("steps") if isinstance(rec.get("steps"), list) else []
    steps = []
    for i, st in enumerate(raw_steps):
        if not isinstance(st, dict):
            continue
        thought, action, observation = (_text(st.get(k)) for k in ("thought", "action", "observation"))
        parsed = parse_action(action)
        invalid = is_invalid(Step(thought, action, observation, bool(st.get("invalid"))))
        steps.append([thought, list(parsed) if parsed else action, page.string(observation),
                      _step_writer(raw_steps, i, parsed, writers, mode, reflect), int(invalid)])
    out: dict = {"s": steps}
    if rec.get("id") is not None:
        out["id"] = _text(rec.get("id"))
    if rec.get("prediction") is not None:
        out["p"] = _text(rec.get("prediction"))
    if rec.get("error"):
        out["e"] = _text(rec.get("error"))
    if isinstance(rec.get("answers"), list):
        out["a"] = [[_text(a.get("answer")), a.get("correct") if isinstance(a.get("correct"), bool) else None]
                    for a in rec["answers"] if isinstance(a, dict)]
    if isinstance(rec.get("reflection"), list) and rec["reflection"]:
        out["r"] = [_text(x) for x in rec["reflection"]]
    usage = rec.get("usage") if isinstance(rec.get("usage"), dict) else {}
    cost = {k: _int(usage.get(k)) for k in ("calls", "prompt_tokens", "completion_tokens")}
    cost = {k: v for k, v in cost.items() if v is not None}
    if _num(rec.get("seconds")) is not None:
        cost["seconds"] = _num(rec.get("seconds"))
    if cost:
        out["u"] = cost
    if isinstance(rec.get("trials"), list):
        out["t"] = [{k: _text(v) for k, v in t.items()} for t in rec["trials"] if isinstance(t, dict)]
    if isinstance(rec.get("program"), list):
        out["g"] = [_text(x) for x in rec["program"]]
    extra = {}
    for key, value in rec.items():
        if key in _KNOWN or value is None or value == "" or value == [] or value == {}:
            continue
        text = _text(value)
        extra[str(key)] = text if len(text) <= _EXTRA_MAX else text[:_EXTRA_MAX] + " ..."
    if extra:
        out["x"] = extra
    return out


def _index_entry(rec: dict, qi: int, level: int) -> list:
    """``[question, level, flags, reward, steps, calls]``: what the lists filter and show."""
    steps = rec.get("steps") if isinstance(rec.get("steps"), list) else []
    n = _int(rec.get("n_steps"))
    usage = rec.get("usage") if isinstance(rec.get("usage"), dict) else {}
    return [qi, level, _flags(rec), _num(rec.get("reward")), n if n is not None else len(steps),
            _int(usage.get("calls"))]


# ----------------------------------------------------------------------------- evaluation runs

def run_folder(run: dict) -> Path:
    """The folder of a loaded run (``_path`` is its summary.json or, for a reference run, the folder)."""
    p = Path(run["_path"])
    return p.parent if p.suffix == ".json" else p


def level_records(run: dict) -> list[tuple[str, list[dict]]]:
    """``[(level, records)]`` of a loaded run (:func:`autoact.report.tables.load_runs`): the
    latest record of each question of each level log, ours or the reference's."""
    from autoact.reference_logs import read_log
    from autoact.report.summary import level_log
    from autoact.tasks import get_task
    task = get_task(run["task"])
    folder = run_folder(run)
    levels = list(run.get("levels") or {})
    levels += [lv for lv in task.levels if lv not in levels]
    out = []
    for level in levels:
        log = level_log(task, folder, level)
        if log.is_file():
            out.append((level, read_log(log)[0]))
    return out


def collect_run(run: dict, page: Page) -> tuple[dict, list[dict]]:
    """A run's entry for the page (label, task, agents, levels, and the index of its records)
    and the details of its records, in the same order."""
    from autoact.report.summary import metric_names
    from autoact.tasks import get_task
    task = get_task(run["task"])
    per_level = level_records(run)
    first = next((r for _, recs in per_level for r in recs), {})
    settings = run.get("settings") if isinstance(run.get("settings"), dict) else {}
    method = settings.get("method") or first.get("method") or None
    roles = run.get("roles") if isinstance(run.get("roles"), dict) else first.get("roles")
    writers, mode = writers_of(method, roles)
    reflect = str(method) != "no_reflect"
    levels = [lv for lv, _ in per_level]
    index, details = [], []
    for li, (level, records) in enumerate(per_level):
        for rec in sorted(records, key=lambda r: _text(r.get("id"))):
            qi = page.question(task.name, _text(rec.get("question")), _text(rec.get("answer")))
            index.append(_index_entry(rec, qi, li))
            details.append(compact_record(rec, page, writers=writers, mode=mode, reflect=reflect))
    llm = first.get("llm") if isinstance(first.get("llm"), dict) else None
    entry = {
        "label": _text(run.get("method")), "backbone": _text(run.get("backbone")), "task": task.name,
        "method": _text(method), "path": str(run_folder(run)), "levels": levels,
        "level_labels": [task.level_labels.get(lv, lv) for lv in levels],
        "metrics": metric_names(task), "writers": writers, "attribution": mode,
        "llm": {k: _text(v) for k, v in llm.items()} if llm else None,
        "retrieval": _text((run.get("retrieval") or {}).get("label")) if isinstance(run.get("retrieval"), dict)
        else _text(run.get("retrieval")),
        "index": index}
    return entry, details


# ----------------------------------------------------------------------------- synthesis logs

def filter_reason(record: dict, criterion: str = "correct", kept_ids: set | None = None,
                  filter_num: int | None = None) -> tuple[int, str]:
    """What the filter did with a trajectory, and why: ``(status, reason)`` with status
    :data:`KEPT`, :data:`NOT_SELECTED` (it met the criterion but was beyond ``--filter_num``
    after the seeded shuffle), :data:`REJECTED` or, without the filter's ``kept_ids``,
    :data:`ELIGIBLE`. The criterion is the filter's own :func:`~autoact.stages.filtering.keep`;
    the reason names the first of its conditions the trajectory failed, found by asking ``keep``
    again with that condition met."""
    if criterion not in CRITERIA:
        raise DataError(f"unknown filter criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
    if not keep(record, "none"):
        return REJECTED, f"ended in an error: {_text(record.get('error'))}"
    if not keep(record, criterion):
        if keep({**record, "halted": False, "finished": True}, criterion):
            return REJECTED, ("halted (its step budget or context was spent) before a final answer"
                              if record.get("halted") else "did not finish")
        if criterion == "reward":
            f1 = _num(record.get("reward")) or 0.0
            return REJECTED, f"its answer is not exactly right (F1 {f1:.2f}, the criterion needs 1)"
        return REJECTED, "its answer is wrong (not an exact match with the gold answer)"
    rule = CRITERIA[criterion]
    if kept_ids is None:
        return ELIGIBLE, f"meets the criterion ({rule}); no filter data given to say whether it was kept"
    if _text(record.get("id")) in kept_ids:
        return KEPT, f"kept: meets the criterion ({rule})"
    cap = f" {filter_num}" if filter_num else ""
    return NOT_SELECTED, (f"meets the criterion ({rule}) but is not among the{cap} kept (--filter_num; "
                          f"the filter shuffles the eligible ones with its seed and keeps the first)")


def _metrics(task_name: str) -> list[str]:
    """The task's metric names (EM and F1, or accuracy); EM and F1 for a task not registered here."""
    from autoact.errors import ConfigError
    from autoact.report.summary import metric_names
    from autoact.tasks import get_task
    try:
        return metric_names(get_task(task_name))
    except ConfigError:
        return ["em", "f1"]


def filter_config(folder: Path) -> dict:
    from autoact.io import read_mapping
    path = Path(folder) / "data_config.json"
    if not path.is_file():
        raise DataError(f"--filter_data {folder}: no data_config.json (is it the --save_path of "
                        f"filter_data.py?)")
    cfg = read_mapping(path, "filter data config")
    settings = cfg.get("settings")
    if not isinstance(settings, dict) or not isinstance(cfg.get("kept_ids"), list):
        raise DataError(f"{path}: not a filter_data.py config (no settings or kept_ids)")
    return cfg


def collect_synthesis(path: str | Path, page: Page, filter_data: str | Path | None = None) -> tuple[dict, list[dict]]:
    """A trajectory-synthesis log's entry for the page (its index with each trajectory's filter
    status) and the details of its trajectories (with the filter's reason and, for a kept one,
    how many training examples each agent got from it)."""
    from autoact.io import read_json
    from autoact.reference_logs import read_log
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--trajectories {path}: no such file (run_task.py's --save_path, or a pipeline's "
                        f"trajectories.jsonl)")
    records, from_reference = read_log(path)
    notes = []
    cfg = filter_config(Path(filter_data)) if filter_data else None
    settings = cfg["settings"] if cfg else {}
    criterion = _text(settings.get("criterion")) or "correct"
    kept_ids = {_text(x) for x in cfg["kept_ids"]} if cfg else None
    filter_num = _int(settings.get("filter_num"))
    if cfg:
        notes.append(f"filter data: {filter_data} (criterion {criterion}, --filter_num {filter_num}, "
                     f"seed {settings.get('seed')}; kept {len(kept_ids)} of {cfg.get('trajectories')})")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if settings.get("source_sha256") and settings["source_sha256"] != digest:
            notes.append(f"warning: {filter_data} was built from another version of this log "
                         f"({settings.get('source')}); the kept marks may not match these trajectories")
    else:
        notes.append(f"no filter data given: each trajectory is checked against the default criterion "
                     f"({criterion}); which of the eligible ones --filter_num kept is not known")
    if from_reference:
        notes.append(f"{from_reference} lines are in the reference's log format (steps parsed from the prompt)")
    llm = None
    config_path = path.with_suffix(".config.json")      # run_task.py writes its settings beside the log
    if config_path.is_file():
        try:
            cfg_run = read_json(config_path)
            llm = cfg_run.get("llm") if isinstance(cfg_run, dict) else None
        except DataError:           # only a label: a damaged config does not stop the report
            llm = None
    first = records[0] if records else {}
    llm = llm if isinstance(llm, dict) else first.get("llm") if isinstance(first.get("llm"), dict) else {}
    model = _text(llm.get("model")) or "not recorded"
    if llm.get("backend"):
        model += f" on the {_text(llm['backend'])} backend"
    writers = [{"thought": ["Meta-Agent", model], "action": ["Meta-Agent", model], "argument": None}]
    task_name = _text(first.get("task")) or (_text(settings.get("task")) or "")
    index, details = [], []
    counts = {KEPT: 0, NOT_SELECTED: 0, REJECTED: 0, ELIGIBLE: 0}
    levels: list[str] = []
    for rec in records:
        status, reason = filter_reason(rec, criterion, kept_ids, filter_num)
        counts[status] += 1
        level = _text(rec.get("level")) or "-"
        if level not in levels:
            levels.append(level)
        qi = page.question(_text(rec.get("task")) or task_name, _text(rec.get("question")), _text(rec.get("answer")))
        index.append(_index_entry(rec, qi, levels.index(level)) + [status])
        d = compact_record(rec, page, writers=writers, mode="one")
        d["why"] = reason
        if status == KEPT:
            try:
                pairs = role_examples(rec, f"{path}: id {rec.get('id')}", instruction="")
                d["ex"] = {role: len(v) for role, v in pairs.items()}
            except (DataError, KeyError, TypeError, AttributeError) as err:
                d["ex_error"] = str(err)
        details.append(d)
    summary = (f"{len(records)} trajectories: " +
               ", ".join(f"{n} {STATUS_LABELS[s]}" for s, n in counts.items() if n))
    entry = {"path": str(path), "task": task_name, "criterion": criterion, "filter_num": filter_num,
             "filter_data": str(filter_data) if filter_data else None, "summary": summary, "notes": notes,
             "levels": levels, "level_labels": levels, "writers": writers, "attribution": "one",
             "metrics": _metrics(task_name), "index": index}
    return entry, details


# ----------------------------------------------------------------------------- the report's text

def markdown_blocks(md: str, folder: Path | None = None) -> list[dict]:
    """The report's Markdown (the subset the report writes: ``###`` headings, tables with
    ``**bold**`` cells, ``-`` lists, fenced code, ``![alt](file.png)`` images, paragraphs) as
    blocks the page renders as text: ``{"h"}``, ``{"table": {"header", "rows"}}`` (a bold cell is
    ``{"b": text}``), ``{"list"}``, ``{"pre"}``, ``{"img", "alt"}``, ``{"p"}``."""
    blocks: list[dict] = []
    lines = md.splitlines()
    i = 0

    def cells(line: str) -> list:
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        return [{"b": c[2:-2]} if len(c) > 4 and c.startswith("**") and c.endswith("**") else c for c in parts]
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append({"pre": "\n".join(lines[i + 1:j])})
            i = j + 1
            continue
        if line.startswith("#"):
            blocks.append({"h": line.lstrip("#").strip()})
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i].replace("|", "").strip()) <= set("-: "):
                    rows.append(cells(lines[i]))
                i += 1
            blocks.append({"table": {"header": rows[0] if rows else [], "rows": rows[1:]}})
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(lines[i][2:])
                i += 1
            blocks.append({"list": items})
            continue
        elif line.startswith("![") and line.endswith(")") and "](" in line:
            alt, target = line[2:-1].split("](", 1)
            uri = data_uri(folder / target) if folder is not None and "/" not in target else None
            blocks.append({"img": uri, "alt": alt} if uri else {"p": f"({alt}: {target})"})
        elif line.strip():
            blocks.append({"p": line})
        i += 1
    return blocks


# ----------------------------------------------------------------------------- the page

def _asset(name: str) -> str:
    try:
        return (ASSETS / name).read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(f"{ASSETS / name}: the viewer's template is missing ({err.strerror}); "
                        f"reinstall autoact") from None


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render_page(data: dict, blocks: dict[str, object]) -> str:
    """The HTML of the page: the template with its style and script inlined (allowed by their
    hashes in the page's Content-Security-Policy, nothing else may run or load), ``data`` and
    each of ``blocks`` (``{element id: JSON value}``) as JSON script elements."""
    css = _asset("viewer.css")
    js = _asset("viewer.js")
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           f"base-uri 'none'; form-action 'none'")
    data_html = [f'<script type="application/json" id="autoact-data">{embed_json(data)}</script>']
    for ident, value in blocks.items():
        data_html.append(f'<script type="application/json" id="{ident}">{embed_json(value)}</script>')
    pieces = {"CSP": csp, "CSS": css, "DATA": "\n".join(data_html), "JS": js}
    template = _asset("viewer.html")
    out = []
    rest = template
    for name in ("CSP", "CSS", "DATA", "JS"):
        marker = f"@@{name}@@"
        if rest.count(marker) != 1:
            raise DataError(f"{ASSETS / 'viewer.html'}: expected one {marker}")
        before, rest = rest.split(marker)
        out += [before, pieces[name]]
    return "".join(out + [rest])


class Viewer:
    """Collects what ``index.html`` shows, before anything is written (a malformed log fails
    here with the report's one-line error, and no output is touched), then writes it."""

    def __init__(self, runs: Sequence[dict], synthesis: Iterable[tuple[str, str | None]] = ()):
        self.page = Page()
        self.runs: list[dict] = []
        self.blocks: dict[str, object] = {}
        for i, run in enumerate(runs):
            entry, details = collect_run(run, self.page)
            self.runs.append(entry)
            self.blocks[f"autoact-run-{i}"] = details
        self.synthesis: list[dict] = []
        for i, (path, data) in enumerate(synthesis):
            entry, details = collect_synthesis(path, self.page, data)
            self.synthesis.append(entry)
            self.blocks[f"autoact-synth-{i}"] = details

    def html(self, report: list[dict], title: str = "AutoAct report") -> str:
        data = {"title": title, "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "report": report, "questions": self.page.questions, "runs": self.runs,
                "synthesis": self.synthesis, "status_labels": [STATUS_LABELS[s] for s in sorted(STATUS_LABELS)]}
        return render_page(data, {"autoact-strings": self.page.strings, **self.blocks})

    def write(self, path: str | Path, report: list[dict], title: str = "AutoAct report") -> Path:
        from autoact.io import write_text_atomic
        write_text_atomic(path, self.html(report, title))
        return Path(path)
