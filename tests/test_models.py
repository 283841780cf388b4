"""Every family trains through train(cfg) on CPU, its players move the way they should,
its declared capabilities work (and only those), checkpoints round-trip, seeds fix results."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from models import DECODE, ENCODE, FAMILIES, RECONSTRUCT, SAMPLE, losses
from pipeline.evaluation import metrics
from pipeline.evaluation.samplers import SAMPLERS
from pipeline.trial.train import build_model, load_checkpoint, train
from tests.conftest import trial

FAMILY_DATA = {"ae": "ica", "pm": "ica", "gan": "ring8", "aae": "ica"}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_trains_through_train(name, datasets):
    ds = datasets["digits"]
    result = train(trial(name, ds, steps=20), ds)
    assert result.outcome == "completed"
    assert result.steps == 20
    assert result.metrics["model/parameters"] > 0
    assert result.curves and all(len(points) == 2 for points in result.curves.values())
    # a capability the family lacks is "not applicable" (None), never a number
    caps = FAMILIES[name].capabilities
    assert (result.metrics["eval/recon_mse"] is None) == (RECONSTRUCT not in caps)
    assert (result.metrics["eval/total_correlation"] is None) == (ENCODE not in caps)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_capabilities_and_shapes(name, datasets):
    ds = datasets["digits"]
    cfg = trial(name, ds)
    model = build_model(cfg, ds, torch.device("cpu"))
    x = torch.from_numpy(ds.x["train"][:16])
    caps = model.capabilities
    if ENCODE in caps:
        assert model.encode(x).shape == (16, cfg.code_dim)
    else:
        with pytest.raises(NotImplementedError):
            model.encode(x)
    if DECODE in caps:
        assert model.decode(torch.randn(16, cfg.code_dim)).shape == (16, 1, 8, 8)
    if RECONSTRUCT in caps:
        assert model.reconstruct(x).shape == x.shape
    if SAMPLE in caps:
        assert model.samplers == ("prior",)
    else:
        with pytest.raises(NotImplementedError):
            model.sample(16)
    for sampler in model.samplers:  # every declared way to generate works
        out = SAMPLERS[sampler](model, 16, torch.Generator().manual_seed(0), x)
        assert out.shape == (16, 1, 8, 8)
        assert float(out.min()) >= 0 and float(out.max()) <= 1  # images stay in [0, 1]


@pytest.mark.parametrize("name", ["ae", "pm", "aae"])
def test_autoencoders_learn_to_reconstruct(name, datasets):
    ds = datasets["ica"]
    result = train(trial(name, ds, steps=400, log_every=20), ds)
    recon = [v for _, v in result.curves["loss/recon"]]
    assert recon[-1] < 0.5 * recon[0]


def test_pm_predictors_learn_and_encoder_defeats_them(datasets):
    """The two players of PM: with the encoder fixed, the predictors' loss falls; in the
    full game the code becomes less predictable than an autoencoder's on mixed sources."""
    ds = datasets["ica"]
    model = build_model(trial("pm", ds), ds, torch.device("cpu"))
    x = torch.from_numpy(ds.x["train"][:512])
    code = model.encode(x).detach()
    before = losses.predictability(code, model.predictors(code)).item()
    for _ in range(200):
        loss = losses.predictability(code, model.predictors(code))
        model.optimizers["predictors"].zero_grad()
        loss.backward()
        model.optimizers["predictors"].step()
    assert loss.item() < 0.5 * before

    pm = train(trial("pm", ds, steps=600, lam=1.0), ds)
    ae = train(trial("ae", ds, steps=600), ds)
    assert pm.metrics["eval/total_correlation"] < ae.metrics["eval/total_correlation"]


