/* tnquiz HTML quiz: one card at a time, graded by grade.js, progress in localStorage.
 *
 * Card text is only ever set with textContent (never innerHTML): a card whose question or output holds
 * a script tag shows it as text. Code arrives highlighted from the build as tokens: "plain text",
 * ["css-class", "text"], or 0 for a cloze blank.
 */
(function () {
  "use strict";

  var T_START = performance.now();
  var G = window.tnqGrade;
  var FLOAT_KEY = "$tnq:float";
  var STATE_VERSION = 1;
  var KIND_LABEL = {
    shape: "shape",
    value: "value",
    dtype: "dtype",
    error: "error",
    output: "printed output",
    choice: "multiple choice",
    cloze: "fill in the blank",
    exercise: "write the code",
  };
  var PROMPT = {
    shape: ["Shape", "Any notation: (2, 3), [2, 3], 2x3 or torch.Size([2, 3]); a scalar is ()."],
    dtype: ["dtype", "With or without torch., e.g. float32, torch.int64 or long."],
    value: ["Value", "Numbers count within a small tolerance; a tensor as its numbers in order, tensor(…) optional."],
    error: ["What does it raise?", "The exception type, e.g. RuntimeError, optionally followed by : and part of the message."],
    output: ["What does it print?", "Whitespace is ignored. Shift+Enter starts a new line."],
    cloze: ["Text for the blank", "Spaces and quote style are ignored."],
    exercise: [
      "Your code",
      "This page cannot run it: write it, press Enter on an empty line (or Check), then compare with the solution's results and grade yourself.",
    ],
  };

  // ---- data ---------------------------------------------------------------------------------
  var raw = document.getElementById("tnq-data").textContent;
  var DATA =
    raw.indexOf('"' + FLOAT_KEY + '"') >= 0
      ? JSON.parse(raw, function (k, v) {
          if (v && typeof v === "object" && typeof v[FLOAT_KEY] === "string" && Object.keys(v).length === 1) {
            return v[FLOAT_KEY] === "nan" ? NaN : v[FLOAT_KEY] === "inf" ? Infinity : -Infinity;
          }
          return v;
        })
      : JSON.parse(raw);
  var T_PARSED = performance.now();
  var CARDS = DATA.cards;
  var BY_ID = new Map();
  CARDS.forEach(function (c, i) {
    c.i = i;
    BY_ID.set(c.id, c);
  });
  var KEY = "tnquiz:" + DATA.key;

  // ---- storage ------------------------------------------------------------------------------
  var store = null;
  try {
    store = window.localStorage;
    store.getItem(KEY);
  } catch (e) {
    store = null; // blocked (some browsers on file://): the session still works, it is just not kept
  }

  function save() {
    if (!store) return;
    try {
      // the deck-order queue is rebuilt on load: keep only a shuffled or retry queue
      var keep = state.order === "mixed" || state.retry;
      store.setItem(KEY, JSON.stringify(keep ? state : Object.assign({}, state, { queue: [] })));
    } catch (e) {
      /* full or blocked: keep going in memory */
    }
  }

  function loadSaved() {
    if (!store) return null;
    try {
      var s = JSON.parse(store.getItem(KEY) || "null");
      return s && s.v === STATE_VERSION && typeof s === "object" ? s : null;
    } catch (e) {
      return null;
    }
  }

  // ---- state --------------------------------------------------------------------------------
  // results: card id -> {ok, typed, h}; a result whose h (answer_hash) is stale is dropped.
  var state = {
    v: STATE_VERSION,
    deck: "",
    tag: "",
    order: "mixed", // "mixed": a seeded shuffle across decks (interleaved); "deck": file order
    retry: false,
    queue: [],
    cur: null,
    results: {},
  };

  var DECKS = deckOptions();
  var TAGS = tagOptions();

  function deckOptions() {
    var counts = new Map();
    CARDS.forEach(function (c) {
      var parts = c.deck.split("::");
      for (var n = 1; n <= parts.length; n++) {
        var name = parts.slice(0, n).join("::");
        counts.set(name, (counts.get(name) || 0) + 1);
      }
    });
    return Array.from(counts.keys())
      .sort()
      .map(function (name) {
        return { value: name, count: counts.get(name) };
      });
  }

  function tagOptions() {
    var counts = new Map();
    CARDS.forEach(function (c) {
      c.tags.forEach(function (t) {
        counts.set(t, (counts.get(t) || 0) + 1);
      });
    });
    return Array.from(counts.keys())
      .sort()
      .map(function (t) {
        return { value: t, count: counts.get(t) };
      });
  }

  function inFilter(c) {
    var d = state.deck;
    if (d && c.deck !== d && c.deck.indexOf(d + "::") !== 0) return false;
    return !state.tag || c.tags.indexOf(state.tag) >= 0;
  }

  function filteredIds() {
    var ids = [];
    CARDS.forEach(function (c) {
      if (inFilter(c)) ids.push(c.id);
    });
    return ids;
  }

  /* The page's random numbers: seeded once per page load (?seed=N in the address fixes it). */
  function pageSeed() {
    var m = /[?&]seed=(\d+)/.exec(window.location.search);
    if (m) return parseInt(m[1], 10) >>> 0;
    var a = new Uint32Array(1);
    window.crypto.getRandomValues(a);
    return a[0];
  }
  var rngState = pageSeed();
  function random() {
    // mulberry32
    rngState = (rngState + 0x6d2b79f5) >>> 0;
    var t = rngState;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  function shuffled(list) {
    var a = list.slice();
    for (var i = a.length - 1; i > 0; i--) {
      var j = Math.floor(random() * (i + 1));
      var t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /* The queue for the current filters: deck order, or mixed keeping `keepOrder` where it can. */
  function buildQueue(keepOrder) {
    var ids = filteredIds();
    if (state.order !== "mixed") return ids;
    var wanted = new Set(ids);
    var kept = (keepOrder || []).filter(function (id) {
      return wanted.has(id);
    });
    var keptSet = new Set(kept);
    return kept.concat(
      shuffled(
        ids.filter(function (id) {
          return !keptSet.has(id);
        })
      )
    );
  }

  function restore(saved) {
    if (!saved) return;
    var results = {};
    var r = saved.results && typeof saved.results === "object" ? saved.results : {};
    Object.keys(r).forEach(function (id) {
      var c = BY_ID.get(id);
      var res = r[id];
      if (c && res && typeof res.ok === "boolean" && res.h === c.h) {
        results[id] = { ok: res.ok, typed: String(res.typed || ""), h: res.h };
      }
    });
    state.results = results;
    state.deck = DECKS.some(function (d) {
      return d.value === saved.deck;
    })
      ? saved.deck
      : "";
    state.tag = TAGS.some(function (t) {
      return t.value === saved.tag;
    })
      ? saved.tag
      : "";
    state.order = saved.order === "deck" ? "deck" : "mixed";
    var queue = Array.isArray(saved.queue)
      ? saved.queue.filter(function (id) {
          return BY_ID.has(id);
        })
      : [];
    state.retry = saved.retry === true && queue.length > 0;
    state.queue = state.retry ? queue : buildQueue(queue);
    state.cur = typeof saved.cur === "string" && state.queue.indexOf(saved.cur) >= 0 ? saved.cur : null;
  }

  function resultOf(id) {
    return Object.prototype.hasOwnProperty.call(state.results, id) ? state.results[id] : null;
  }

  function counts() {
    var answered = 0;
    var right = 0;
    state.queue.forEach(function (id) {
      var r = resultOf(id);
      if (r && r.ok !== null) {
        // an exercise waiting for "I got it" / "I missed it" (ok null) is not answered yet
        answered++;
        if (r.ok) right++;
      }
    });
    return { total: state.queue.length, answered: answered, right: right, missed: answered - right };
  }

  function missedInFilter() {
    return filteredIds().filter(function (id) {
      var r = resultOf(id);
      return r && r.ok === false;
    });
  }

  /* The next unanswered card after the current one (wrapping), or null when all are answered. */
  function nextUnanswered(fromId) {
    var q = state.queue;
    var start = fromId ? q.indexOf(fromId) : -1;
    for (var k = 1; k <= q.length; k++) {
      var id = q[(start + k + q.length) % q.length];
      if (!resultOf(id)) return id;
    }
    return null;
  }

  // ---- DOM helpers ---------------------------------------------------------------------------
  var $ = function (id) {
    return document.getElementById(id);
  };
  var cardEl = $("card");
  var feedbackEl = $("feedback");

  function el(tag, props, kids) {
    var e = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === undefined || v === null || v === false) return;
        if (k === "text") e.textContent = v;
        else if (k === "className") e.className = v;
        else if (k === "on") {
          Object.keys(v).forEach(function (ev) {
            e.addEventListener(ev, v[ev]);
          });
        } else e.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (kids || []).forEach(function (kid) {
      if (kid === null || kid === undefined || kid === false) return;
      e.appendChild(typeof kid === "string" ? document.createTextNode(kid) : kid);
    });
    return e;
  }

  /* Text with `backticked` spans as <code>, all as text nodes. */
  function inline(text) {
    var frag = document.createDocumentFragment();
    var re = /`([^`]+)`/g;
    var last = 0;
    var m;
    while ((m = re.exec(text))) {
      if (m.index > last) frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(el("code", { text: m[1] }));
      last = re.lastIndex;
    }
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  /* Highlighted code from build-time tokens; a blank shows `fill` (revealed) or an empty slot. */
  function codeBlock(tokens, label, fill) {
    var code = el("code");
    tokens.forEach(function (t) {
      if (typeof t === "string") code.appendChild(document.createTextNode(t));
      else if (t === 0) {
        if (fill !== undefined) code.appendChild(el("mark", { className: "filled", text: fill }));
        else {
          code.appendChild(
            el("span", { className: "blank" }, [
              el("span", { className: "vh", text: "(blank)" }),
              el("span", { "aria-hidden": "true", text: "\u2002?\u2002" }),
            ])
          );
        }
      } else code.appendChild(el("span", { className: t[0], text: t[1] }));
    });
    return el("div", { className: "tnq-code", role: "group", "aria-label": label }, [el("pre", { tabindex: "0" }, [code])]);
  }

  function deckLabel(name) {
    return name.split("::").join(" \u203a ");
  }

  // ---- rendering -----------------------------------------------------------------------------
  function current() {
    return state.cur ? BY_ID.get(state.cur) : null;
  }

  function renderProgress() {
    var n = counts();
    var bar = $("p-bar");
    bar.max = Math.max(n.total, 1);
    bar.value = n.answered;
    var pct = n.answered ? Math.round((100 * n.right) / n.answered) : 0;
    var text =
      (state.retry ? "Retrying missed cards: " : "") +
      n.answered +
      " of " +
      n.total +
      " answered, " +
      n.right +
      " correct" +
      (n.answered ? " (" + pct + "%)" : "");
    $("p-text").textContent = text;
    var missed = missedInFilter().length;
    var retry = $("b-retry");
    retry.disabled = missed === 0;
    retry.textContent = "Retry missed (" + missed + ")";
    $("b-all").hidden = !state.retry;
  }

  function renderControls() {
    var deck = $("f-deck");
    var list = $("tag-list");
    if (deck.options.length === 1) {
      // the full path, so that the closed menu says which deck it is
      DECKS.forEach(function (d) {
        deck.appendChild(el("option", { value: d.value, text: deckLabel(d.value) + " (" + d.count + ")" }));
      });
      TAGS.forEach(function (t) {
        list.appendChild(el("option", { value: t.value, label: t.count + (t.count === 1 ? " card" : " cards") }));
      });
    }
    deck.value = state.deck;
    $("f-tag").value = state.tag;
    $("f-tag").setAttribute("aria-invalid", "false");
    $("f-order").value = state.order;
  }

  function render(focusWhat) {
    renderProgress();
    cardEl.textContent = "";
    feedbackEl.textContent = "";
    var card = current();
    if (!state.queue.length) {
      cardEl.appendChild(
        el("div", { className: "empty" }, [
          el("h2", { text: CARDS.length ? "No cards match this deck and tag." : "This quiz has no cards." }),
          CARDS.length ? el("p", { text: "Pick another deck or tag above." }) : null,
        ])
      );
      return;
    }
    if (!card) {
      renderDone();
      if (focusWhat) focus($("b-done-first"));
      return;
    }
    var result = resultOf(card.id);
    renderCard(card, result);
    if (result) {
      renderResult(card, result);
      if (focusWhat) focus($("b-next"));
    } else if (focusWhat) {
      focus(cardEl.querySelector("#answer, input[name=choice]"));
    }
  }

  function focus(node) {
    if (node) node.focus();
  }

  function renderCard(card, result) {
    var pos = state.queue.indexOf(card.id) + 1;
    var meta = el("p", { className: "meta" }, [
      "Card " + pos + " of " + state.queue.length + " \u00b7 ",
      el("span", { className: "deck", text: deckLabel(card.deck) }),
      " \u00b7 ",
      el("span", { className: "kind", text: KIND_LABEL[card.kind] || card.kind }),
    ]);
    if (card.tags.length) {
      var tags = el("span", { className: "tags" });
      card.tags.forEach(function (t) {
        tags.appendChild(el("span", { className: "tag", text: t }));
      });
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(tags);
    }
    var q = el("h2", { id: "q", className: "question" }, [inline(card.q)]);
    var kids = [meta, q];
    var shown = card.kind === "cloze" && card.cz ? card.cz : card.code;
    if (card.setup) {
      kids.push(
        el("details", { className: "setup", open: true }, [
          el("summary", { text: "Given (run before the code)" }),
          codeBlock(card.setup, "Setup code"),
        ])
      );
    }
    if (shown && shown.length) {
      kids.push(codeBlock(shown, "Code", result && card.kind === "cloze" ? card.cloze : undefined));
    }
    if (card.given) {
      // what the blank must produce: part of the question (generator/render/question.py)
      kids.push(
        el("div", { className: "given" }, [
          el("p", { className: "given-label", text: card.given.label + ":" }),
          el("pre", { className: "given-text", text: card.given.text }),
        ])
      );
    }
    kids.push(answerForm(card, result));
    var article = el("article", { "aria-labelledby": "q", "data-kind": card.kind, "data-id": card.id }, kids);
    cardEl.appendChild(article);
  }

  function answerForm(card, result) {
    var done = !!result;
    var form = el("form", { id: "answer-form", novalidate: true, autocomplete: "off" });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      check();
    });
    if (card.kind === "choice" && card.options && card.options.length) {
      var fs = el("fieldset", { className: "choices" }, [
        el("legend", { text: "Choose one" + (card.options.length > 1 ? " (keys 1\u2013" + Math.min(card.options.length, 9) + ")" : "") }),
      ]);
      var picked = done ? parseInt(result.typed, 10) : NaN;
      card.options.forEach(function (o, i) {
        var id = "opt-" + (i + 1);
        var cls = "choice";
        if (done && o.correct) cls += " right";
        if (done && picked === i + 1 && !o.correct) cls += " wrong";
        var input = el("input", {
          type: "radio",
          name: "choice",
          id: id,
          value: String(i + 1),
          disabled: done,
          checked: done && picked === i + 1,
        });
        fs.appendChild(
          el("div", { className: cls }, [
            input,
            el("label", { for: id }, [
              el("span", { className: "num", "aria-hidden": "true", text: String(i + 1) }),
              el("span", { className: "vh", text: "Option " + (i + 1) + ": " }),
              el("pre", { className: "opt", text: o.text }),
            ]),
          ])
        );
      });
      form.appendChild(fs);
    } else {
      var p = PROMPT[card.kind] || PROMPT.value;
      var multi = card.kind === "output" || card.kind === "exercise";
      var field = el(multi ? "textarea" : "input", {
        id: "answer",
        type: multi ? null : "text",
        rows: multi ? (card.kind === "exercise" ? 5 : 3) : null,
        autocomplete: "off",
        autocapitalize: "off",
        autocorrect: "off",
        spellcheck: "false",
        enterkeyhint: "done",
        "aria-describedby": "q hint",
        readonly: done,
        className: "field",
      });
      if (done) field.value = result.typed;
      form.appendChild(el("label", { for: "answer", className: "prompt", text: p[0] }));
      form.appendChild(field);
      form.appendChild(el("p", { id: "hint", className: "hint", text: p[1] }));
    }
    if (!done) {
      form.appendChild(
        el("div", { className: "actions" }, [
          el("button", { type: "submit", className: "primary", id: "b-check", text: "Check" }),
          el("button", { type: "button", id: "b-show", text: "Show answer", on: { click: giveUp } }),
          el("button", { type: "button", id: "b-skip", className: "quiet", text: "Skip", on: { click: next } }),
        ])
      );
    }
    return form;
  }

  /* An exercise: the learner's code, the solution, its build-time results on every input, and (until
   * the learner grades themselves) the two self-grading buttons. */
  function renderExercise(card, result) {
    var ok = result.ok;
    var box = el("section", { className: "result " + (ok === null ? "" : ok ? "ok" : "bad"), "aria-labelledby": "verdict" });
    box.appendChild(el("h3", { id: "verdict", text: ok === null ? "Compare with the solution" : ok ? "\u2713 Got it" : "\u2717 Missed" }));
    if (result.typed) {
      box.appendChild(
        el("div", { className: "typed" }, [
          el("p", { text: "You wrote:" }),
          el("pre", { className: ok === false ? "mine" : "stdout", text: result.typed }),
        ])
      );
    } else {
      box.appendChild(el("p", { className: "typed", text: "You did not write any code for this one." }));
    }
    box.appendChild(el("p", { className: "label", text: "Solution:" }));
    box.appendChild(codeBlock(card.solution, "Solution"));
    box.appendChild(el("p", { className: "label", text: "Its results (verified), one per input:" }));
    var list = el("ol", { className: "results" });
    (card.results || []).forEach(function (r) {
      list.appendChild(el("li", {}, [r.setup ? codeBlock(r.setup, "Input") : null, el("pre", { className: "answer", text: r.text })]));
    });
    box.appendChild(list);
    if (card.hint) box.appendChild(el("p", { className: "hint" }, ["Hint: ", inline(card.hint)]));
    if (card.explain) box.appendChild(el("p", { className: "explain" }, [inline(card.explain)]));
    var actions;
    if (ok === null) {
      actions = [
        el("button", { type: "button", className: "primary", id: "b-got", text: "I got it", on: { click: function () { selfGrade(card, true); } } }),
        el("button", { type: "button", id: "b-missed", text: "I missed it", on: { click: function () { selfGrade(card, false); } } }),
      ];
    } else {
      actions = [el("button", { type: "button", className: "primary", id: "b-next", text: "Next card", on: { click: next } })];
    }
    box.appendChild(el("div", { className: "actions" }, actions));
    feedbackEl.appendChild(box);
  }

  function selfGrade(card, ok) {
    var r = resultOf(card.id);
    if (r) record(card, r.typed, ok);
  }

  function renderResult(card, result) {
    if (card.kind === "exercise") return renderExercise(card, result);
    var ok = result.ok;
    var box = el("section", { className: "result " + (ok ? "ok" : "bad"), "aria-labelledby": "verdict" });
    box.appendChild(el("h3", { id: "verdict", text: ok ? "\u2713 Correct" : result.typed ? "\u2717 Not quite" : "Answer" }));
    if (!ok) {
      if (!result.typed) box.appendChild(el("p", { className: "typed", text: "You did not answer this one." }));
      else if (card.kind === "choice" && card.options) {
        var n = parseInt(result.typed, 10);
        var o = card.options[n - 1];
        box.appendChild(
          el("p", { className: "typed" }, [
            "You picked " + n + ": ",
            el("code", { text: o ? o.text : result.typed }),
          ])
        );
      } else {
        box.appendChild(
          el("div", { className: "typed" }, [
            el("p", { text: "You answered:" }),
            el("pre", { className: "mine", text: result.typed }),
          ])
        );
      }
    }
    var v = G.grade(card.kind, card.answer, "", card.options || null, card.cloze === undefined ? null : card.cloze, card.also || null);
    if (card.kind === "cloze") {
      box.appendChild(el("p", {}, ["The blank is ", el("code", { className: "answer", text: v.expected }), "."]));
      if (card.also && card.also.length) {
        // other fillings the build verified to give the same result: graded right too
        // (question.ALSO_RIGHT names them the same in Anki and the terminal)
        var also = ["Also right: "];
        card.also.forEach(function (t, i) {
          if (i) also.push(", ");
          also.push(el("code", { text: t }));
        });
        box.appendChild(el("p", { className: "also" }, also));
      }
      box.appendChild(el("p", { className: "label", text: "which gives " + describe(card) + ":" }));
      box.appendChild(el("pre", { className: "answer", text: card.err || card.answer.text }));
      if (card.err) box.appendChild(fullError(card.answer.text));
    } else if (card.kind === "choice" && card.options) {
      box.appendChild(el("p", { className: "label", text: "Answer (verified):" }));
      box.appendChild(el("pre", { className: "answer", text: v.expected }));
      var list = el("ol", { className: "exprs", "aria-label": "Where each option comes from" });
      card.options.forEach(function (o) {
        list.appendChild(
          el("li", { className: o.correct ? "right" : "" }, [
            el("code", { text: o.expr || "?" }),
            " \u2192 ",
            el("code", { text: o.text }),
            o.correct ? el("span", { className: "badge", text: " (right)" }) : null,
          ])
        );
      });
      box.appendChild(list);
    } else if (card.err) {
      box.appendChild(el("p", { className: "label", text: "Answer (verified):" }));
      box.appendChild(el("pre", { className: "answer", text: card.err }));
      box.appendChild(fullError(v.expected));
    } else {
      box.appendChild(el("p", { className: "label", text: "Answer (verified):" }));
      box.appendChild(el("pre", { className: "answer", text: v.expected }));
    }
    if (card.explain) box.appendChild(el("p", { className: "explain" }, [inline(card.explain)]));
    if (card.stdout) {
      box.appendChild(el("p", { className: "label", text: "The code also printed:" }));
      box.appendChild(el("pre", { className: "stdout", text: card.stdout }));
    }
    var src = [];
    if (card.source) src.push("Source: " + card.source);
    if (card.where) src.push("Card: " + card.where);
    var torch = card.torch || DATA.torch;
    if (torch || card.on) src.push("Verified with " + (torch ? "torch " + torch : "") + (card.on ? " on " + card.on : ""));
    if (src.length) box.appendChild(el("p", { className: "src", text: src.join(" \u00b7 ") }));
    box.appendChild(
      el("div", { className: "actions" }, [
        el("button", { type: "button", className: "primary", id: "b-next", text: "Next card", on: { click: next } }),
      ])
    );
    feedbackEl.appendChild(box);
  }

  /* A long error's whole message, folded under its summary (generator/render/question.py). */
  function fullError(text) {
    return el("details", { className: "full-error" }, [
      el("summary", { text: "Full error message" }),
      el("pre", { className: "stdout", text: text }),
    ]);
  }

  function describe(card) {
    var t = card.answer && card.answer.type;
    return t === "error" ? "this error" : t === "output" ? "this output" : "this result";
  }

  function renderDone() {
    var n = counts();
    var missed = state.queue.filter(function (id) {
      var r = resultOf(id);
      return r && r.ok === false;
    }).length;
    var box = el("div", { className: "done" }, [
      el("h2", { text: "Done: " + n.right + " of " + n.total + " correct" }),
      el("p", {
        text: missed ? missed + " missed. Retry them until they stick." : "Every card right. Well done.",
      }),
    ]);
    var actions = el("div", { className: "actions" });
    if (missed) {
      actions.appendChild(
        el("button", { type: "button", className: "primary", id: "b-done-first", text: "Retry the " + missed + " missed", on: { click: retryMissed } })
      );
    }
    actions.appendChild(
      el("button", { type: "button", id: missed ? "b-again" : "b-done-first", className: missed ? "" : "primary", text: "Start over", on: { click: startOver } })
    );
    if (state.retry) {
      actions.appendChild(el("button", { type: "button", text: "Back to all cards", on: { click: backToAll } }));
    }
    box.appendChild(actions);
    cardEl.appendChild(box);
  }

  // ---- actions -------------------------------------------------------------------------------
  function announce(text) {
    feedbackEl.textContent = "";
    feedbackEl.appendChild(el("p", { className: "note", text: text }));
  }

  function record(card, typed, ok) {
    state.results[card.id] = { ok: ok, typed: typed.slice(0, 4000), h: card.h };
    save();
    render(true);
  }

  function check() {
    var card = current();
    if (!card || resultOf(card.id)) return;
    var typed;
    if (card.kind === "choice" && card.options && card.options.length) {
      var r = cardEl.querySelector("input[name=choice]:checked");
      if (!r) {
        announce("Pick an option first (keys 1\u2013" + Math.min(card.options.length, 9) + "), or press N to skip.");
        return;
      }
      typed = r.value;
    } else {
      var field = $("answer");
      typed = field ? field.value : "";
      if (card.kind === "exercise") {
        record(card, typed.replace(/\s+$/, ""), null); // self-graded once the solution is shown
        return;
      }
      if (!typed.trim()) {
        announce("Type an answer first, or use Show answer, or press N to skip.");
        return;
      }
    }
    var v = G.grade(card.kind, card.answer, typed, card.options || null, card.cloze === undefined ? null : card.cloze, card.also || null);
    record(card, typed, v.correct);
  }

  function giveUp() {
    var card = current();
    if (card && !resultOf(card.id)) record(card, "", false);
  }

  function next() {
    state.cur = nextUnanswered(state.cur);
    save();
    render(true);
    if (state.cur) cardEl.scrollIntoView({ block: "start" });
  }

  function startAt(first) {
    state.cur = first || nextUnanswered(null);
    save();
    render(true);
  }

  function retryMissed() {
    var ids = missedInFilter();
    if (!ids.length) return;
    ids.forEach(function (id) {
      delete state.results[id];
    });
    state.retry = true;
    state.queue = state.order === "mixed" ? shuffled(ids) : ids;
    startAt(state.queue[0]);
  }

  function backToAll() {
    state.retry = false;
    state.queue = buildQueue(null);
    startAt(null);
  }

  function startOver() {
    state.queue.forEach(function (id) {
      delete state.results[id];
    });
    if (!state.retry) state.queue = buildQueue(null);
    else if (state.order === "mixed") state.queue = shuffled(state.queue);
    startAt(state.queue[0]);
  }

  function resetAll() {
    if (!window.confirm("Forget every answer given on this quiz page?")) return;
    if (store) {
      try {
        store.removeItem(KEY);
      } catch (e) {
        /* ignore */
      }
    }
    state.results = {};
    state.retry = false;
    state.queue = buildQueue(null);
    renderControls();
    startAt(state.queue[0]);
  }

  function tagTyped() {
    var field = $("f-tag");
    var typed = field.value.trim();
    var known = !typed || TAGS.some(function (t) {
      return t.value === typed;
    });
    field.setAttribute("aria-invalid", known ? "false" : "true");
    if (known && typed !== state.tag) filtersChanged();
  }

  function filtersChanged() {
    state.deck = $("f-deck").value;
    state.tag = $("f-tag").value.trim();
    state.retry = false;
    state.queue = buildQueue(null);
    startAt(null);
  }

  // ---- keyboard --------------------------------------------------------------------------------
  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || e.defaultPrevented) return;
    var t = e.target;
    var tag = t && t.tagName ? t.tagName : "";
    if (t && t.closest && t.closest("#controls, #help")) return;
    var card = current();
    var answered = card && resultOf(card.id);
    if ((tag === "TEXTAREA" || tag === "INPUT") && e.key === "Escape") {
      t.blur(); // leave the field: the single-key shortcuts work again
      cardEl.focus();
      return;
    }
    if (tag === "TEXTAREA" && card && card.kind === "exercise" && !answered) {
      // code: Enter starts a new line; Enter on an empty last line checks (as in the terminal quiz)
      if (e.key === "Enter" && !e.shiftKey && /(^|\n)[ \t]*$/.test(t.value.slice(0, t.selectionStart)) && t.value.trim()) {
        e.preventDefault();
        check();
      }
      return;
    }
    if (tag === "TEXTAREA") {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        if (answered) next();
        else check();
      }
      return;
    }
    if (tag === "INPUT" && t.type === "text") {
      if (e.key === "Enter" && answered) {
        e.preventDefault();
        next();
      }
      return; // Enter submits the form: check()
    }
    if (tag === "SELECT") return;
    if (/^[1-9]$/.test(e.key) && card && card.kind === "choice" && !answered) {
      var radio = $("opt-" + e.key);
      if (radio) {
        radio.checked = true;
        radio.focus();
        e.preventDefault();
      }
      return;
    }
    if (e.key === "Enter") {
      if (tag === "BUTTON" || tag === "SUMMARY" || tag === "A") return; // their own activation
      e.preventDefault();
      if (!card) return;
      if (answered) next();
      else check();
    } else if (e.key === "n" || e.key === "N") {
      e.preventDefault();
      next();
    } else if (e.key === "/") {
      var f = cardEl.querySelector("#answer, input[name=choice]:checked, input[name=choice]");
      if (f && !answered) {
        e.preventDefault();
        f.focus();
      }
    }
  }

  // ---- start -----------------------------------------------------------------------------------
  restore(loadSaved());
  if (!state.queue.length && !state.retry) state.queue = buildQueue(null);
  if (!state.cur) state.cur = nextUnanswered(null);
  renderControls();
  $("f-deck").addEventListener("change", filtersChanged);
  $("f-tag").addEventListener("input", tagTyped);
  $("f-tag").addEventListener("change", tagTyped);
  $("f-order").addEventListener("change", function () {
    state.order = this.value === "deck" ? "deck" : "mixed";
    if (!state.retry) state.queue = buildQueue(null);
    else if (state.order === "mixed") state.queue = shuffled(state.queue);
    startAt(null);
  });
  $("b-retry").addEventListener("click", retryMissed);
  $("b-all").addEventListener("click", backToAll);
  $("b-reset").addEventListener("click", resetAll);
  $("controls").addEventListener("submit", function (e) {
    e.preventDefault();
  });
  document.addEventListener("keydown", onKey);
  save();
  render(true);
  window.tnqReadyAt = performance.now();
  window.tnqTimings = { script: T_START, parsed: T_PARSED, ready: window.tnqReadyAt };
  document.documentElement.setAttribute("data-ready", "1");
})();
