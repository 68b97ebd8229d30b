"""The YAML format: py-code-mode's, read as written; problems named by file and field."""

from __future__ import annotations

import textwrap

import pytest

from codemode.tools.spec import CliToolSpec, HttpToolSpec, McpToolSpec, parse_tool_file

PY_CODE_MODE_CURL = textwrap.dedent(
    """\
    name: curl
    description: Make HTTP requests
    command: curl
    timeout: 60
    tags: [http, network]

    schema:
      options:
        silent:
          type: boolean
          short: s
          description: Silent mode
        header:
          type: array
          short: H
          description: HTTP headers
      positional:
        - name: url
          type: string
          required: true
          description: URL to request

    recipes:
      get:
        description: Simple GET request
        preset:
          silent: true
        params:
          url: {}
      json:
        description: GET with JSON Accept header
        preset:
          silent: true
          header: ["Accept: application/json"]
        params:
          url:
    """
)


def test_a_py_code_mode_cli_tool_loads_unchanged():
    loaded = parse_tool_file("curl.yaml", PY_CODE_MODE_CURL.encode())
    assert loaded.problem is None
    spec = loaded.spec
    assert isinstance(spec, CliToolSpec)
    assert (spec.name, spec.command, spec.timeout, spec.tags) == ("curl", "curl", 60, ["http", "network"])
    assert spec.schema_.options["silent"].short == "s"
    assert spec.schema_.positional[0].required
    assert spec.recipes["get"].preset == {"silent": True}
    assert not spec.recipes["json"].params["url"].has_default


def test_a_py_code_mode_mcp_tool_loads_unchanged():
    raw = b"name: web\ntype: mcp\ntransport: stdio\ncommand: uvx\nargs: ['mcp-server-fetch']\ndescription: Fetch"
    spec = parse_tool_file("web.yaml", raw).spec
    assert isinstance(spec, McpToolSpec)
    assert (spec.command, spec.args, spec.transport) == ("uvx", ["mcp-server-fetch"], "stdio")


def test_an_http_tool_gets_path_parameters_from_its_path():
    raw = b"name: gh\ntype: http\nbase_url: https://x\nendpoints:\n  repo:\n    path: /repos/{owner}/{repo}\n"
    spec = parse_tool_file("gh.yaml", raw).spec
    assert isinstance(spec, HttpToolSpec)
    params = spec.endpoints["repo"].params
    assert {name: (param.in_, param.required) for name, param in params.items()} == {
        "owner": ("path", True),
        "repo": ("path", True),
    }


def test_command_defaults_to_the_tool_name():
    spec = parse_tool_file("wc.yaml", b"name: wc\ndescription: count").spec
    assert isinstance(spec, CliToolSpec)
    assert spec.argv0() == ["wc"]


def test_invalid_yaml_is_a_problem_naming_the_file():
    loaded = parse_tool_file("broken.yaml", b"name: x\n  bad: [unclosed")
    assert loaded.spec is None
    assert loaded.problem is not None and loaded.problem.startswith("broken.yaml: not valid YAML")


def test_unknown_type_is_a_problem_naming_the_field():
    loaded = parse_tool_file("odd.yaml", b"name: odd\ntype: grpc")
    assert loaded.problem == "odd.yaml: field 'type': unknown tool type 'grpc'; use 'cli', 'mcp' or 'http'"


def test_a_wrong_field_is_named():
    loaded = parse_tool_file("t.yaml", b"name: t\ntimeout: soon")
    assert loaded.problem is not None and "field 'timeout'" in loaded.problem


def test_a_missing_name_is_named():
    loaded = parse_tool_file("t.yaml", b"description: no name")
    assert loaded.problem is not None and "field 'name'" in loaded.problem


def test_an_mcp_tool_without_a_command_is_a_problem():
    loaded = parse_tool_file("m.yaml", b"name: m\ntype: mcp\ntransport: stdio")
    assert loaded.problem is not None and "needs a 'command'" in loaded.problem


def test_a_non_mapping_document_is_a_problem():
    assert "expected a mapping" in (parse_tool_file("l.yaml", b"- a\n- b").problem or "")


def test_tool_names_may_have_hyphens():
    loaded = parse_tool_file("m.yaml", b"name: my-mcp-server\ntype: mcp\ncommand: uvx")
    assert loaded.problem is None and loaded.spec is not None and loaded.spec.name == "my-mcp-server"


def test_tool_names_refuse_other_characters_and_say_what_is_allowed():
    problem = parse_tool_file("n.yaml", b"name: not valid!").problem or ""
    assert "letters, digits, '_' and '-'" in problem


def test_unknown_fields_load_with_a_warning_naming_them():
    raw = b"name: t\ncolour: red\nschema:\n  options:\n    v:\n      type: boolean\n      hint: x\n"
    loaded = parse_tool_file("t.yaml", raw)
    assert loaded.spec is not None and loaded.problem is None
    assert loaded.warning == "t.yaml: unknown field(s) 'colour', 'schema.options.v.hint' ignored"


def test_a_file_of_known_fields_has_no_warning():
    assert parse_tool_file("c.yaml", PY_CODE_MODE_CURL.encode()).warning is None


def test_a_cli_tool_declares_the_server_variables_it_needs_by_name():
    spec = parse_tool_file("gh.yaml", b"name: gh\nenv: [GH_TOKEN, GH_HOST]").spec
    assert isinstance(spec, CliToolSpec) and spec.env == ["GH_TOKEN", "GH_HOST"]


@pytest.mark.parametrize(
    "raw", [b"name: t\nenv: [GH-TOKEN]", b"name: t\ntype: mcp\ncommand: x\nenv: {'1X': v}"], ids=["cli", "mcp"]
)
def test_an_env_entry_that_is_not_a_variable_name_is_a_problem_saying_what_is_allowed(raw: bytes):
    problem = parse_tool_file("t.yaml", raw).problem or ""
    assert "field 'env'" in problem and "letters, digits and '_', not starting with a digit" in problem


def test_an_mcp_tool_may_list_the_names_of_the_variables_it_gets():
    spec = parse_tool_file("m.yaml", b"name: m\ntype: mcp\ncommand: x\nenv: [API_KEY]").spec
    assert isinstance(spec, McpToolSpec) and spec.passed_env() == (["API_KEY"], {})


def test_a_value_pattern_that_is_not_a_regular_expression_is_a_problem():
    raw = b"name: t\nschema:\n  positional:\n    - {name: x, pattern: '('}"
    problem = parse_tool_file("t.yaml", raw).problem or ""
    assert "field 'schema.positional.0.pattern'" in problem and "not a valid regular expression" in problem