def test_pm_without_reconstruction_trains_exactly_as_its_general_objective_at_weight_zero(datasets):
    """The 1992 objective (recon_weight 0) skips the decoder's graph; the encoder and predictors
    it trains must be the very ones the general loss, 0 * recon - lam * unpredictability, trains,
    and the decoder must stay as it was built (it is not a player of that game)."""
    ds = datasets["ica"]
    cfg = trial("pm", ds, recon_weight=0.0, predictor_steps=2)
    x = torch.from_numpy(ds.x["train"][:64])

    def general_step(model):  # PM.train_step with the decoder's graph built, whatever its weight
        code = model.encoder(x)
        fixed = code.detach()
        for _ in range(model.hp.predictor_steps):
            model.update("predictors", losses.predictability(fixed, model.predictors(fixed)))
        recon = losses.reconstruction(model.decoder(code), x)
        loss = model.hp.recon_weight * recon - model.hp.lam * losses.predictability(code, model.predictors(code))
        model.update("autoencoder", loss)
        return recon.detach(), loss.detach()

    torch.manual_seed(0)
    fast = build_model(cfg, ds, torch.device("cpu"))
    torch.manual_seed(0)
    general = build_model(cfg, ds, torch.device("cpu"))
    built = {k: v.clone() for k, v in fast.state_dict().items()}
    for _ in range(30):
        logged = fast.train_step(x)
        recon, loss = general_step(general)
        assert torch.equal(logged["loss/recon"], recon) and torch.equal(logged["loss/encoder"], loss)
    for name, weights in general.state_dict().items():
        assert torch.equal(fast.state_dict()[name], weights), name
    moved = {name.split(".")[0] for name, weights in fast.state_dict().items() if not torch.equal(built[name], weights)}
    assert moved == {"encoder", "predictors"}


def test_the_zoo_s_adam_steps_bit_for_bit_as_pytorch_s_fused_adam_and_shares_its_checkpoints():
    """models/optim.Adam skips torch.optim.Adam's bookkeeping, not its arithmetic: the same weights
    and optimiser state after steps where part of the net gets no gradient (a player outside the
    loss), and a checkpoint of one goes on in the other exactly as in itself."""
    from models.optim import Adam

    def net():
        torch.manual_seed(0)
        return torch.nn.ModuleDict({"used": torch.nn.Linear(5, 4), "idle": torch.nn.Linear(4, 3)})

    def train(model, optimizer, steps, start=0):
        for step in range(start, start + steps):
            x = torch.randn(16, 5, generator=torch.Generator().manual_seed(step))
            h = model["used"](x)
            loss = (model["idle"](h) if step % 3 == 0 else h).pow(2).mean()  # "idle" gets a gradient one step in 3
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    ours, theirs = net(), net()
    ours_opt = Adam(ours.parameters(), lr=1e-2, betas=(0.5, 0.999))
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=True)
    train(ours, ours_opt, 10, start=1)  # "idle" first gets a gradient at step 3: state made late, as PyTorch makes it
    train(theirs, theirs_opt, 10, start=1)
    for name, weights in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], weights), name
    ours_state, theirs_state = ours_opt.state_dict()["state"], theirs_opt.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys()
    for i, b in theirs_state.items():
        a = ours_state[i]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)

    def resumed(model, optimizer, kind):
        """A copy of `model` and `optimizer` as a checkpoint restores them, into an optimiser of `kind`
        (copied as a file would be: a state dict shares its tensors with the optimiser it came from)."""
        copy_ = net()
        copy_.load_state_dict(model.state_dict())
        other = kind(copy_.parameters(), lr=1e-2, betas=(0.5, 0.999))
        other.load_state_dict(copy.deepcopy(optimizer.state_dict()))
        return copy_, other

    pytorch_s = lambda params, **kw: torch.optim.Adam(params, fused=True, **kw)  # noqa: E731
    theirs_in_ours = resumed(theirs, theirs_opt, Adam)
    ours_in_theirs = resumed(ours, ours_opt, pytorch_s)
    for model, optimizer in (theirs_in_ours, ours_in_theirs, (theirs, theirs_opt)):
        train(model, optimizer, 5, start=11)
    for name, weights in theirs.state_dict().items():
        assert torch.equal(theirs_in_ours[0].state_dict()[name], weights), name
        assert torch.equal(ours_in_theirs[0].state_dict()[name], weights), name


