import pytest

from kubepulse.kube.selectors import compile_pattern, validate_label_selector


@pytest.mark.parametrize(
    "selector",
    [
        "app=web",
        "app==web",
        "app!=web",
        "app",
        "!app",
        "app in (web, api)",
        "app notin (web)",
        "example.com/tier=front,app=web",
        "app=",
        "size>3",
        "a.b_c-d=x.y_z-1",
    ],
)
def test_valid_selectors_are_accepted(selector: str) -> None:
    assert validate_label_selector(f"  {selector} ") == selector


@pytest.mark.parametrize(
    "selector",
    [
        "app=web,",
        "app=web=x",
        "app in ()",
        "app in (a,,b)",
        "app in (a",
        "-app=web",
        "app=-web",
        "UPPER.example.com/x=y",
        "x" * 64 + "=y",
        "app=" + "v" * 64,
        "size>big",
        "app=we b",
    ],
)
def test_invalid_selectors_name_the_argument(selector: str) -> None:
    with pytest.raises(ValueError, match=r"^label_selector: "):
        validate_label_selector(selector)


def test_empty_selector_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        validate_label_selector(" ")
    assert validate_label_selector("", allow_empty=True) == ""


def test_compile_pattern_names_argument() -> None:
    with pytest.raises(ValueError, match=r"^namespace_pattern: invalid regular expression"):
        compile_pattern("shop-[", "namespace_pattern")
    with pytest.raises(ValueError, match=r"^pod_name_pattern: must not be empty"):
        compile_pattern("", "pod_name_pattern")
    pattern = compile_pattern("web-", "pod_name_pattern")
    assert pattern.match("web-1") and not pattern.match("my-web-1")
