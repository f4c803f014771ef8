"""A checkpoint that cannot be used says which file and what is wrong with it (PolicyLoadError)."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from discountsim.agents import (
    PolicyLoadError,
    PolicyScenarioMismatch,
    evaluate,
    load_policy,
    make_model,
    make_policy,
    save_policy,
    train_supervised,
)
from discountsim.agents.sb3_agents import SB3_METADATA, save_sb3
from discountsim.envs import ShopperVecEnv
from stable_baselines3 import PPO

from tests.conftest import scenario_with

TINY_PPO = {"env": {"n_envs": 8}, "hyperparams": {"n_steps": 8, "batch_size": 32, "n_epochs": 1}}


@pytest.fixture(scope="module")
def ppo_zip(tmp_path_factory) -> Path:
    return save_policy(make_model("ppo", "default", **TINY_PPO), tmp_path_factory.mktemp("ppo") / "ppo.zip")


@pytest.fixture(scope="module")
def supervised_json(tmp_path_factory) -> Path:
    policy, _ = train_supervised("default", n_shoppers=80, horizon=4, seed=0, epochs=2, hidden=(8,))
    return save_policy(policy, tmp_path_factory.mktemp("sup") / "supervised.json")


def _rewrite(src: Path, dst: Path, entry: str, payload: bytes | None) -> Path:
    """Copy a zip with one entry replaced (or dropped if ``payload`` is None)."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for item in a.infolist():
            if item.filename != entry:
                b.writestr(item, a.read(item.filename))
            elif payload is not None:
                b.writestr(item, payload)
    return dst


def _edit_json(src: Path, dst: Path, edit) -> Path:
    data = json.loads(src.read_text())
    edit(data)
    dst.write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.67, 0.95])
def test_truncated_zip_names_the_file_and_says_truncated(ppo_zip, tmp_path, fraction) -> None:
    data = ppo_zip.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(PolicyLoadError, match=r"cut\.zip: .*(truncated|damaged)") as err:
        load_policy(cut)
    assert "pass algorithm=" not in str(err.value)  # the old, misleading advice


def test_corrupt_entries_inside_the_zip(ppo_zip, tmp_path) -> None:
    bad_meta = _rewrite(ppo_zip, tmp_path / "meta.zip", SB3_METADATA, b"{not json")
    with pytest.raises(PolicyLoadError, match=r"meta\.zip: entry 'discountsim\.json' is not valid JSON"):
        load_policy(bad_meta)
    bad_data = _rewrite(ppo_zip, tmp_path / "data.zip", "data", b"{not json")
    with pytest.raises(PolicyLoadError, match=r"data\.zip: entry 'data' is not valid JSON"):
        load_policy(bad_data)
    flipped = bytearray(ppo_zip.read_bytes())
    with zipfile.ZipFile(ppo_zip) as archive:
        info = archive.getinfo("policy.pth")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    flipped[middle] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(flipped))
    with pytest.raises(PolicyLoadError, match=r"flipped\.zip: .*damaged"):
        load_policy(tmp_path / "flipped.zip")


def test_old_and_contradicting_sb3_metadata(ppo_zip, tmp_path) -> None:
    old = _rewrite(ppo_zip, tmp_path / "old.zip", SB3_METADATA, b'{"format": "discountsim-sb3", "algorithm": "ppo"}')
    with pytest.raises(
        PolicyLoadError, match=r"old\.zip: saved by an older DiscountSim without the scenario fingerprint"
    ):
        load_policy(old)
    with pytest.raises(PolicyLoadError, match=r"algorithm='dqn' given, but the checkpoint is 'ppo'"):
        load_policy(ppo_zip, algorithm="dqn")
    with zipfile.ZipFile(ppo_zip) as archive:
        meta = json.loads(archive.read(SB3_METADATA))
    meta["fingerprint"] |= {"action_type": "continuous"}  # the model is discrete (11 levels)
    tampered = _rewrite(ppo_zip, tmp_path / "tampered.zip", SB3_METADATA, json.dumps(meta).encode())
    with pytest.raises(PolicyLoadError, match=r"tampered\.zip: the model's action space Discrete\(11\) does not match"):
        load_policy(tampered)
    meta["fingerprint"] |= {"action_type": "discrete", "features": meta["fingerprint"]["features"][:-1]}
    short = _rewrite(ppo_zip, tmp_path / "short.zip", SB3_METADATA, json.dumps(meta).encode())
    with pytest.raises(PolicyLoadError, match=r"short\.zip: the model reads observations of shape \(19,\), its fing"):
        load_policy(short)