def test_the_zoo_s_adam_leaves_what_its_short_step_does_not_cover_to_pytorch():
    """A closure, or a second parameter group, takes PyTorch's own step: the same result as
    torch.optim.Adam(fused=True), and the closure's loss returned as PyTorch returns it."""
    from models.optim import Adam

    def pair():
        torch.manual_seed(0)
        return torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)

    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    results = []
    for kind in (lambda p: Adam(p, lr=1e-2, betas=(0.5, 0.999)),
                 lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.999), fused=True)):
        first, second = pair()
        optimizer = kind(first.parameters())
        optimizer.add_param_group({"params": second.parameters(), "lr": 1e-3})  # two groups

        def closure():
            optimizer.zero_grad(set_to_none=True)
            loss = (first(x) + second(x)).pow(2).mean()
            loss.backward()
            return loss

        losses = [optimizer.step(closure) for _ in range(4)]
        results.append((losses, first.weight.detach().clone(), second.weight.detach().clone()))
    (ours_losses, *ours), (theirs_losses, *theirs) = results
    assert all(torch.equal(a, b) for a, b in zip(ours_losses, theirs_losses, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert not torch.equal(ours[0], pair()[0].weight)  # it trained


def quick(cfg, dataset: str, steps: int | None = None):
    """A test trial at the quick profile's nets and budget (what `make repro` trains); with
    `steps`, that budget cut to `steps` training steps."""
    from tests.conftest import params

    budget = params().profile.budget(dataset)
    if steps is not None:
        budget = budget.model_copy(update={"steps": steps})
    return cfg.model_copy(update={"nets": params().profile.nets, "train": budget})


def test_pm_with_its_defaults_keeps_live_units_and_reconstructs_digits_within_twice_the_ae(datasets):
    ds = datasets["digits"]
    pm = train(quick(trial("pm", ds), "digits"), ds)
    ae = train(quick(trial("ae", ds), "digits"), ds)
    assert pm.metrics["eval/dead_units"] == 0
    assert pm.metrics["eval/recon_mse"] < 2 * ae.metrics["eval/recon_mse"]


def test_the_dead_unit_count_catches_pms_collapse_under_the_old_settings(datasets):
    """lambda 1 with predictors that lag (1 step, the encoder's learning rate): every unit
    saturates to a constant and the decoder outputs the mean image (issue 7, finding 1). Within
    2,000 of the quick profile's 8,000 steps on digits: seeds 0-2 all collapse there (8 dead units,
    the mean image's error within 0.4%)."""
    ds = datasets["digits"]
    collapsed = train(quick(trial("pm", ds, lam=1.0, predictor_steps=1, predictor_lr_mult=1.0), "digits", steps=2000), ds)
    mean_image_error = float(((ds.x["test"] - ds.x["train"].mean(0)) ** 2).reshape(len(ds.x["test"]), -1).sum(1).mean())
    assert collapsed.metrics["eval/dead_units"] == 8
    assert collapsed.metrics["eval/recon_mse"] == pytest.approx(mean_image_error, rel=0.05)


def test_gan_players_move_toward_their_goals(datasets):
    """D learns to tell data from samples (its loss drops below log 4, the value at
    D = 1/2); G moves its samples onto the data's modes."""
    ds = datasets["ring8"]
    cfg = trial("gan", ds, steps=1, lr=1e-3)
    model = build_model(cfg, ds, torch.device("cpu"))
    x = torch.from_numpy(ds.x["train"])
    centres = np.array(ds.meta["centres"])

    def distance_to_modes():
        s = model.sample(1000, torch.Generator().manual_seed(1)).numpy()
        return np.linalg.norm(s[:, None] - centres[None], axis=2).min(1).mean()

    start = distance_to_modes()
    gen = torch.Generator().manual_seed(0)
    d_losses = []
    for _ in range(600):
        out = model.train_step(x[torch.randint(0, len(x), (128,), generator=gen)])
        d_losses.append(out["loss/disc"].item())
    assert min(d_losses) < math.log(4)
    assert distance_to_modes() < 0.5 * start


def test_aae_pulls_codes_to_the_prior(datasets):
    ds = datasets["ica"]
    untrained = build_model(trial("aae", ds), ds, torch.device("cpu"))
    x = torch.from_numpy(ds.x["test"])
    prior = torch.randn(len(x), 4, generator=torch.Generator().manual_seed(0))
    before = metrics.energy_distance(untrained.encode(x).detach(), prior)
    result = train(trial("aae", ds, steps=800), ds)
    assert result.metrics["eval/mmd_prior"] < 0.5 * before


@pytest.mark.parametrize("cost", sorted(losses.GENERATOR_COSTS))
def test_every_generator_cost_trains(cost, datasets):
    """Each cost runs through train() with the sign its formula gives (minimax and ml costs are
    never positive, the non-saturating one never negative), and a generator step on it, with D
    held still, lowers that cost on the same noise: the generator descends the cost it is named by."""
    ds = datasets["ring8"]
    result = train(trial("gan", ds, steps=30, log_every=5, gen_cost=cost), ds)
    assert result.outcome == "completed"
    logged = [v for _, v in result.curves["loss/gen"]]
    assert len(logged) == 6 and all(math.isfinite(v) for v in logged)
    sign = {"minimax": -1, "ml": -1, "nonsaturating": 1}.get(cost)
    if sign is not None:
        assert all(sign * v >= 0 for v in logged), logged

    cfg = trial("gan", ds, gen_cost=cost)
    model = build_model(cfg, ds, torch.device("cpu"))
    z = torch.randn(256, cfg.code_dim, generator=torch.Generator().manual_seed(0))
    before = model.gen_cost(model.discriminator(model.generator(z)))
    d_weights = [p.detach().clone() for p in model.discriminator.parameters()]
    model.update("generator", before)
    after = model.gen_cost(model.discriminator(model.generator(z)))
    assert all(torch.equal(a, b) for a, b in zip(d_weights, model.discriminator.parameters()))
    assert after.item() < before.item()


@pytest.mark.parametrize("prior", ["gaussian", "uniform", "correlated", "mixture"])
def test_priors_have_unit_variance(prior):
    from models.priors import PRIORS

    z = PRIORS[prior](200_000, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.allclose(z.var(0), torch.ones(4), atol=0.05)
    tc = metrics.total_correlation_gaussian(z.numpy())
    if prior == "correlated":  # one shared factor: TC of an equicorrelated Gaussian, rho = 0.8
        rho, d = 0.8, 4
        assert tc == pytest.approx(-0.5 * math.log((1 - rho) ** (d - 1) * (1 + (d - 1) * rho)), rel=0.02)
    elif prior in ("gaussian", "uniform"):
        assert tc < 0.01


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_seed_fixes_the_result(name, datasets):
    ds = datasets["ring8"] if name == "gan" else datasets["ica"]
    a = train(trial(name, ds, steps=30, seed=3), ds)
    b = train(trial(name, ds, steps=30, seed=3), ds)
    c = train(trial(name, ds, steps=30, seed=4), ds)
    assert a.curves == b.curves
    assert a.curves != c.curves


class Keep:
    """train.Hooks that copies the checkpoints it is handed."""

    def __init__(self, folder):
        self.folder, self.saved = folder, []

    def log(self, step, values):
        pass

    def checkpoint(self, step, checkpoint):
        target = self.folder / f"step{step}.pt"
        target.write_bytes(checkpoint.read_bytes())
        self.saved.append(target)

    def finish(self, result, checkpoint):
        self.checkpoint(result.steps, checkpoint)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_checkpoint_round_trip_and_resume(name, datasets, tmp_path):
    ds = datasets["ring8"] if name == "gan" else datasets["ica"]
    cfg = trial(name, ds, steps=40, log_every=10)
    cfg = type(cfg).from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "checkpoint_every": 20}})
    hooks = Keep(tmp_path)
    straight = train(cfg, ds, hooks=hooks)
    assert [p.name for p in hooks.saved] == ["step20.pt", "step40.pt"]

    # the final checkpoint alone rebuilds the model (its config travels inside)
    model, ckpt = load_checkpoint(hooks.saved[-1], ds)
    assert ckpt["config"] == cfg.to_dict()
    ref = build_model(cfg, ds, torch.device("cpu"))
    ref.load_checkpoint_state(torch.load(hooks.saved[-1], weights_only=False)["state"])
    model.eval(), ref.eval()
    if DECODE in model.capabilities:
        probe = torch.randn(8, cfg.code_dim, generator=torch.Generator().manual_seed(0))
        assert torch.equal(model.decode(probe), ref.decode(probe))
    else:  # infogan: its generator's input is structured
        draw = lambda m: m.sample(8, torch.Generator().manual_seed(0))  # noqa: E731
        assert torch.equal(draw(model), draw(ref))

    # resuming from step 20 reproduces the uninterrupted run exactly
    resumed = train(cfg, ds, resume_from=hooks.saved[0])
    assert resumed.curves == straight.curves


