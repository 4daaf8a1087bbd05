/* The AutoAct report viewer. Every string from the data is written with text nodes
   (createTextNode / textContent), never parsed as HTML. The data blocks are JSON script
   elements, parsed when first needed; elements of a trajectory are built when it is opened. */
(function () {
  "use strict";
  var PAGE_SIZE = 50;
  var FOLD_AT = 300;        // observations longer than this are folded
  var OUTCOMES = [["", "any outcome"], ["correct", "correct"], ["incorrect", "incorrect"],
                  ["halted", "halted"], ["error", "error"]];

  function readBlock(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  var D = readBlock("autoact-data");
  var parsed = {};
  function block(id) {
    if (!Object.prototype.hasOwnProperty.call(parsed, id)) parsed[id] = readBlock(id) || [];
    return parsed[id];
  }
  function text(v) { return typeof v === "number" ? block("autoact-strings")[v] : (v === null || v === undefined ? "" : v); }

  // ------------------------------------------------------------------ DOM helpers (text only)
  function add(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { add(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function el(tag, cls) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function option(value, label) { var o = el("option", null, label); o.value = String(value); return o; }
  function select(options, onchange) {
    var s = el("select", null, options.map(function (o) { return option(o[0], o[1]); }));
    s.addEventListener("change", onchange);
    return s;
  }
  function labelled(label, control) { return el("label", null, label, control); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function fmt(x, digits) { return x === null || x === undefined ? "-" : Number(x).toFixed(digits === undefined ? 2 : digits); }
  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }
  function searchBox(onChange) {
    var box = el("input");
    box.type = "search";
    box.placeholder = "search the question text";
    box.addEventListener("input", debounce(onChange, 150));
    return box;
  }

  // ------------------------------------------------------------------ records
  var lowerQuestions = [];
  function questionLower(qi) {
    if (lowerQuestions[qi] === undefined) lowerQuestions[qi] = String(D.questions[qi][1]).toLowerCase();
    return lowerQuestions[qi];
  }
  function outcomeOf(flags) {
    return flags & 4 ? "error" : flags & 1 ? "correct" : flags & 2 ? "halted" : "incorrect";
  }
  function hasOutcome(flags, want) {
    if (!want) return true;
    if (want === "correct") return (flags & 1) !== 0;
    if (want === "incorrect") return (flags & 1) === 0 && (flags & 4) === 0;
    if (want === "halted") return (flags & 2) !== 0;
    return (flags & 4) !== 0;
  }
  function outcomeBadges(flags) {
    var main = outcomeOf(flags);
    var out = [el("span", "badge b-" + main, main)];
    if (main === "correct" && (flags & 2)) out.push(el("span", "badge b-halted", "halted"));
    return out;
  }
  function runName(run) { return run.backbone ? run.label + " / " + run.backbone : run.label; }
  function isChoice(src) { return src.metrics && src.metrics.indexOf("accuracy") >= 0; }
  function scoreText(src, entry) {        // HotpotQA-style: EM and F1; multiple choice: accuracy
    var em = (entry[2] & 1) ? "1" : "0";
    return isChoice(src) ? "acc " + em : "EM " + em + " \u00b7 F1 " + fmt(entry[3]);
  }

  // ------------------------------------------------------------------ one trajectory
  // the tools of the pool each keep one colour; any other tool gets one by its name's hash
  var toolClasses = new Map([["bingsearch", "t0"], ["retrieve", "t1"], ["lookup", "t2"], ["image2text", "t3"],
                             ["calculator", "t4"], ["code interpreter", "t5"], ["knowledgegraph", "t3"],
                             ["database", "t4"], ["table verbalizer", "t5"], ["text2image", "t0"]]);
  function toolClass(name) {
    var key = String(name).toLowerCase();
    if (key === "finish") return "t-finish";
    if (key === "reflect") return "t-reflect";
    if (!toolClasses.has(key)) {
      var h = 0;
      for (var i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
      toolClasses.set(key, "t" + (Math.abs(h) % 6));
    }
    return toolClasses.get(key);
  }
  function whoBadge(who, what) {
    if (!who) return null;
    var role = String(who[0]);
    var kind = role === "plan" || role === "reflect" ? role : role.indexOf("tool") === 0 ? "tool" : "other";
    var badge = el("span", "who who-" + kind, (what ? what + " by " : "by ") + role);
    if (who[1]) badge.title = String(who[1]);       // the model or adapter (an attribute, not HTML)
    return badge;
  }
  function actionNode(action) {
    if (Array.isArray(action)) {
      return el("span", null, el("span", "tool " + toolClass(action[0]), action[0]),
                "[", el("span", "arg", action[1]), "]");
    }
    return el("span", "arg", action);
  }
  function observationNode(obs) {
    var full = text(obs);
    if (full.length <= FOLD_AT) return el("span", null, full);
    var details = el("details");
    var summary = el("summary", null, full.slice(0, 160) + " \u2026",
                     el("span", "more", "(" + full.length + " characters)"));
    details.appendChild(summary);
    var built = false;
    details.addEventListener("toggle", function () {
      if (details.open && !built) { details.appendChild(el("div", null, full)); built = true; }
    });
    return details;
  }
  function stepNode(src, step, n) {
    var writer = step[3] >= 0 && src.writers ? src.writers[step[3]] : null;
    var byReflect = writer && writer.thought && writer.thought[0] === "reflect";
    var actionWho = [];
    if (writer) {
      if (writer.argument && Array.isArray(step[1])) {
        actionWho = [whoBadge(writer.action, "type"), whoBadge(writer.argument, "argument")];
      } else {
        actionWho = [whoBadge(writer.action)];
      }
    }
    return el("li", "step" + (byReflect ? " by-reflect" : ""),
      el("div", "line thought", el("span", "lbl", "Thought " + n + ":"), step[0], writer ? whoBadge(writer.thought) : null),
      el("div", "line action", el("span", "lbl", "Action " + n + ":"), actionNode(step[1]), actionWho,
         step[4] ? el("span", "badge b-invalid", "invalid: not executed") : null),
      el("div", "line obs", el("span", "lbl", "Observation " + n + ":"), observationNode(step[2])));
  }
  function facts(pairs) {
    var dl = el("dl", "facts");
    pairs.forEach(function (p) { if (p) { dl.appendChild(el("dt", null, p[0])); dl.appendChild(el("dd", null, p[1])); } });
    return dl;
  }
  function trajectoryNode(src, entry, detail, title) {
    var q = D.questions[entry[0]];
    var level = src.level_labels ? src.level_labels[entry[1]] : "";
    var box = el("div", "traj");
    box.appendChild(el("h4", null, title || "", " ", outcomeBadges(entry[2])));
    var em = (entry[2] & 1) ? "1" : "0";
    var scores = isChoice(src) ? [["Accuracy", em]] : [["EM", em], ["F1", fmt(entry[3])]];
    var u = detail.u || {};
    var cost = [];
    if (u.calls !== undefined) cost.push(u.calls + " calls");
    if (u.prompt_tokens !== undefined) cost.push(u.prompt_tokens + " prompt tokens");
    if (u.completion_tokens !== undefined) cost.push(u.completion_tokens + " completion tokens");
    if (u.seconds !== undefined) cost.push(u.seconds + " s");
    box.appendChild(facts([
      ["Question", q[1]], ["Gold answer", q[2]],
      ["Prediction", detail.p === undefined ? "(none)" : (detail.p === "" ? "(no answer)" : detail.p)],
    ].concat(scores).concat([
      level && level !== "-" ? ["Level", level] : null, detail.id ? ["Id", detail.id] : null,
      ["Steps", String(entry[4])], cost.length ? ["Cost", cost.join(", ")] : null,
      detail.e ? ["Error", el("span", "error-text", detail.e)] : null
    ])));
    if (detail.why !== undefined) {
      var status = entry[6];
      var why = el("div", "why", el("span", "badge " + statusClass(status), D.status_labels[status]), " ", detail.why);
      if (detail.ex) {
        why.appendChild(el("div", null, "Training examples from it: " + Object.keys(detail.ex).map(function (k) {
          return k + " " + detail.ex[k];
        }).join(", ")));
      }
      if (detail.ex_error) why.appendChild(el("div", "error-text", detail.ex_error));
      box.appendChild(why);
    }
    var steps = el("ol", "steps");
    (detail.s || []).forEach(function (step, i) { steps.appendChild(stepNode(src, step, i + 1)); });
    if (!(detail.s || []).length) steps.appendChild(el("li", "note", "(no steps recorded)"));
    box.appendChild(steps);
    var more = [];
    if (detail.a && detail.a.length) {
      more.push(["Answers", detail.a.map(function (a) {
        return a[0] + (a[1] === true ? " (correct)" : a[1] === false ? " (wrong)" : "");
      }).join("; ")]);
    }
    if (detail.r) more.push(["Reflection", detail.r.join(", ")]);
    if (detail.g) more.push(["Program", detail.g.join(" \u2192 ")]);
    if (detail.x) Object.keys(detail.x).forEach(function (k) { more.push([k, detail.x[k]]); });
    if (more.length) box.appendChild(facts(more));
    if (detail.t && detail.t.length) {
      var keys = [];
      detail.t.forEach(function (t) { Object.keys(t).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
      box.appendChild(el("table", "trials", el("tr", null, keys.map(function (k) { return el("th", null, k); })),
        detail.t.map(function (t) { return el("tr", null, keys.map(function (k) { return el("td", null, t[k] || ""); })); })));
    }
    return box;
  }
  function statusClass(status) { return ["b-kept", "b-notsel", "b-rejected", "b-eligible"][status] || "b-eligible"; }
  function runDetail(r, j) { return block("autoact-run-" + r)[j]; }
  function agentsLine(run) {
    if (run.attribution === "group") {
      var names = Object.create(null);
      run.writers.forEach(function (w) {
        ["thought", "argument"].forEach(function (k) { if (w[k]) names[w[k][0]] = w[k][1]; });
      });
      return "agents: " + Object.keys(names).map(function (k) { return k + " = " + names[k]; }).join(", ");
    }
    if (run.attribution === "one") {
      var w = run.writers[0].thought;
      return w[0] === "model" ? "one model wrote every line: " + w[1] : "the " + w[0] + " (" + w[1] + ") wrote every line";
    }
    return "which agent wrote each line is not recorded";
  }

  // ------------------------------------------------------------------ a paged, filterable list
  // opts: columns [[header, cellFn(item) -> node/text, cls]], open(item) -> node, count node
  function List(container, opts) {
    this.opts = opts;
    this.items = [];
    this.page = 0;
    this.table = el("table", "list");
    this.pager = el("div", "pager");
    this.count = el("span", "count");
    this.open = null;
    add(container, [this.pager, this.table]);
  }
  List.prototype.set = function (items) { this.items = items; this.page = 0; this.render(); };
  List.prototype.render = function () {
    var self = this, opts = this.opts;
    clear(this.table);
    this.table.appendChild(el("tr", null, opts.columns.map(function (c) { return el("th", c[2] || null, c[0]); })));
    var pages = Math.max(1, Math.ceil(this.items.length / PAGE_SIZE));
    if (this.page >= pages) this.page = pages - 1;
    var start = this.page * PAGE_SIZE;
    this.items.slice(start, start + PAGE_SIZE).forEach(function (item, k) {
      var row = el("tr", "item", opts.columns.map(function (c) { return el("td", c[2] || null, c[1](item, start + k)); }));
      row.addEventListener("click", function () { self.toggle(row, item); });
      self.table.appendChild(row);
    });
    if (!this.items.length) this.table.appendChild(el("tr", null, el("td", "note", "nothing matches")));
    clear(this.pager);
    var prev = el("button", null, "\u2190 previous"), next = el("button", null, "next \u2192");
    prev.disabled = this.page === 0;
    next.disabled = this.page >= pages - 1;
    prev.addEventListener("click", function () { self.page -= 1; self.render(); });
    next.addEventListener("click", function () { self.page += 1; self.render(); });
    add(this.pager, [prev, el("span", "pageno", "page " + (this.page + 1) + " of " + pages), next,
                     el("span", "count", this.items.length + " shown")]);
  };
  List.prototype.toggle = function (row, item) {
    var next = row.nextSibling;
    if (next && next.classList.contains("detail")) {
      next.parentNode.removeChild(next);
      row.classList.remove("open");
      return;
    }
    row.classList.add("open");
    var cell = el("td");
    cell.colSpan = this.opts.columns.length;
    cell.appendChild(this.opts.open(item));
    row.parentNode.insertBefore(el("tr", "detail", cell), row.nextSibling);
  };

  // ------------------------------------------------------------------ results
  function renderReport(section) {
    var box = el("div", "report");
    (D.report || []).forEach(function (b) {
      if (b.h !== undefined) box.appendChild(el("h3", null, b.h));
      else if (b.table) {
        var t = el("table");
        t.appendChild(el("tr", null, b.table.header.map(function (c) { return el("th", null, cellText(c)); })));
        b.table.rows.forEach(function (r) { t.appendChild(el("tr", null, r.map(function (c) { return el("td", null, cellText(c)); }))); });
        box.appendChild(t);
      } else if (b.list) box.appendChild(el("ul", null, b.list.map(function (x) { return el("li", null, x); })));
      else if (b.pre !== undefined) box.appendChild(el("pre", null, b.pre));
      else if (b.img) {
        if (/^data:image\/png;base64,[A-Za-z0-9+\/=]*$/.test(b.img)) {
          var img = el("img");
          img.src = b.img;
          img.alt = b.alt || "";
          box.appendChild(img);
        }
      } else if (b.p !== undefined) box.appendChild(el("p", null, b.p));
    });
    if (!(D.report || []).length) box.appendChild(el("p", "note", "no tables"));
    section.appendChild(box);
  }
  function cellText(c) { return c !== null && typeof c === "object" ? el("strong", null, c.b) : c; }

  // ------------------------------------------------------------------ the trajectories tab
  var byQuestion = null;          // question index -> [[run, entry index], ...]
  function questionMap() {
    if (byQuestion) return byQuestion;
    byQuestion = {};
    D.runs.forEach(function (run, r) {
      run.index.forEach(function (e, j) { (byQuestion[e[0]] = byQuestion[e[0]] || []).push([r, j]); });
    });
    return byQuestion;
  }
  function openRunItem(r, j) {
    var run = D.runs[r], entry = run.index[j];
    var wrap = el("div");
    var pair = el("div");
    pair.appendChild(trajectoryNode(run, entry, runDetail(r, j), runName(run)));
    var others = questionMap()[entry[0]].filter(function (x) { return x[0] !== r; });
    if (others.length) {
      var choices = [["", "\u2014 compare with another method \u2014"]].concat(others.map(function (x, k) {
        return [k, runName(D.runs[x[0]])];
      }));
      var pick = select(choices, function () {
        clear(pair);
        pair.className = "";
        pair.appendChild(trajectoryNode(run, entry, runDetail(r, j), runName(run)));
        if (pick.value !== "") {
          var o = others[Number(pick.value)];
          var other = D.runs[o[0]];
          pair.className = "pair";
          pair.appendChild(trajectoryNode(other, other.index[o[1]], runDetail(o[0], o[1]), runName(other)));
        }
      });
      pick.className = "compare-with";
      wrap.appendChild(el("div", "cmp", labelled("Side by side:", pick)));
    }
    wrap.appendChild(pair);
    return wrap;
  }
  function initTrajectories(section) {
    var tasks = [], levels = [];
    D.runs.forEach(function (run) {
      if (tasks.indexOf(run.task) < 0) tasks.push(run.task);
      run.levels.forEach(function (lv, i) { if (!levels.some(function (l) { return l[0] === lv; })) levels.push([lv, run.level_labels[i]]); });
    });
    var all = [];
    D.runs.forEach(function (run, r) { run.index.forEach(function (e, j) { all.push([r, j]); }); });
    var fTask = select([["", "all tasks"]].concat(tasks.map(function (t) { return [t, t]; })), refresh);
    var fRun = select([["", "all methods"]].concat(D.runs.map(function (run, r) { return [r, runName(run) + " (" + run.task + ")"]; })), refresh);
    var fLevel = select([["", "all levels"]].concat(levels), refresh);
    var fOutcome = select(OUTCOMES, refresh);
    var fSearch = searchBox(refresh);
    fRun.id = "f-run"; fLevel.id = "f-level"; fOutcome.id = "f-outcome"; fSearch.id = "f-search"; fTask.id = "f-task";
    var controls = el("div", "controls", tasks.length > 1 ? labelled("Task", fTask) : null, labelled("Method", fRun),
                      labelled("Level", fLevel), labelled("Outcome", fOutcome), fSearch);
    var count = el("span", "count");
    controls.appendChild(count);
    section.appendChild(controls);
    var info = el("div", "note agents");
    section.appendChild(info);
    var list = new List(section, {
      columns: [
        ["Method", function (x) { return runName(D.runs[x[0]]); }],
        ["Level", function (x) { var run = D.runs[x[0]]; return run.level_labels[run.index[x[1]][1]]; }],
        ["Outcome", function (x) { return outcomeBadges(D.runs[x[0]].index[x[1]][2]); }],
        ["Score", function (x) { return scoreText(D.runs[x[0]], D.runs[x[0]].index[x[1]]); }, "num"],
        ["Steps", function (x) { return D.runs[x[0]].index[x[1]][4]; }, "num"],
        ["Calls", function (x) { var c = D.runs[x[0]].index[x[1]][5]; return c === null ? "-" : c; }, "num"],
        ["Question", function (x) { return D.questions[D.runs[x[0]].index[x[1]][0]][1]; }, "q"]],
      open: function (x) { return openRunItem(x[0], x[1]); }
    });
    list.table.id = "traj-list";
    function refresh() {
      var task = fTask.value, r = fRun.value === "" ? -1 : Number(fRun.value), level = fLevel.value,
          want = fOutcome.value, needle = fSearch.value.trim().toLowerCase();
      var items = all.filter(function (x) {
        var run = D.runs[x[0]], e = run.index[x[1]];
        return (r < 0 || x[0] === r) && (!task || run.task === task) && (!level || run.levels[e[1]] === level) &&
          hasOutcome(e[2], want) && (!needle || questionLower(e[0]).indexOf(needle) >= 0);
      });
      count.textContent = items.length + " of " + all.length + " trajectories";
      info.textContent = r >= 0 ? agentsLine(D.runs[r]) : "";
      list.set(items);
    }
    refresh();
  }

  // ------------------------------------------------------------------ the compare tab
  function initCompare(section) {
    if (D.runs.length < 2) { section.appendChild(el("p", "note", "Side by side needs two runs in the report.")); return; }
    var runChoices = D.runs.map(function (run, r) { return [r, runName(run) + " (" + run.task + ")"]; });
    var fA = select(runChoices, refresh), fB = select(runChoices, refresh);
    var second = D.runs.findIndex(function (run, r) { return r > 0 && run.task === D.runs[0].task; });
    fB.value = String(second > 0 ? second : 1);
    var fPair = select([["", "every question both answered"], ["a", "only A correct"], ["b", "only B correct"],
                        ["both", "both correct"], ["neither", "neither correct"]], refresh);
    var fSearch = searchBox(refresh);
    fA.id = "c-a"; fB.id = "c-b"; fPair.id = "c-pair"; fSearch.id = "c-search";
    var count = el("span", "count");
    section.appendChild(el("div", "controls", labelled("A", fA), labelled("B", fB), labelled("Show", fPair), fSearch, count));
    var tally = el("p", "note tally");
    section.appendChild(tally);
    var list = new List(section, {
      columns: [
        ["Level", function (x) { var run = D.runs[x[0]]; return run.level_labels[run.index[x[1]][1]]; }],
        ["A", function (x) { var e = D.runs[x[0]].index[x[1]]; return [outcomeBadges(e[2]), " ", scoreText(D.runs[x[0]], e)]; }],
        ["B", function (x) { var e = D.runs[x[2]].index[x[3]]; return [outcomeBadges(e[2]), " ", scoreText(D.runs[x[2]], e)]; }],
        ["Question", function (x) { return D.questions[D.runs[x[0]].index[x[1]][0]][1]; }, "q"]],
      open: function (x) {
        var a = D.runs[x[0]], b = D.runs[x[2]];
        return el("div", "pair", trajectoryNode(a, a.index[x[1]], runDetail(x[0], x[1]), "A: " + runName(a)),
                  trajectoryNode(b, b.index[x[3]], runDetail(x[2], x[3]), "B: " + runName(b)));
      }
    });
    list.table.id = "cmp-list";
    function refresh() {
      var ra = Number(fA.value), rb = Number(fB.value), want = fPair.value, needle = fSearch.value.trim().toLowerCase();
      var inB = {};
      D.runs[rb].index.forEach(function (e, j) { if (!(e[0] in inB)) inB[e[0]] = j; });
      var both = [], onlyA = 0, onlyB = 0;
      D.runs[ra].index.forEach(function (e, j) {
        if (ra === rb || !(e[0] in inB)) return;
        var jb = inB[e[0]], ca = (e[2] & 1) !== 0, cb = (D.runs[rb].index[jb][2] & 1) !== 0;
        if (ca && !cb) onlyA += 1;
        if (cb && !ca) onlyB += 1;
        if (want === "a" && !(ca && !cb)) return;
        if (want === "b" && !(cb && !ca)) return;
        if (want === "both" && !(ca && cb)) return;
        if (want === "neither" && (ca || cb)) return;
        if (needle && questionLower(e[0]).indexOf(needle) < 0) return;
        both.push([ra, j, rb, jb]);
      });
      count.textContent = both.length + " questions";
      tally.textContent = ra === rb ? "Pick two different runs." :
        "On the questions both answered: only A correct on " + onlyA + ", only B correct on " + onlyB + ".";
      list.set(both);
    }
    refresh();
  }

  // ------------------------------------------------------------------ the synthesis tab
  function initSynthesis(section) {
    var logs = D.synthesis;
    var fLog = select(logs.map(function (s, i) { return [i, s.path]; }), refresh);
    var fStatus = select([["", "any filter decision"]].concat(D.status_labels.map(function (l, i) { return [i, l]; })), refresh);
    var fOutcome = select(OUTCOMES, refresh);
    var fSearch = searchBox(refresh);
    fLog.id = "s-log"; fStatus.id = "s-status"; fOutcome.id = "s-outcome"; fSearch.id = "s-search";
    var count = el("span", "count");
    section.appendChild(el("div", "controls", logs.length > 1 ? labelled("Log", fLog) : null,
                           labelled("Filter", fStatus), labelled("Outcome", fOutcome), fSearch, count));
    var about = el("div", "about");
    section.appendChild(about);
    var current = 0;
    var list = new List(section, {
      columns: [
        ["Filter", function (x) { var e = logs[current].index[x]; return el("span", "badge " + statusClass(e[6]), D.status_labels[e[6]]); }],
        ["Outcome", function (x) { return outcomeBadges(logs[current].index[x][2]); }],
        ["Score", function (x) { return scoreText(logs[current], logs[current].index[x]); }, "num"],
        ["Steps", function (x) { return logs[current].index[x][4]; }, "num"],
        ["Question", function (x) { return D.questions[logs[current].index[x][0]][1]; }, "q"]],
      open: function (x) {
        var log = logs[current];
        return trajectoryNode(log, log.index[x], block("autoact-synth-" + current)[x], "Trajectory");
      }
    });
    list.table.id = "syn-list";
    function refresh() {
      current = Number(fLog.value || 0);
      var log = logs[current], status = fStatus.value, want = fOutcome.value, needle = fSearch.value.trim().toLowerCase();
      clear(about);
      about.appendChild(el("p", null, log.path + ": " + log.summary));
      about.appendChild(el("ul", "note", log.notes.map(function (n) { return el("li", null, n); }),
                           el("li", null, agentsLine(log))));
      var items = [];
      log.index.forEach(function (e, i) {
        if ((status === "" || e[6] === Number(status)) && hasOutcome(e[2], want) &&
            (!needle || questionLower(e[0]).indexOf(needle) >= 0)) items.push(i);
      });
      count.textContent = items.length + " of " + log.index.length + " trajectories";
      list.set(items);
    }
    refresh();
  }

  // ------------------------------------------------------------------ tabs
  function init() {
    document.getElementById("title").textContent = D.title || "AutoAct report";
    document.title = D.title || "AutoAct report";
    document.getElementById("generated").textContent = D.generated ? "written " + D.generated : "";
    var tabs = [["results", "Results", renderReport], ["trajectories", "Trajectories", initTrajectories],
                ["compare", "Side by side", initCompare]];
    if (D.synthesis && D.synthesis.length) tabs.push(["synthesis", "Synthesis log", initSynthesis]);
    var nav = document.getElementById("tabs");
    var done = {};
    var buttons = tabs.map(function (t) {
      var b = el("button", null, t[1]);
      b.id = "tab-button-" + t[0];
      b.addEventListener("click", function () { show(t[0]); });
      nav.appendChild(b);
      return b;
    });
    function show(name) {
      tabs.forEach(function (t, i) {
        var section = document.getElementById("tab-" + t[0]);
        section.hidden = t[0] !== name;
        buttons[i].classList.toggle("active", t[0] === name);
        if (t[0] === name && !done[name]) { done[name] = true; t[2](section); }
      });
    }
    show("results");
    document.body.setAttribute("data-ready", "1");
  }
  init();
})();
