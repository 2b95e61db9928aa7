"""Query composers: one interface, normalised queries, inspectable weights."""

import pytest
import torch
import torch.nn.functional as F

from cti_ir.model.composers import COMPOSER_NAMES, build_composer


def features(n=6, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1), F.normalize(torch.randn(n, d, generator=g), dim=-1)


@pytest.mark.parametrize("name", COMPOSER_NAMES)
def test_every_composer_has_the_same_interface(name):
    img, txt = features()
    out = build_composer(name, 16).eval()(img, txt)
    assert out.query.shape == (6, 16)
    assert torch.allclose(out.query.norm(dim=-1), torch.ones(6), atol=1e-5)
    assert torch.allclose(out.image_weight + out.text_weight, torch.ones(6), atol=1e-5)
    assert ((out.image_weight >= 0) & (out.image_weight <= 1)).all()


def test_baselines_mean_what_they_say():
    img, txt = features()
    assert torch.allclose(build_composer("image", 16)(img, txt).query, img, atol=1e-6)
    assert torch.allclose(build_composer("text", 16)(img, txt).query, txt, atol=1e-6)
    assert torch.allclose(build_composer("sum", 16)(img, txt).query, F.normalize(img + txt, dim=-1), atol=1e-6)


def test_adaptive_weights_depend_on_the_query_and_can_be_overridden():
    torch.manual_seed(0)
    composer = build_composer("adaptive", 16).eval()
    img, txt = features(n=32)
    out = composer(img, txt)
    assert out.weight_logits.shape == (32, 2)
    assert out.image_weight.std() > 0  # per-query, not one global constant
    forced = composer(img, txt, (torch.ones(32), torch.zeros(32)))
    assert torch.allclose(forced.image_weight, torch.ones(32))
    # With the residual switched off, forcing w_img = 1 gives back the image.
    composer.residual_gate.data.zero_()
    assert torch.allclose(composer(img, txt, (torch.ones(32), torch.zeros(32))).query, img, atol=1e-5)


def test_unknown_composer_names_the_choices():
    with pytest.raises(ValueError, match="adaptive"):
        build_composer("concat", 16)


def test_a_residual_on_the_text_side_goes_with_the_text_weight():
    from cti_ir.model.composers import compose_weighted

    torch.manual_seed(0)
    composer = build_composer("adaptive", 16, residual="text").eval()
    img, txt = features(n=8)
    # All weight on the image: the query is the image, residual or not (a vague caption takes its change with it).
    only_image = composer(img, txt, (torch.ones(8), torch.zeros(8)))
    assert torch.allclose(only_image.query, img, atol=1e-5)
    out = composer(img, txt)
    rebuilt = F.normalize(compose_weighted(img, txt, out.residual, out.image_weight, out.text_weight, "text"), dim=-1)
    assert torch.allclose(out.query, rebuilt, atol=1e-5)
    # The first design keeps the residual outside the mix: all weight on the image still moves the query.
    free = build_composer("adaptive", 16).eval()
    assert not torch.allclose(free(img, txt, (torch.ones(8), torch.zeros(8))).query, img, atol=1e-3)
    with pytest.raises(ValueError, match="free, text"):
        build_composer("adaptive", 16, residual="image")


def test_without_a_residual_the_query_is_the_weighted_sum_of_its_predicted_weights():
    torch.manual_seed(0)
    composer = build_composer("adaptive", 16, residual="none").eval()
    assert not hasattr(composer, "residual_net")  # no parameters that would never train
    img, txt = features(n=8)
    out = composer(img, txt)
    expected = F.normalize(out.image_weight[:, None] * img + out.text_weight[:, None] * txt, dim=-1)
    assert torch.allclose(out.query, expected, atol=1e-5)
    assert out.image_weight.std() > 0  # still one balance per query


def test_balance_in_words():
    from cti_ir.model.composers import balance_in_words

    assert balance_in_words(0.9) == "almost only the image"
    assert balance_in_words(0.7) == "mostly the image"
    assert balance_in_words(0.6) == "the image a little more than the text"
    assert balance_in_words(0.5) == balance_in_words(0.45) == balance_in_words(0.55) == \
        "the image and the text about equally"
    assert balance_in_words(0.4) == "the text a little more than the image"
    assert balance_in_words(0.3) == "mostly the text"
    assert balance_in_words(0.1) == balance_in_words(0.0) == "almost only the text"


def test_the_page_says_which_modality_carried_each_query():
    from types import SimpleNamespace

    import cti_ir.serve.page as page

    composed = SimpleNamespace(mode="composed", image_weight=0.82, text_weight=0.18)
    assert page.SearchPage._weights_markdown(composed, False).endswith(
        "image **0.82** · text **0.18** — this query is carried by almost only the image")
    manual = SimpleNamespace(mode="composed", image_weight=0.3, text_weight=0.7)
    assert "set manually" in page.SearchPage._weights_markdown(manual, True)
    assert page.SearchPage._weights_markdown(manual, True).endswith("is weighted by mostly the text")


def test_the_demo_model_gives_a_vague_caption_to_the_image():
    """The shipped model, on generated photos: a caption that says nothing moves the weight towards the image, one
    that describes the target outright towards the text (what the page shows for each query)."""
    import random
    from pathlib import Path

    import cti_ir
    from data_prep.synth_attributes import sample_product
    from data_prep.synth_render import render_product

    demo = Path(__file__).resolve().parent.parent / "demo_model"
    if not (demo / "cti_config.json").is_file():
        pytest.skip("no demo model in this checkout")
    model = cti_ir.load(demo)
    rng = random.Random(0)
    products = [sample_product(c, rng) for c in ("dress", "shirt", "toptee", "shoes")]
    pixels = torch.stack([model.preprocess(render_product(p, i)) for i, p in enumerate(products)])
    with torch.no_grad():
        images = model.encode_images(pixels)

        def image_weight(text: str) -> torch.Tensor:
            return model.compose(images, model.encode_texts([text] * len(products))).image_weight

        vague = torch.stack([image_weight(t) for t in ("looks nicer", "is more stylish", "i like it better")])
        specific = torch.stack([image_weight(t) for t in ("is darker", "has shorter sleeves", "is red instead of blue")])
    assert (vague.mean(dim=0) > specific.mean(dim=0) + 0.1).all(), (vague, specific)
