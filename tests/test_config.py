"""The three configuration layers and their validation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import (
    MODEL_BRANCH_STEPS,
    REPOSITORY_ROOT,
    EvaluatorSettings,
    PipelineConfig,
    Step,
    TrainingSettings,
    TunerSettings,
    blessing_thresholds,
    change_thresholds,
    check_declarations,
    config_from_dict,
    searchable_settings,
    setting,
    setting_names,
    settings_read_only_by,
)
from pipeline.settings.loading import load_config, load_variants, validate
from pipeline.settings.values import ConfigError, parse_flags
from tests.configs import taxi_config


@pytest.fixture()
def variants_file(tmp_path: Path) -> Path:
    path = tmp_path / "variants.yaml"
    path.write_text(
        "default: {}\n"
        "deep:\n  architecture: deep\n  hidden_units: [16, 8]\n  learning_rate: 0.01\n"
        "broken:\n  epochs: many\n"
    )
    return path


def test_defaults_are_valid() -> None:
    config = load_config([], environ={})
    assert config == validate(taxi_config())
    assert config.variant == "default"


def test_repository_variants_are_all_valid() -> None:
    for name in load_variants():
        config = load_config([f"--variant={name}"], environ={})
        assert config.variant == name


def test_variant_overrides_only_its_keys(variants_file: Path) -> None:
    config = load_config(["--variant=deep"], environ={}, variants_file=variants_file)
    assert config.architecture == "deep"
    assert config.hidden_units == (16, 8)
    assert config.learning_rate == 0.01
    assert config.batch_size == taxi_config().batch_size


def test_layers_apply_in_order_defaults_variant_environment_flags(variants_file: Path) -> None:
    environ = {"TFX_PIPELINE_VARIANT": "deep", "TFX_PIPELINE_LEARNING_RATE": "0.02",
               "TFX_PIPELINE_EPOCHS": "3"}
    config = load_config(["--epochs=7"], environ=environ, variants_file=variants_file)
    assert config.variant == "deep"
    assert config.learning_rate == 0.02  # environment beats the variant
    assert config.epochs == 7  # the flag beats the environment


def test_a_single_value_is_a_list_of_one() -> None:
    config = load_config(["--hidden_units=64"], environ={"TFX_PIPELINE_SLICE_FEATURES": "company"})
    assert config.hidden_units == (64,)
    assert config.slice_features == ("company",)


def test_list_and_mapping_values_parse_from_strings() -> None:
    config = load_config(
        ["--hidden_units=32,16", "--slice_features", "payment_type",
         '--bigquery_derived_columns={"trip_start_hour": "EXTRACT(HOUR FROM ts)"}'],
        environ={})
    assert config.hidden_units == (32, 16)
    assert config.slice_features == ("payment_type",)
    assert config.bigquery_derived_columns == {"trip_start_hour": "EXTRACT(HOUR FROM ts)"}
    # Pushed versions are digits, and stay text; one of them is a list of one.
    numbered = load_config(["--ab_models=1796198253", "--scoring_model=1796198314",
                            "--hidden_units=64"], environ={})
    assert numbered.ab_models == ("1796198253",) and numbered.scoring_model == "1796198314"
    assert numbered.hidden_units == (64,)
    assert load_config(["--ab_models=17,18"], environ={}).ab_models == ("17", "18")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--learning_rat=0.1"], "unknown setting 'learning_rat'. Did you mean 'learning_rate'?"),
        (["--epochs=ten"], "command line: epochs='ten' is not int"),
        (["--epochs=2.5"], "epochs='2.5' is not int"),
        (["--hidden_units=a,b"], "is not a list of int"),
        (["--architecture=resnet"], "architecture='resnet' is not allowed; choose one of: deep"),
        (["--data_source=s3"], "data_source='s3' is not allowed"),
        (["--beam_runner=spark"], "beam_runner='spark' is not allowed; choose one of: direct"),
        (["--push_destination=s3"], "push_destination='s3' is not allowed"),
        (["--pipeline_name=Big_Tipper"], "pipeline_name='Big_Tipper' must be lowercase"),
        (["--slice_features=tips"],
         "slice_features: 'tips' is not a categorical or numeric feature"),
        (["--label_rule=tips >"], "label_rule 'tips >' is not a valid expression"),
        (["--eval_percent=0"], "eval_percent must be between 1 and 98"),
        (["--variant=nope"], "Unknown variant 'nope'"),
        (["positional"], "Unexpected argument 'positional'"),
        (["--epochs"], "Flag --epochs needs a value"),
        (["--data_path=package://no_such_package/data.csv"], "is not installed"),
        (["--data_path=testdata/nothing_here.jsonl"], "no file matches"),
        (["--learning_rate=NaN"], "learning_rate='NaN' is not a finite float"),
        (["--label_rule=payment_type > 1"], "reads 'payment_type', a categorical feature"),
        (["--label_rule=tips > 1e999"], "label_rule 'tips > 1e999'"),
        (["--numeric_features=fare,trip_miles,tip-amount"], "does not describe 'tip-amount'"),
        (["--schema_path=", "--data_source=bigquery", "--numeric_features=fare,tip-amount",
          "--drift_thresholds={}", "--skew_thresholds={}"],
         "'tip-amount' cannot be a BigQuery column name"),
        (["--numeric_features=fare"], "drift_thresholds: 'trip_miles' is not a configured "
                                      "feature"),
        (["--skew_thresholds={\"fare\": 1.5}"], "skew_thresholds: fare=1.5 must be in (0, 1]"),
        (["--drift_thresholds={\"fare\": \"high\"}"], "is not a mapping of str to float"),
        (["--schema_path=schemas/none.pbtxt"], "schema_path='schemas/none.pbtxt': no such file"),
        # Tasks, labels and datasets.
        (["--task=ranking"], "task='ranking' is not allowed; choose one of: binary, multiclass, "
                             "regression"),
        (["--min_auc=0.9"], "command line: 'min_auc' is no longer a setting; use "
                            "blessing_thresholds"),
        (["--dataset=taxi_fare", "--blessing_thresholds=auc:0.8"],
         "blessing_thresholds: 'auc' is not a metric of task=regression; its metrics: r2 "
         "(higher is better), mae (lower is better), rmse (lower is better)."),
        (["--dataset=penguins", "--change_thresholds=rmse:1"],
         "change_thresholds: 'rmse' is not a metric of task=multiclass"),
        (["--blessing_thresholds=auc"], "blessing_thresholds='auc' is not a mapping"),
        (["--dataset=penguins", "--label_rule=bill_length_mm > 40"],
         "a multiclass label must be a column"),
        (["--dataset=taxi_tip_share", "--label_rule=tips > fare"],
         "must be arithmetic for task=regression"),
        (["--dataset=imdb", "--label_rule=review > 1"], "reads 'review', a text feature"),
        (["--dataset=titanic"], "dataset='titanic': no file"),
    ],
)
def test_bad_settings_fail_naming_the_key(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as raised:
        load_config(argv, environ={})
    assert message in str(raised.value)


def test_unknown_environment_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="environment: unknown setting 'epoch'"):
        load_config([], environ={"TFX_PIPELINE_EPOCH": "3"})


def test_variant_with_wrong_type_names_the_variant(variants_file: Path) -> None:
    with pytest.raises(ConfigError, match="variants.yaml variant 'broken': epochs='many'"):
        load_config(["--variant=broken"], environ={}, variants_file=variants_file)


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ConfigError, match="is not int"):
        config_from_dict({"epochs": True})


def test_round_trip_through_dict() -> None:
    config = taxi_config(hidden_units=(3, 2), architecture="deep")
    assert config_from_dict(config.to_dict()) == config


def test_package_data_path_resolves_inside_the_installed_package() -> None:
    config = load_config(["--variant=full_sample"], environ={})
    path = Path(config.resolved_data_path())
    assert path.name == "data.csv" and path.exists()


def test_parse_flags_accepts_dashes() -> None:
    assert parse_flags(["--batch-size=3"]) == {"batch_size": "3"}


def test_a_setting_declared_without_readers_fails_at_once() -> None:
    undeclared = dataclasses.make_dataclass("Settings", [("new_setting", int, 3)])
    with pytest.raises(TypeError, match="new_setting is declared without read_by"):
        check_declarations(undeclared)
    searchable_unread = dataclasses.make_dataclass("Settings", [
        ("slices", int, setting(3, read_by=(Step.EVALUATOR,), searchable=True))])
    with pytest.raises(TypeError, match="searchable but the Trainer does not read it"):
        check_declarations(searchable_unread)


def test_each_step_receives_exactly_the_settings_it_reads() -> None:
    config = taxi_config(epochs=7, blessing_thresholds={"auc": 0.5})
    training = TrainingSettings.from_config(config)
    assert set(training.to_dict()) == setting_names(Step.TRAINER)
    assert training.epochs == 7 and training.hidden_units == (64, 32)  # typed: a tuple
    with pytest.raises(AttributeError):
        training.blessing_thresholds  # noqa: B018 - the Trainer does not read it
    assert EvaluatorSettings.from_config(config).blessing_thresholds == {"auc": 0.5}
    # The Tuner's trials train the Trainer's model: it reads both steps' settings.
    assert set(TunerSettings.from_config(config).to_dict()) == (
        setting_names(Step.TRAINER) | {"hyperparameter_search", "search_space",
                                       "search_trials", "search_epochs",
                                       "search_parallel_trials"})
    # Round trip through JSON (a component's custom_config), types restored.
    assert TrainingSettings.from_dict(json.loads(json.dumps(training.to_dict())),
                                      "test") == training


def test_derived_setting_lists() -> None:
    assert searchable_settings() == ("architecture", "hidden_units", "embedding_dim", "dropout",
                                     "cross_layers", "attention_heads", "transformer_blocks",
                                     "learning_rate")
    model_only = settings_read_only_by(MODEL_BRANCH_STEPS)
    assert {"architecture", "epochs", "seed", "hyperparameter_search", "blessing_thresholds",
            "slice_features"} <= model_only
    assert not {"label_name", "bucket_count", "numeric_features", "data_path", "output_root",
                "gcp_project"} & model_only


@pytest.mark.parametrize("overrides, message", [
    ({"hidden_units": (32, 0)}, "hidden_units entries must be at least 1, got 0"),
    ({"dropout": 1.5}, "dropout must be between 0 and 0.99, got 1.5"),
    ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
    ({"bigquery_sample_percent": 0.0}, "bigquery_sample_percent must be in (0, 100], got 0.0"),
    ({"search_trials": 0}, "search_trials must be at least 1, got 0"),
])
def test_declared_limits_are_checked(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        validate(taxi_config(**overrides))
    assert message in str(raised.value)


def test_loading_a_configuration_imports_no_tensorflow() -> None:
    code = ("import sys; from pipeline.settings.loading import load_config; load_config([]); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'tfx') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY_ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_every_shipped_dataset_loads_and_selecting_one_is_one_setting() -> None:
    from pipeline.settings.loading import dataset_names

    assert {"taxi", "penguins", "taxi_fare", "taxi_tip_share", "imdb"} <= set(dataset_names())
    tasks = {name: load_config([f"--dataset={name}"], environ={}).task
             for name in dataset_names()}
    assert tasks["penguins"] == "multiclass" and tasks["taxi_fare"] == "regression"
    # The dataset's file sits under the variant, the environment and flags.
    config = load_config(["--dataset=penguins", "--epochs=3", "--variant=deep"],
                         environ={"TFX_PIPELINE_BATCH_SIZE": "8"})
    assert (config.label_name, config.epochs, config.batch_size, config.architecture) == (
        "species", 3, 8, "deep")
    assert load_config([], environ={}).dataset == "taxi"  # the README's default


def test_a_new_dataset_is_one_file(tmp_path: Path) -> None:
    """A team's table: a file of rows and a file of settings, no Python."""
    (tmp_path / "churn.yaml").write_text(
        "pipeline_name: churn\ntask: multiclass\ndata_path: testdata/penguins.jsonl\n"
        "numeric_features: [body_mass_g]\ncategorical_features: [sex]\n"
        "label_name: island\nblessing_thresholds: {macro_f1: 0.4}\n")
    config = load_config(["--dataset=churn"], environ={}, datasets_directory=tmp_path)
    assert (config.task, config.label_name, config.pipeline_name) == (
        "multiclass", "island", "churn")
    # The task's default gate stays, the dataset's own floor is added to it.
    assert blessing_thresholds(config) == {"log_loss_skill": 0.02, "macro_f1": 0.4}


