"""The three stages on CPU: a tiny end-to-end run, exact resumption after a kill, and torchrun with 2 processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import cti_ir
import cti_ir.evaluate.cli as ev_cli
import cti_ir.evaluate.evaluator as ev
from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.text_vocabulary import read_text_vocabulary, text_words
from training import stage1, stage2, stage3

REPO = Path(__file__).resolve().parent.parent
COMMON = ["--no-progress", "--threads", "2"]
TINY = ["--model", "cti-tiny"]  # a run without --init (with --init, --model is refused: the checkpoint decides)


@pytest.fixture(scope="module")
def pipeline(synth_small, tmp_path_factory):
    """stage 1 -> stage 2 -> stage 3, one short epoch each, on the generated catalogue."""
    runs = tmp_path_factory.mktemp("runs")
    assert stage1.main(["--data", str(synth_small / "open_domain"), "--out", str(runs / "s1"), "--epochs", "1",
                        "--batch-size", "32", *TINY, *COMMON]) == 0
    assert stage2.main(["--corpus", str(synth_small / "fashioniq" / "product_descriptions.jsonl"),
                        "--corpus", str(synth_small / "shoes" / "product_descriptions.jsonl"),
                        "--init", str(runs / "s1" / "best"), "--out", str(runs / "s2"), "--epochs", "1",
                        "--batch-size", "32", "--attribute-min-count", "2", *COMMON]) == 0
    assert stage3.main(["--data", f"fashioniq={synth_small / 'fashioniq'}", "--data", f"shoes={synth_small / 'shoes'}",
                        "--init", str(runs / "s2" / "best"), "--out", str(runs / "s3"), "--epochs", "1",
                        "--batch-size", "32", *COMMON]) == 0
    return runs


def log_lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_each_stage_writes_its_checkpoints_and_log(pipeline):
    for stage in ("s1", "s2", "s3"):
        run = pipeline / stage
        for name in ("best", "last"):
            assert (run / name / "cti_config.json").is_file()
            assert json.loads((run / name / "training_args.json").read_text())["out"] == str(run)
        steps = [r for r in log_lines(run) if "loss" in r]
        assert steps and all(r["loss"] == r["loss"] for r in steps)  # no NaN
        evals = [r for r in log_lines(run) if "eval" in r]
        assert len(evals) == 1 and "score" in evals[0]["eval"]


def test_each_stage_records_the_words_it_trained_on_and_keeps_the_earlier_ones(pipeline, synth_small):
    # stage 1 from random weights: the open-domain captions; stage 2 adds the product descriptions, stage 3 the
    # triplets' captions (cti_ir.model.text_vocabulary; the request reader sets aside words outside it)
    words = [set(read_text_vocabulary(pipeline / stage / "best")) for stage in ("s1", "s2", "s3")]
    assert words[0] and words[0] < words[1] < words[2]
    captions = json.loads((synth_small / "fashioniq" / "captions" / "cap.dress.train.json").read_text())
    assert set(text_words(captions[0]["captions"][0])) <= words[2]
    assert not load_checkpoint(pipeline / "s3" / "best").learned_word("kinda")


def test_stage2_mines_attribute_words_from_descriptions(pipeline, synth_small):
    vocab = json.loads((pipeline / "s2" / "best" / "attribute_vocabulary.json").read_text())
    words = set()
    for corpus in ("fashioniq", "shoes"):
        for line in (synth_small / corpus / "product_descriptions.jsonl").read_text().splitlines():
            words |= set(json.loads(line)["text"].lower().replace(",", " ").split())
    assert len(vocab) > 10
    # Terms are unigrams and bigrams of the descriptions' content words, nothing else.
    assert all(w in words for term in vocab for w in term.split())
    assert len(set(vocab)) == len(vocab)
    assert "attribute_loss" in log_lines(pipeline / "s2")[0]
    assert cti_ir.model.checkpoint.load_aux_state(pipeline / "s2" / "best")["attributes.weight"].shape[0] == len(vocab)


def test_stage3_learns_weights_with_the_self_supervised_target(pipeline, synth_small):
    """Stage 3 trains and saves the adaptive composer, and its target loss is what teaches the weights: on one
    fixed batch of training triplets, through stage 3's own module with the encoders frozen (so the target stays
    put), the per-query weights come to follow the self-supervised target; without the target loss they do not."""
    from PIL import Image

    from cti_ir.data import open_benchmark
    from cti_ir.model.checkpoint import load_checkpoint
    from cti_ir.model.losses import local_gather, modality_weight_target

    first = log_lines(pipeline / "s3")[0]
    assert {"retrieval_loss", "weight_loss", "image_weight", "target_image_weight"} <= set(first)
    metrics = json.loads((pipeline / "s3" / "best" / "metrics.json").read_text())
    assert set(metrics["details"]) == {"fashioniq", "shoes"}
    trained = cti_ir.load(pipeline / "s3" / "best")
    torch.manual_seed(0)  # how `training.stage3 --init` (default --seed 0) made the composer it started from
    model = load_checkpoint(pipeline / "s2" / "best", new_composer=("adaptive", {}))
    start = {k: v.clone() for k, v in model.composer.state_dict().items()}
    assert trained.composer_name == "adaptive" and set(trained.composer.state_dict()) == set(start)
    moved = max((v - start[k]).abs().max().item() for k, v in trained.composer.state_dict().items())
    assert 0 < moved < 0.05  # the saved composer is the one it started from, after a few small steps

    shoes = open_benchmark("shoes", synth_small / "shoes")
    triplets = shoes.triplets("train")[:16]

    def pixels(image_id: str) -> torch.Tensor:
        with Image.open(shoes.image_path(image_id)) as img:
            return model.preprocess(img.convert("RGB"))

    batch = {"reference": torch.stack([pixels(t.reference) for t in triplets]),
             "target": torch.stack([pixels(t.target) for t in triplets]),
             "tokens": model.tokenize([t.captions[0] for t in triplets])}
    model.backbone.requires_grad_(False)

    def weights_and_target() -> tuple[torch.Tensor, torch.Tensor]:
        model.eval()
        with torch.no_grad():
            ref, tgt = model.encode_images(batch["reference"]), model.encode_images(batch["target"])
            txt = model.encode_tokens(batch["tokens"])
            return model.compose(ref, txt).image_weight, modality_weight_target(ref, txt, tgt, model.logit_scale)[:, 0]

    def train(weight_loss: float) -> tuple[torch.Tensor, torch.Tensor]:
        model.composer.load_state_dict(start)
        torch.manual_seed(1)
        module = stage3.HybridQueryModule(model, weight_loss=weight_loss, weight_temperature=1.0)
        optimizer = torch.optim.Adam(model.composer.parameters(), lr=1e-2)
        model.train()
        for _ in range(20):
            loss, logs = module(batch, local_gather)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert ("weight_loss" in logs) == (weight_loss > 0)
        return weights_and_target()

    w0, target = weights_and_target()
    w, target_after = train(1.0)
    assert torch.equal(target, target_after)  # frozen encoders: the same target before and after
    ablation, _ = train(0.0)

    def error(weights: torch.Tensor) -> float:
        return (weights - target).abs().mean().item()

    def correlation(weights: torch.Tensor) -> float:
        return torch.corrcoef(torch.stack([weights, target]))[0, 1].item()

    assert error(w) < 0.6 * error(w0) and correlation(w) > 0.8 > correlation(w0)
    assert error(ablation) > 2 * error(w)
    assert w.std() > 5 * w0.std()  # one weight per query, not one for all


def test_evaluator_reproduces_the_training_metrics(pipeline, synth_small):
    model = cti_ir.load(pipeline / "s3" / "best")
    result = ev.evaluate(model, "shoes", synth_small / "shoes", progress=False)
    metrics = json.loads((pipeline / "s3" / "best" / "metrics.json").read_text())
    assert result["score"] == pytest.approx(metrics["details"]["shoes"]["score"])


def test_every_flag_is_explained_and_the_defaults_it_states_are_the_real_ones():
    import argparse

    import cti_ir.index.cli as index
    from tests.cli_help import help_problems

    for parser in (stage1.build_parser(), stage2.build_parser(), stage3.build_parser(), ev_cli.build_parser(),
                   index.build_parser()):
        assert help_problems(parser) == []
    # The check itself: a help that only repeats the flag, and a default stated in words that the code no longer
    # uses, are both caught (what --help prints by itself, "(default: 64)", always matches).
    stale = argparse.ArgumentParser(prog="stale")
    stale.add_argument("--epochs", type=int, default=3, help="epochs")
    stale.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 2e-4)")
    stale.add_argument("--batch-size", type=int, default=64, help="examples per step (default: 64)")
    assert help_problems(stale) == ["stale --epochs: no help of its own ('epochs')",
                                    "stale --lr: --help says 'default 2e-4', the parser uses 0.0001"]


def test_bad_init_is_a_clear_error(synth_small, tmp_path, capsys):
    code = stage3.main(["--data", f"shoes={synth_small / 'shoes'}", "--init", str(tmp_path / "nope"), "--out",
                        str(tmp_path / "run"), *COMMON])
    assert code == 2 and "checkpoint folder not found" in capsys.readouterr().err


def stage1_cmd(synth_small, out, epochs=2, workers=1):
    return [sys.executable, "-m", "training.stage1", "--data", str(synth_small / "open_domain"), "--out", str(out),
            "--epochs", str(epochs), "--batch-size", "32", "--save-every", "1", "--workers", str(workers), *TINY,
            *COMMON]


def weights(run):
    return load_file(str(run / "last" / "open_clip_model.safetensors"))


def test_crashed_run_resumes_to_the_same_weights(synth_small, tmp_path, monkeypatch):
    """In-process and fast; the same with a real SIGKILL of a separate process is the slow test below."""
    from training.loop import Trainer

    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    flags = stage1_cmd(synth_small, straight, epochs=1, workers=0)[3:]  # 9 steps
    assert stage1.main(flags) == 0
    real_log = Trainer.log

    def crash_at_step_5(self, record):  # after the state of step 4 was saved (--save-every 2): step 5 is lost
        real_log(self, record)
        if record.get("step") == 5:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(Trainer, "log", crash_at_step_5)
    crashed_flags = [crashed.as_posix() if f == straight.as_posix() else f for f in flags]
    crashed_flags[crashed_flags.index("--save-every") + 1] = "2"
    with pytest.raises(RuntimeError, match="simulated crash"):
        stage1.main(crashed_flags)
    assert torch.load(crashed / "train_state.pt", weights_only=True)["step"] == 4
    monkeypatch.setattr(Trainer, "log", real_log)
    assert stage1.main(crashed_flags + ["--resume"]) == 0
    a, b = weights(straight), weights(crashed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "examples_per_s"} for r in rows]  # noqa: E731
    assert strip(log_lines(straight)) == strip(log_lines(crashed))  # step 5 logged once, nothing lost


@pytest.mark.slow  # three interpreters and a real SIGKILL; the in-process crash above is the fast check
def test_killed_run_resumes_to_the_same_weights(synth_small, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    straight = tmp_path / "straight"
    # The uninterrupted reference runs in this process (a third interpreter start would only cost time); the
    # killed run and its resumption run as separate processes, as a user's would.
    assert stage1.main(stage1_cmd(synth_small, straight)[3:]) == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen(stage1_cmd(synth_small, killed), cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    state = killed / "train_state.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and torch.load(state, weights_only=True)["step"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = torch.load(state, weights_only=True)["step"]
    total = len([r for r in log_lines(straight) if "loss" in r])  # training steps (eval lines left out)
    assert 3 <= stopped_at < total, "the run must be killed part-way"
    assert not (killed / "last").exists()

    subprocess.run(stage1_cmd(synth_small, killed) + ["--resume"], check=True, cwd=REPO, env=env,
                   capture_output=True)
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "examples_per_s"} for r in rows]  # noqa: E731
    assert strip(log_lines(straight)) == strip(log_lines(killed))  # nothing lost, nothing logged twice


@pytest.mark.slow  # two torchrun processes (gloo): about 15 CPU-seconds; CI runs the slow tests too
def test_torchrun_two_processes_train_and_checkpoint(synth_small, pipeline, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.stage3", "--data", f"fashioniq={synth_small / 'fashioniq'}",
           "--init", str(pipeline / "s2" / "best"), "--out", str(out), "--epochs", "1", "--batch-size", "16",
           "--no-progress", "--threads", "1"]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["world_size"] == 2
    n_train = sum(len(json.loads((synth_small / "fashioniq" / "captions" / f"cap.{c}.train.json").read_text()))
                  for c in ("dress", "shirt", "toptee"))
    assert state["step"] == n_train // (16 * 2)  # each step consumed one global batch of 2 x 16
    trained, start = cti_ir.load(out / "last"), cti_ir.load(pipeline / "s2" / "best")
    assert any(not torch.equal(p, q) for p, q in zip(trained.backbone.parameters(), start.backbone.parameters()))
    assert (out / "best" / "metrics.json").is_file()


def test_a_step_budget_still_leaves_an_evaluated_checkpoint(synth_small, tmp_path):
    out = tmp_path / "budget"
    assert stage1.main(["--data", str(synth_small / "open_domain"), "--out", str(out), "--epochs", "3",
                        "--batch-size", "32", "--max-steps", "2", *TINY, *COMMON]) == 0
    assert [r["step"] for r in log_lines(out) if "loss" in r] == [1, 2]
    assert json.loads((out / "best" / "metrics.json").read_text())["step"] == 2


def test_stage_data_is_checked_before_the_model_is_built(tmp_path, capsys, caplog, monkeypatch):
    import training.common

    def no_model(*args, **kwargs):
        raise AssertionError("the model was built before the data was checked")

    monkeypatch.setattr(training.common, "starting_model", no_model)
    for main, data in ((stage3.main, ["--data", f"shoes={tmp_path / 'no_shoes'}"]),
                       (stage1.main, ["--data", str(tmp_path / "no_open_domain")]),
                       (stage2.main, ["--corpus", str(tmp_path / "none.jsonl")])):
        assert main([*data, "--out", str(tmp_path / "run"), *TINY, *COMMON]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err), err
    assert "no_shoes" in err[0] and "no_open_domain" in err[1] and "none.jsonl" in err[2]
    assert "No pretrained weights" not in caplog.text


def test_a_model_from_scratch_is_announced_in_our_words(capsys, caplog):
    import argparse

    from training.common import starting_model

    args = argparse.Namespace(seed=0, init=None, model="cti-tiny", pretrained=None)
    starting_model(args)
    assert capsys.readouterr().err == ("model: cti-tiny starts from random weights and is trained from scratch (no "
                                       "--init checkpoint and no --pretrained weights were given)\n")
    assert "No pretrained weights" not in caplog.text  # open_clip's warning is replaced, not repeated
    starting_model(args, announce=False)  # other torchrun ranks stay quiet
    assert capsys.readouterr().err == ""
