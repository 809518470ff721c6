"""Backend options as typed, closed schemas: an unknown name is refused with the backend's own options listed, the
flow's parameter schema (checked by Prefect's own server-side validator) refuses any name no backend takes, and every
option a backend declares is one its constructor accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fluxcat.backends import REGISTRY, get_backend, options_for
from fluxcat.settings import RunOptions

# one option each backend really takes, which the refusal must list
OWN_OPTION = {"fixed": "fail_prompts_containing", "tiny": "cache_dir", "fal": "enable_safety_checker",
              "router": "providers"}


def options(backend: str, backend_options: dict) -> RunOptions:
    return RunOptions(catalog="c.parquet", output="out", backend=backend, backend_options=backend_options)


@pytest.mark.parametrize("backend", sorted(OWN_OPTION))
def test_an_unknown_option_is_refused_with_the_backends_options(backend):
    with pytest.raises(ValidationError) as refused:
        options(backend, {"stepz": 3})
    message = str(refused.value)
    assert f"backend {backend!r} takes no option 'stepz' (its options: " in message
    assert OWN_OPTION[backend] in message.split("its options: ")[1]
    assert "unexpected keyword argument" not in message


def test_a_value_of_the_wrong_type_is_refused_without_echoing_it():
    with pytest.raises(ValidationError) as refused:
        options("fal", {"timeout": "sk-not-a-number"})
    assert "option timeout:" in str(refused.value) and "sk-not-a-number" not in str(refused.value)


def test_compile_shapes_is_a_choice_in_the_run_options():
    assert options("tiny", {"compile_shapes": "static"}).backend_options == {"compile_shapes": "static"}
    with pytest.raises(ValidationError) as refused:
        options("tiny", {"compile_shapes": "symbolic"})
    assert "option compile_shapes:" in str(refused.value) and "'dynamic' or 'static'" in str(refused.value)


def test_the_router_takes_each_providers_options_prefixed_and_grouped():
    options("router", {"providers": "fal,hf", "fal_base_url": "http://127.0.0.1:1", "hf": {"max_loading_wait": 5},
                       "timeout": 30})
    with pytest.raises(ValidationError, match="takes no option 'fal_stepz'"):
        options("router", {"fal_stepz": 1})


DEFAULTS_NEED_NOTHING = ["fixed", "text-render", "flux-api", "fal", "replicate", "hf", "segmind", "router"]


@pytest.mark.parametrize("backend", DEFAULTS_NEED_NOTHING)
def test_every_declared_option_is_one_the_constructor_takes(backend):
    """The schema is read from the constructors: each option, given at its default, builds the backend (no key
    needed to build one: the key is read before the first image)."""
    fields = options_for(backend).model_fields
    given = {name: field.default for name, field in fields.items() if field.default is not None}
    given.update({name: "http://127.0.0.1:1" for name in fields if name.endswith("base_url")})  # flux-api has none
    if backend == "router":  # a provider's options are for the providers the router is given
        given["providers"] = [field.alias for field in fields.values() if field.alias in REGISTRY]
    get_backend(backend, given).close()


@pytest.fixture(scope="module")
def flow_schema():
    from prefect.utilities.callables import parameter_schema

    from flows.catalog import generate_catalog

    return parameter_schema(generate_catalog.fn).model_dump_for_openapi()


@pytest.mark.parametrize("options", [{"fal_credential": "marker-7f3a"}, {"api_key": "marker-7f3a"},
                                     {"stepz": "marker-7f3a"}])
def test_the_servers_parameter_check_refuses_a_name_no_backend_takes(flow_schema, options):
    """Prefect's server validates a flow run's parameters with this function before storing them (409 otherwise):
    a secret under a free-form name cannot reach flow_run.parameters. The refusal names the option, not its value."""
    from prefect.utilities.schema_tools.validation import ValidationError as Refused
    from prefect.utilities.schema_tools.validation import validate

    parameters = {"catalog": "c.parquet", "output": "out", "backend": {"backend": "fal", "backend_options": options}}
    with pytest.raises(Refused) as refused:
        validate(parameters, flow_schema, raise_on_error=True)
    assert "backend.backend_options" in str(refused.value) and "marker-7f3a" not in str(refused.value)
    ok = {**parameters, "backend": {"backend": "fal", "backend_options": {"base_url": "http://127.0.0.1:1"}}}
    assert validate(ok, flow_schema, raise_on_error=True) == []


def test_every_backend_has_a_closed_schema_in_the_form(flow_schema):
    options = flow_schema["definitions"]["Backend"]["properties"]["backend_options"]
    titles = [each["title"] for each in options["anyOf"]]
    assert len(titles) == len(set(titles)) == len(REGISTRY)  # auto's are diffusers'; first, the form's start: none
    assert options["anyOf"][0]["properties"] == {}
    assert all(each["additionalProperties"] is False for each in options["anyOf"])


@pytest.mark.parametrize("backend, options, message", [("fixed", {"stepz": 1}, "takes no option 'stepz'"),
                                                       ("fal", {}, "fal needs an API key")])
def test_serve_refuses_a_bad_option_or_a_missing_key_before_it_listens(backend, options, message, monkeypatch, tmp_path):
    import fluxcat.serve
    from fluxcat.serve import ServeSettings, serve

    monkeypatch.delenv("FAL_KEY", raising=False)
    monkeypatch.setattr(fluxcat.serve, "run", lambda *a, **k: pytest.fail("it listened"))
    with pytest.raises(ValueError, match=message):
        serve(backend, options, str(tmp_path), "127.0.0.1", 0, ServeSettings(api_keys=("k",)))