def test_foreign_zip_is_checked_for_width_only_and_warns(tmp_path, caplog) -> None:
    PPO("MlpPolicy", ShopperVecEnv(4, horizon=2, seed=0), n_steps=8, batch_size=32, device="cpu").save(tmp_path / "f")
    with pytest.raises(PolicyLoadError, match=r"f\.zip: an SB3 zip not saved by DiscountSim .*pass algorithm="):
        load_policy(tmp_path / "f.zip")
    model = load_policy(tmp_path / "f.zip", algorithm="ppo")
    with caplog.at_level(logging.WARNING, logger="discountsim.agents.fingerprint"):
        evaluate(model, "default", n_shoppers=10, horizon=2)
    assert any("has no scenario fingerprint" in r.getMessage() for r in caplog.records)
    wider = scenario_with(
        catalogue={"beauty": {"share": 0.05}, "toys": {"share": 0.05, "margin": 0.3, "basket_scale": 1.0}}
    )
    with pytest.raises(
        PolicyScenarioMismatch, match=r"reads observations of shape \(19,\); scenario .* has 20 features"
    ):
        evaluate(model, wider, n_shoppers=10, horizon=2)
    with pytest.raises(ValueError, match="cannot tell which scenario its observations come from"):
        save_sb3(PPO("MlpPolicy", "CartPole-v1", device="cpu"), tmp_path / "cartpole.zip")


def test_json_checkpoints(supervised_json, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"policy checkpoint not found: .*nope\.json"):
        load_policy(tmp_path / "nope.json")
    rule = save_policy(make_policy("rule_based"), tmp_path / "rule.json")
    nameless = _edit_json(rule, tmp_path / "nameless.json", lambda d: d.pop("name"))
    with pytest.raises(PolicyLoadError, match=r"nameless\.json: missing \['name'\]"):
        load_policy(nameless)
    (tmp_path / "cut.json").write_text(rule.read_text()[:100])
    with pytest.raises(PolicyLoadError, match=r"cut\.json: not a saved policy \(invalid JSON"):
        load_policy(tmp_path / "cut.json")
    v1 = _edit_json(rule, tmp_path / "v1.json", lambda d: (d.update(version=1), d.pop("fingerprint")))
    with pytest.raises(PolicyLoadError, match=r"v1\.json: saved by an older DiscountSim \(format version 1\)"):
        load_policy(v1)
    typo = _edit_json(rule, tmp_path / "typo.json", lambda d: d["config"].update(tires=[]))
    with pytest.raises(PolicyLoadError, match=r"typo\.json: its config does not rebuild a 'rule_based' policy"):
        load_policy(typo)
    unknown = _edit_json(rule, tmp_path / "unknown.json", lambda d: d.update(name="greedy"))
    with pytest.raises(PolicyLoadError, match=r"unknown\.json: names unknown policy 'greedy'"):
        load_policy(unknown)


def test_edited_supervised_checkpoints(supervised_json, tmp_path) -> None:
    def swap_features(d) -> None:
        f = d["fingerprint"]["features"]
        f[0], f[1] = f[1], f[0]

    swapped = _edit_json(supervised_json, tmp_path / "swapped.json", swap_features)
    with pytest.raises(PolicyLoadError, match=r"swapped\.json: its fingerprint does not match .*features: fingerprint"):
        load_policy(swapped)

    def drop_category(d) -> None:  # the scenario in its config loses a category: 18 features, weights for 19
        catalogue = d["config"]["scenario"]["catalogue"]
        catalogue["grocery"]["share"] += catalogue.pop("beauty")["share"]  # shares still sum to 1

    dropped = _edit_json(supervised_json, tmp_path / "dropped.json", drop_category)
    with pytest.raises(PolicyLoadError, match=r"dropped\.json: its learned state does not fit .*18 features"):
        load_policy(dropped)
    scalers = _edit_json(supervised_json, tmp_path / "scalers.json", lambda d: d["state"]["scalers"].pop("x_std"))
    with pytest.raises(PolicyLoadError, match=r"scalers\.json: .*state\.scalers: expected keys"):
        load_policy(scalers)


def test_round_trip_keeps_fingerprint_and_predictions(ppo_zip, supervised_json) -> None:
    model = load_policy(ppo_zip)
    again = load_policy(save_policy(model, ppo_zip.with_name("again.zip")))  # no env: the loaded fingerprint
    obs = np.random.default_rng(0).uniform(0, 1, (16, 19)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], again.predict(obs, deterministic=True)[0])
    policy = load_policy(supervised_json)
    np.testing.assert_array_equal(policy.discounts(obs), load_policy(supervised_json).discounts(obs))
    assert json.loads(supervised_json.read_text())["fingerprint"] == policy.fingerprint().to_dict()
