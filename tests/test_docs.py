"""Documentation kept true by tests: README's settings table is the one the settings generate."""

from conftest import ROOT

from newsdesk.settings import Settings, settings_table, variable, with_settings_table


def test_readme_settings_table_is_generated_from_the_settings():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # On failure: python -m newsdesk.settings --write README.md
    assert with_settings_table(readme) == readme


def test_the_table_has_a_row_with_a_description_for_every_setting():
    table = settings_table()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"| `{variable(name)}` |" in table
    assert table.count("\n") == len(Settings.model_fields) + 2


def test_readme_leads_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make run") < readme.index("## Command line")
    assert "make test" in readme