def test_nan_loss_ends_the_trial_as_diverged(datasets):
    ds = datasets["ica"]
    broken = type(ds)(ds.name, {s: np.full_like(v, np.nan) for s, v in ds.x.items()}, meta=ds.meta)
    result = train(trial("ae", ds, steps=50, log_every=10), broken)
    assert result.outcome == "diverged"
    assert result.steps == 10
    assert result.metrics["diverged_at_step"] == 10
    assert result.metrics["eval/recon_mse"] is None


def test_unitwise_mlp_matches_separate_mlps():
    """The batched per-unit nets equal a loop of independent MLPs."""
    from models.nets import UnitwiseMLP

    net = UnitwiseMLP(units=3, in_features=5, hidden=4)
    x = torch.randn(7, 3, 5)
    out = net(x)
    for u in range(3):
        h = torch.nn.functional.leaky_relu(x[:, u] @ net.w1[u] + net.b1[u], 0.2)
        assert torch.allclose(out[:, u], h @ net.w2[u] + net.b2[u], atol=1e-6)


def test_gmmn_ae_trains_its_autoencoder_first_then_the_gmmn_on_the_frozen_codes(datasets):
    ds = datasets["digits"]
    cfg = trial("gmmn_ae", ds, steps=8, ae_share=0.25)
    model = build_model(cfg, ds, torch.device("cpu"))
    model.plan(cfg.train.steps)  # 2 autoencoder steps, then 6 of the GMMN
    x = torch.as_tensor(ds.x["train"][:32])

    def moved(before):
        return {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}

    for step in range(1, 9):
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        model.train_step(x)
        players = {name.split(".")[0] for name in moved(before)}
        assert players == ({"encoder", "decoder"} if step <= 2 else {"generator"}), step
    samples = model.sample(5, torch.Generator().manual_seed(0))
    assert samples.shape == (5, 1, 8, 8)  # decoder(G(noise))


@pytest.mark.parametrize("name", ["ae", "bigan", "vae"])
def test_the_penultimate_features_are_the_encoder_s_last_hidden_layer(name, datasets):
    ds = datasets["digits"]
    cfg = trial(name, ds)
    model = build_model(cfg, ds, torch.device("cpu")).eval()
    x = torch.as_tensor(ds.x["test"][:16])
    features = model.encoder_features(x)
    assert features.shape == (16, cfg.nets.hidden)
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert torch.allclose(last(features), model.encoder[0](x) if name == "bigan" else model.encoder(x)[:, :last.out_features])


def test_penultimate_knn_is_reported_for_every_encoder_on_labelled_images(datasets):
    ds = datasets["digits"]
    result = train(trial("ae", ds, steps=200, log_every=100), ds)
    assert 0.5 < result.metrics["eval/penultimate_knn"] <= 1.0  # 10 classes: chance is 0.1
    gan = train(trial("gan", ds, steps=10), ds)
    assert "eval/penultimate_knn" not in gan.metrics or gan.metrics["eval/penultimate_knn"] is None
