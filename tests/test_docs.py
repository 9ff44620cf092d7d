"""Documentation kept true by tests: every setting is in README's table."""

from conftest import ROOT

from newsdesk.settings import ENVIRONMENT


def test_every_environment_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [variable for variable in ENVIRONMENT.values() if f"`{variable}`" not in readme]
    assert missing == []


def test_readme_leads_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make run") < readme.index("## Command line")
    assert "make test" in readme
