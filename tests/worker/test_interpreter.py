"""The REPL core, without any process around it."""

from codemode.worker.interpreter import Interpreter


def make(**predefined: object) -> Interpreter:
    return Interpreter(predefined, value_cap=100, traceback_cap=2000, module_name="__test__")


def test_last_expression_value_is_returned_as_repr():
    assert make().execute("x = 2\nx * 21", 1)["value"] == "42"


def test_statement_without_expression_has_no_value():
    assert make().execute("x = 2", 1)["value"] is None


def test_none_value_is_not_shown():
    assert make().execute("None", 1)["value"] is None


def test_namespace_persists_between_executions():
    interp = make()
    interp.execute("def f(a):\n    return a + 1", 1)
    assert interp.execute("f(1)", 2)["value"] == "2"


def test_underscore_holds_the_last_value():
    interp = make()
    interp.execute("[1, 2]", 1)
    assert interp.execute("_", 2)["value"] == "[1, 2]"


def test_top_level_await_runs_on_a_persistent_loop():
    interp = make()
    interp.execute("import asyncio\nasync def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x", 1)
    assert interp.execute("await twice(21)", 2)["value"] == "42"
    # a task made in one cell can be awaited in the next: the loop persists
    assert interp.execute("task = asyncio.create_task(twice(5))\nawait asyncio.sleep(0)", 3)["error"] is None
    assert interp.execute("await task", 4)["value"] == "10"


def test_long_repr_is_capped_and_marked():
    outcome = make().execute("'x' * 1000", 1)
    assert outcome["truncated"] is True
    assert len(outcome["value"]) < 200
    assert "characters cut" in outcome["value"]


def test_syntax_error_reports_line_and_column():
    error = make().execute("x = 1\ny = (", 1)["error"]
    assert error["type"] == "SyntaxError"
    assert error["line"] == 2
    assert error["column"] is not None
    assert "<cell-1>" in error["traceback"]


def test_exception_traceback_shows_the_cell_and_not_our_frames():
    error = make().execute("def f():\n    return 1 / 0\nf()", 7)["error"]
    assert error["type"] == "ZeroDivisionError"
    assert error["message"] == "division by zero"
    assert error["line"] == 2
    assert 'File "<cell-7>", line 3' in error["traceback"]
    assert "interpreter.py" not in error["traceback"]
    assert "return 1 / 0" in error["traceback"]  # the cell's source is shown


def test_chained_exceptions_keep_both_parts():
    code = "try:\n    {}['k']\nexcept KeyError as exc:\n    raise ValueError('bad') from exc"
    error = make().execute(code, 1)["error"]
    assert error["type"] == "ValueError"
    assert "KeyError" in error["traceback"]
    assert "interpreter.py" not in error["traceback"]


def test_system_exit_is_reported_and_the_namespace_survives():
    interp = make()
    interp.execute("kept = 1", 1)
    error = interp.execute("raise SystemExit(3)", 2)["error"]
    assert error["type"] == "SystemExit"
    assert "does not end" in error["message"]
    assert interp.execute("kept", 3)["value"] == "1"


def test_input_raises_a_clear_eof_error():
    error = make().execute("input('name? ')", 1)["error"]
    assert error["type"] == "EOFError"
    assert "not available" in error["message"]


def test_reset_clears_user_names_and_keeps_predefined_ones():
    interp = make(tools="the tools")
    interp.execute("x = 1", 1)
    interp.reset()
    assert interp.execute("x", 2)["error"]["type"] == "NameError"
    assert interp.execute("tools", 3)["value"] == "'the tools'"


def test_broken_repr_is_reported_as_an_error():
    code = "class Bad:\n    def __repr__(self):\n        raise RuntimeError('no repr')\nBad()"
    error = make().execute(code, 1)["error"]
    assert error["type"] == "RuntimeError"
    assert "no repr" in error["message"]


def test_huge_traceback_is_capped_keeping_head_and_tail():
    code = "def f(n):\n    return f(n + 1)\nf(0)"
    interp = Interpreter({}, value_cap=100, traceback_cap=200)
    outcome = interp.execute(code, 1)
    assert outcome["error"]["type"] == "RecursionError"
    assert len(outcome["error"]["traceback"]) < 300
    assert outcome["error"]["traceback"].rstrip().endswith("maximum recursion depth exceeded")
    assert outcome["truncated"] is True


def test_null_bytes_in_source_are_a_syntax_error_not_a_crash():
    error = make().execute("x = 1\x00", 1)["error"]
    assert error["type"] in {"SyntaxError", "ValueError"}
