/* tnquiz typed-answer grading: a line-by-line port of generator/grading.py.
 *
 * Both graders run every case of tests/data/grading_cases.json (tests/test_grading.py in Python,
 * tests/test_html.py in Chromium), plus a differential fuzz of the two. Python semantics kept here:
 * `str.strip()`/`\s` use Python's whitespace set (not JS's), `\d` is any Unicode decimal digit
 * (category Nd) and `int()`/`float()` read those digits too, `\w` is Python's Unicode word class,
 * strings are compared by code point.
 */
(function (root) {
  "use strict";

  var REL_TOL = 1e-3;
  var ABS_TOL = 5e-4;

  var DTYPE_ALIASES = new Map([
    ["float", "float32"],
    ["half", "float16"],
    ["double", "float64"],
    ["long", "int64"],
    ["int", "int32"],
    ["short", "int16"],
    ["cfloat", "complex64"],
    ["cdouble", "complex128"],
    ["chalf", "complex32"],
    ["bool", "bool"],
  ]);

  // Python's str.isspace() / re's \s (JS's \s differs: it has U+FEFF, lacks U+001C-U+001F and U+0085).
  var WS = "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
  // Python's \w for str patterns: str.isalnum() or "_".
  var WORD = "[\\p{L}\\p{Nd}\\p{Nl}\\p{No}_]";
  var DIGIT = "\\p{Nd}";

  function re(src, flags) {
    return new RegExp(src, "u" + (flags || ""));
  }

  var RE_STRIP = re("^" + WS + "+|" + WS + "+$", "g");
  var RE_SPACES = re(WS + "+", "g");
  var RE_SIZE_PREFIX = re("^torch\\.size" + WS + "*\\(");
  var RE_SIZE_PREFIX2 = re("^size" + WS + "*\\(");
  var RE_SHAPE_SPLIT = re(WS + "*(?:,|x|×|\\*)" + WS + "*|" + WS + "+");
  var RE_INT = re("^[-+]?" + DIGIT + "(?:_?" + DIGIT + ")*$");
  var RE_DECIMAL = re("^" + DIGIT + "+$");
  var RE_ONE_DIGIT = re("^" + DIGIT + "$");
  var RE_ALL_DIGITS = re(DIGIT, "g");
  var RE_DTYPE_KW = re(",?" + WS + "*dtype" + WS + "*=" + WS + "*(?:" + WORD + "|\\.)+", "g");
  var RE_DEVICE_KW = re(",?" + WS + "*device" + WS + "*=" + WS + "*'?(?:" + WORD + "|:)+'?", "g");
  var RE_GRAD_KW = re(",?" + WS + "*requires_grad" + WS + "*=" + WS + "*" + WORD + "+", "g");
  var RE_GRADFN_KW = re(",?" + WS + "*grad_fn" + WS + "*=" + WS + "*<[^>]*>", "g");
  var RE_TENSOR_PREFIX = re("^tensor" + WS + "*\\(");
  var NUMBER = "[-+]?(?:" + DIGIT + "+\\.?" + DIGIT + "*|\\." + DIGIT + "+)(?:[eE][-+]?" + DIGIT + "+)?|[-+]?inf|nan";
  var RE_NUMBER = re(NUMBER, "g");
  var RE_NOT_NUMBER_REST = re("[^" + WS.slice(1, -1) + "\\[\\]\\(\\),]");

  var MAX_INT_CHARS = 100;

  function strip(s) {
    return s.replace(RE_STRIP, "");
  }

  // Python's str.strip(chars) for a set of BMP characters.
  function stripChars(s, chars) {
    var a = 0;
    var b = s.length;
    while (a < b && chars.indexOf(s[a]) >= 0) a++;
    while (b > a && chars.indexOf(s[b - 1]) >= 0) b--;
    return s.slice(a, b);
  }

  function lower(s) {
    return s.toLowerCase();
  }

  function squash(s) {
    return s.replace(RE_SPACES, "");
  }

  function codePointLength(s) {
    var n = 0;
    for (var _ of s) n++; // eslint-disable-line no-unused-vars
    return n;
  }

  // The value of one Unicode decimal digit. Unicode encodes every Nd digit in runs of ten, 0 to 9,
  // so the value is the distance from the start of its run of Nd characters, modulo 10.
  function digitValue(ch) {
    var cp = ch.codePointAt(0);
    if (cp >= 48 && cp <= 57) return cp - 48;
    var start = cp;
    while (start > 0 && RE_ONE_DIGIT.test(String.fromCodePoint(start - 1))) start--;
    return (cp - start) % 10;
  }

  function asciiDigits(s) {
    return s.replace(RE_ALL_DIGITS, function (ch) {
      return String(digitValue(ch));
    });
  }

  // Python's int(text) for text of at most MAX_INT_CHARS code points (else, or when invalid: null).
  function toInt(text) {
    if (codePointLength(text) > MAX_INT_CHARS || !RE_INT.test(text)) return null;
    var n = parseInt(asciiDigits(text).replace(/_/g, ""), 10);
    return n === 0 ? 0 : n; // no -0
  }

  // Python's float() of a string matched by _NUMBER.
  function toFloat(text) {
    var t = asciiDigits(text);
    if (t === "nan") return NaN;
    if (t === "inf" || t === "+inf") return Infinity;
    if (t === "-inf") return -Infinity;
    return Number(t);
  }

  // Python's float() of a JSON value of a tensor (numbers, booleans).
  function valueFloat(v) {
    if (typeof v === "boolean") return v ? 1 : 0;
    return Number(v);
  }

  function parseShape(text) {
    var s = lower(strip(text));
    s = s.replace(RE_SIZE_PREFIX, "");
    s = s.replace(RE_SIZE_PREFIX2, "");
    s = stripChars(strip(s), "()[] ");
    s = s.replace(/[()[\]]/g, "");
    if (!s) return [];
    var parts = s.split(RE_SHAPE_SPLIT).filter(function (p) {
      return p !== "";
    });
    var dims = [];
    for (var i = 0; i < parts.length; i++) {
      var d = toInt(parts[i]);
      if (d === null) return null;
      dims.push(d);
    }
    return dims;
  }

  function normalizeDtype(text) {
    var s = stripChars(lower(strip(text)), "'\"`");
    s = s.replace(/^torch\./, "");
    return DTYPE_ALIASES.has(s) ? DTYPE_ALIASES.get(s) : s;
  }

  function parseNumbers(text) {
    var s = strip(text);
    s = s.replace(RE_DTYPE_KW, "");
    s = s.replace(RE_DEVICE_KW, "");
    s = s.replace(RE_GRAD_KW, "");
    s = s.replace(RE_GRADFN_KW, "");
    s = lower(s).replace(RE_TENSOR_PREFIX, "");
    var rest = s.replace(RE_NUMBER, " ");
    if (RE_NOT_NUMBER_REST.test(rest)) return null;
    var found = s.match(RE_NUMBER);
    if (!found) return null;
    return found.map(toFloat);
  }

  function close(a, b) {
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
    if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
    return Math.abs(a - b) <= Math.max(ABS_TOL, REL_TOL * Math.abs(b));
  }

  function flatten(value) {
    if (!Array.isArray(value)) return [value];
    var out = [];
    for (var i = 0; i < value.length; i++) out.push.apply(out, flatten(value[i]));
    return out;
  }

  function unquote(text) {
    var t = strip(text);
    if (t.length >= 2 && t[0] === t[t.length - 1] && "'\"`".indexOf(t[0]) >= 0) return t.slice(1, -1);
    return t;
  }

  function exceptionName(text) {
    var head = strip(text);
    var colon = head.indexOf(":");
    if (colon >= 0) head = head.slice(0, colon);
    var parts = strip(head).split(".");
    return lower(parts[parts.length - 1]);
  }

  function isNumber(v) {
    return typeof v === "number";
  }

  function sameDims(a, b) {
    if (a === null || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function allClose(nums, flat) {
    if (nums === null || nums.length !== flat.length) return false;
    for (var i = 0; i < nums.length; i++) if (!close(nums[i], valueFloat(flat[i]))) return false;
    return true;
  }

  /** Does `typed` state the same thing as the verified `answer`? (grading.matches) */
  function matches(answer, typed) {
    answer = answer || {};
    typed = strip(typed);
    if (!typed) return false;
    var atype = answer.type;
    var text = answer.text === undefined ? "" : answer.text;
    var value = answer.value === undefined ? null : answer.value;
    if (atype === "shape") return sameDims(parseShape(typed), answer.shape || []);
    if (atype === "dtype") return normalizeDtype(typed) === normalizeDtype(answer.dtype || text);
    if (atype === "error") {
      var exc = lower(answer.exception || "");
      if (exceptionName(typed) !== exc) return false;
      var colon = typed.indexOf(":");
      if (colon >= 0) return squash(answer.message || "").indexOf(squash(typed.slice(colon + 1))) >= 0;
      return true;
    }
    if (atype === "output") return squash(typed) === squash(text);
    if (atype === "tensor") {
      var tnums = parseNumbers(typed);
      if (tnums === null || value === null) return squash(typed) === squash(text);
      return allClose(tnums, flatten(value));
    }
    // python values
    if (typeof value === "boolean") return lower(typed) === (value ? "true" : "false");
    if (isNumber(value)) {
      var nums = parseNumbers(typed);
      return nums !== null && nums.length === 1 && close(nums[0], value);
    }
    if (Array.isArray(value) && value.length && flatten(value).every(isNumber)) {
      return allClose(parseNumbers(typed), flatten(value));
    }
    if (typeof value === "string") return unquote(typed) === value || squash(typed) === squash(text);
    return squash(typed) === squash(text);
  }

  /** grading.normalize_cloze: a cloze answer as graders compare it. */
  function normalizeCloze(s) {
    return squash(s).replace(/"/g, "'");
  }

  /** grading.grade: {correct, expected} for `typed` on a card of `kind`; `equivalents`: the card's
   * cloze_equivalents (other fillings of the blank with the same live result). */
  function grade(kind, answer, typed, options, cloze, equivalents) {
    typed = strip(typed);
    var expected = answer ? (answer.text === undefined ? "" : answer.text) : "";
    if (kind === "choice" && options && options.length) {
      var right = [];
      options.forEach(function (o, i) {
        if (o.correct) right.push(i);
      });
      if (right.length) expected = options[right[0]].text;
      if (RE_DECIMAL.test(typed)) {
        var n = toInt(typed);
        return { correct: n !== null && right.indexOf(n - 1) >= 0, expected: expected };
      }
      var t = squash(typed);
      return {
        correct: right.some(function (i) {
          return t === squash(options[i].text);
        }),
        expected: expected,
      };
    }
    if (kind === "cloze" && cloze !== null && cloze !== undefined) {
      var mine = normalizeCloze(typed);
      var same = [cloze].concat(equivalents || []).some(function (c) {
        return mine === normalizeCloze(c);
      });
      return { correct: Boolean(typed) && same, expected: cloze };
    }
    return { correct: matches(answer, typed), expected: expected };
  }

  var api = {
    grade: grade,
    matches: matches,
    normalizeCloze: normalizeCloze,
    parseShape: parseShape,
    parseNumbers: parseNumbers,
    normalizeDtype: normalizeDtype,
    close: close,
  };
  root.tnqGrade = api;
  if (typeof module === "object" && module && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