def test_thresholds_default_to_the_task_and_read_key_value_flags() -> None:
    assert blessing_thresholds(PipelineConfig(task="regression")) == {"r2": 0.02}
    assert blessing_thresholds(PipelineConfig(task="binary")) == {"log_loss_skill": 0.02}
    # Naming the skill metric sets its margin.
    assert blessing_thresholds(PipelineConfig(
        task="binary", blessing_thresholds={"log_loss_skill": -1.0, "auc": 0.7})) == {
        "log_loss_skill": -1.0, "auc": 0.7}
    assert change_thresholds(PipelineConfig(task="multiclass")) == {"accuracy": 0.02}
    config = load_config(["--dataset=taxi_fare", "--blessing_thresholds=r2:0.5,mae:2.5"],
                         environ={})
    assert config.blessing_thresholds == {"r2": 0.5, "mae": 2.5}


def test_an_empty_mapping_flag_clears_the_datasets_mapping() -> None:
    assert load_config(["--dataset=taxi"], environ={}).drift_thresholds  # taxi sets some
    config = load_config(["--dataset=taxi", "--drift_thresholds=", "--skew_thresholds="],
                         environ={})
    assert config.drift_thresholds == {} and config.skew_thresholds == {}


def test_every_setting_a_step_reads_is_declared_for_it() -> None:
    """Reads each step's code: every attribute read on a step's settings view (a name
    bound to `<View>.from_dict(...)`/`from_config(...)`, or a parameter annotated with a
    view) must be a setting that view declares, so `read_by` cannot miss a setting the
    code reads."""
    import ast

    from pipeline.settings import StepSettings
    from pipeline.settings import views as config_module

    views = {name: value for name, value in vars(config_module).items()
             if isinstance(value, type) and issubclass(value, StepSettings)
             and value is not StepSettings}
    code = [REPOSITORY_ROOT / "preprocessing.py", *REPOSITORY_ROOT.glob("models/*.py"),
            *REPOSITORY_ROOT.glob("pipeline/components/*.py"),
            *REPOSITORY_ROOT.glob("pipeline/serving/*.py"),
            *REPOSITORY_ROOT.glob("evaluation/*.py")]
    checked: dict[str, int] = {}
    problems = []
    for path in code:
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            bound: dict[str, list[str]] = {}
            arguments = function.args.args + function.args.kwonlyargs
            for argument in arguments:
                if argument.annotation is not None:
                    named = [name for name in views if name in ast.unparse(argument.annotation)]
                    if named:
                        bound[argument.arg] = named
            for node in ast.walk(function):
                if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                        and isinstance(node.value.func, ast.Attribute)
                        and node.value.func.attr in ("from_dict", "from_config")
                        and isinstance(node.value.func.value, ast.Name)
                        and node.value.func.value.id in views):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            bound[target.id] = [node.value.func.value.id]
            for node in ast.walk(function):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in bound):
                    names = bound[node.value.id]
                    fields = {field.name for name in names
                              for field in dataclasses.fields(views[name])}
                    if node.attr in fields:
                        for name in names:
                            checked[name] = checked.get(name, 0) + 1
                    elif not any(hasattr(views[name], node.attr) for name in names):
                        problems.append(f"{path.relative_to(REPOSITORY_ROOT)}:{node.lineno}: "
                                        f"{'/'.join(names)} has no setting {node.attr!r}")
    assert problems == []
    # Every view that crosses into a step is read somewhere by that step's code.
    assert set(views) - set(checked) <= {"TunerSettings"}, sorted(set(views) - set(checked))
