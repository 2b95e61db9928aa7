"""Shopping sessions: facets in words, constraints carried over turns, the category default, the simulated shopper."""

from __future__ import annotations

import json
import random

import pytest
from PIL import Image

from cti_ir.index.category_intent import asked_category
from cti_ir.index.facets import read_description, read_request
from cti_ir.serve.engine import QueryError, SearchEngine
from cti_ir.serve.session import MAX_TURNS, Session, SessionTurn, merge_constraints, session_constraints
from tests.app_fixtures import make_tiny_catalogue

SHOE_CATEGORIES = ["athletic_shoes", "boots", "clogs", "dress", "flats", "high_heels", "pumps", "rain_boots",
                   "shirt", "sneakers", "stiletto", "toptee", "wedding_shoes"]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("session_catalogue"))


@pytest.fixture(scope="module")
def engine(catalogue):
    return SearchEngine(catalogue.checkpoint, catalogue.index)


def photo(engine, image_id: str) -> Image.Image:
    return Image.open(engine.item(image_id)["path"])


# ------------------------------------------------------------------------------------------------ facets
def test_descriptions_give_every_facet_they_name():
    facets = read_description("grey mini dress with a white graphic print, three quarter sleeves and a v-neck")
    assert facets == {"colour": "grey", "length": "mini", "pattern": "graphic", "accent_colour": "white",
                      "sleeves": "three_quarter", "neckline": "v_neck"}
    shoe = read_description("glossy orange ballet flats with white trim, flat, an ankle strap")
    assert shoe == {"finish": "shiny", "colour": "orange", "shoe_type": "flat", "accent_colour": "white",
                    "heel": "flat", "closure": "strap"}


def test_a_request_is_read_against_its_reference():
    white_dress = {"colour": "white", "sleeves": "short", "length": "knee"}
    swap = read_request("blue instead of white", white_dress)["colour"]
    assert swap.allowed == {"blue"} and "white" in swap.excluded
    # the reference's own value named beside a new one is the old one, whatever the frame around it
    assert read_request("going from white to black", white_dress)["colour"].allowed == {"black"}
    assert read_request("not white anymore", white_dress)["colour"].excluded == {"white"}
    assert read_request("with longer sleeves", white_dress)["sleeves"].allowed == {"three_quarter", "long"}
    assert read_request("make it shorter", white_dress)["length"].allowed == {"mini"}
    assert read_request("lose the sleeves", white_dress)["sleeves"].allowed == {"sleeveless"}
    assert read_request("with sleaveless cut and in blakc", {})["sleeves"].allowed == {"sleeveless"}
    assert read_request("has white stripes", {})["accent_colour"].allowed == {"white"}


def test_later_turns_override_earlier_ones_and_exclusions_add_up():
    first = read_request("make it red with long sleeves", {"colour": "black", "sleeves": "short"})
    second = read_request("make it blue", {"colour": "red", "sleeves": "long"})
    merged = merge_constraints(first, second)
    assert merged["colour"].allowed == {"blue"}, "the later colour wins"
    assert merged["sleeves"].allowed == {"long"}, "what was not overridden holds"
    ranges = merge_constraints(read_request("longer sleeves", {"sleeves": "sleeveless"}),
                               read_request("shorter sleeves", {"sleeves": "long"}))
    assert ranges["sleeves"].allowed == {"short", "three_quarter"}, "two ranges narrow each other"


# ------------------------------------------------------------------------------------------- category intent
@pytest.mark.parametrize("text, current, expected", [
    ("as a shirt", "dress", "shirt"), ("boots instead", "pumps", "boots"),
    ("sneakers instead of pumps", "pumps", "sneakers"), ("make them running shoes", "sneakers", "athletic_shoes"),
    ("not a shirt but a dress", "toptee", "dress"), ("as a top", "shirt", "toptee"),
    ("make them sneekers", "pumps", "sneakers"), ("with a shirt collar", "dress", None), ("make them flat", "pumps", None), ("with high heels", "boots", None),
    ("i want this dress in red", "dress", None), ("is red", "dress", None),
])
def test_the_category_a_request_asks_for(text, current, expected):
    assert asked_category(text, SHOE_CATEGORIES, current) == expected


def test_the_reference_category_is_kept_unless_the_text_asks_another(engine):
    kept = engine.search(image=photo(engine, "dress/red_dress"), text="in blue", k=4, category="auto",
                         exclude="dress/red_dress")
    assert kept.category == "dress" and all(h.categories == ["dress"] for h in kept.hits)
    assert any("reference's category" in n for n in kept.notes)
    switched = engine.search(image=photo(engine, "dress/red_dress"), text="as a shirt", k=4, category="auto",
                             exclude="dress/red_dress")
    assert switched.category == "shirt" and all(h.categories == ["shirt"] for h in switched.hits)
    assert any("the words ask for it" in n for n in switched.notes)
    everything = engine.search(image=photo(engine, "dress/red_dress"), text="in blue", k=11, category="all")
    assert everything.category is None and {c for h in everything.hits for c in h.categories} == {
        "dress", "shirt", "shoes"}


def test_an_uploaded_photo_gets_the_category_of_its_closest_product(engine):
    result = engine.search(image=photo(engine, "shoes/green_shoes"), text="in red", k=3, category="auto")
    assert result.category == "shoes" and all(h.categories == ["shoes"] for h in result.hits)


# ---------------------------------------------------------------------------------------------- sessions
def test_a_session_carries_earlier_requests_and_a_new_one_starts_clean(engine):
    turn = SessionTurn(text="make it green", reference="dress/red_dress",
                       shown=("dress/blue_dress", "dress/green_dress"), picked="dress/green_dress")
    query = dict(image=photo(engine, "shirt/black_shirt"), text="", k=3, category="all", exclude="shirt/black_shirt")
    carried = engine.search(**query, session=Session((turn,)))
    assert carried.carried == ["colour: green"], "the first turn's 'green' holds at the second"
    assert {h.image_id for h in carried.hits[:2]} == {"shirt/green_shirt", "shoes/green_shoes"}
    fresh = engine.search(**query, session=Session())
    plain = engine.search(**query)
    assert fresh.carried == [] and [h.image_id for h in fresh.hits] == [h.image_id for h in plain.hits]


def test_products_shown_and_passed_over_step_back(engine):
    shown = ("dress/blue_dress", "dress/green_dress")
    history = Session((SessionTurn("", None, shown, "dress/black_dress"),))
    result = engine.search(image=photo(engine, "dress/black_dress"), text="", k=3, category="dress",
                           exclude="dress/black_dress", session=history)
    assert result.hits[0].image_id == "dress/red_dress", "the one dress not yet shown comes first"
    assert {h.image_id for h in result.hits[1:]} == set(shown)


@pytest.mark.parametrize("history, fragment", [
    ("turn 1", "must be a list of turns"),
    ([{"text": "red"}] * (MAX_TURNS + 1), f"at most {MAX_TURNS}"),
    ([{"text": 3}], "text of turn 1 of the history must be a string"),
    ([{"shown": "dress/red_dress"}], "must be a list of product ids"),
    ([{"picked": "no/such_product"}], "'no/such_product', which is not in the catalogue"),
    ([{"text": "red", "colour": "red"}], "unknown field 'colour'"),
    (["red"], "must be an object"),
])
def test_a_bad_history_is_refused_in_our_words(engine, history, fragment):
    with pytest.raises(QueryError) as refused:
        engine.prepare(text="in red", session=history)
    assert refused.value.parameter == "history" and fragment in str(refused.value)


def test_session_constraints_read_each_turn_against_its_own_reference():
    facets = {"a": {"sleeves": "short"}, "b": {"sleeves": "long"}}
    session = Session((SessionTurn("longer sleeves", "a"),))
    merged = session_constraints(session, "", facets["b"], lambda image_id: facets[image_id])
    assert merged["sleeves"].allowed == {"three_quarter", "long"}


# ------------------------------------------------------------------------------------- the simulated shopper
def test_the_simulated_shopper_on_a_small_catalogue(synth_small):
    from data_prep.shopper import agreement, draw_sessions, load_products, run_sessions, summarise, wrong_attributes

    products = load_products(synth_small / "fashioniq", synth_small / "shoes")
    sessions = draw_sessions(products, per_category=5, rng=random.Random(0))
    by_category = {}
    for image_id, attributes in products.items():
        by_category.setdefault(attributes["category"], []).append(image_id)
    said: list[tuple[str, int]] = []

    def oracle(active, texts):  # the products closest to the target, the target itself last of ten
        said.extend((t, wrong_attributes(products[s.reference], products[s.target])) for s, t in zip(active, texts))
        out = []
        for s in active:
            target = products[s.target]
            pool = [i for i in by_category[target["category"]] if i not in (s.target, s.reference)]
            pool.sort(key=lambda i: -agreement(products[i], target))
            out.append(pool[:9] + [s.target] if len(s.turns) == 1 else pool[:10])
        return out

    run_sessions(sessions, oracle, turns=3)
    summary = summarise(sessions, 3)
    assert summary["sessions"] == 20 and summary["target_success"] == [0.0, 1.0, 1.0]
    assert all(bool(text) == (wrong > 0) for text, wrong in said), "words exactly while the reference differs"
    for s in sessions:
        first = s.turns[0]
        assert first.picked == max(first.shown, key=lambda i: agreement(products[i], products[s.target]))
        assert s.wrong_after[0] == wrong_attributes(products[first.picked], products[s.target])
    assert summary["wrong_attributes"][2] == 0.0 and summary["wrong_attributes"][0] > 0


@pytest.mark.parametrize("phrasing", ["blind", "stranger", "newcomer", "passerby", "latecomer",
                                      "traveller", "caller", "gifter", "returner", "texter",
                                      "reviewer", "comparer"])
def test_the_simulated_shopper_can_speak_the_phrasings_written_apart(phrasing):
    from data_prep.shopper import PHRASINGS
    from tests.test_phrasing import MARKER

    reference = {"category": "dress", "color": "white", "secondary_color": None, "pattern": "solid",
                 "sleeve": "short", "neckline": "crew", "length": "knee", "fit": "loose"}
    target = {**reference, "color": "black", "sleeve": "sleeveless"}
    for seed in range(20):
        text = PHRASINGS[phrasing](reference, target, ["color", "sleeve"], random.Random(seed))
        assert MARKER[phrasing](text), text
        assert all(MARKER[other](text) is None for other in MARKER if other != phrasing), text


def test_a_session_turn_keeps_the_product_filters(catalogue, tmp_path):
    import shutil

    from cti_ir.serve.engine import SearchEngine as Engine

    products = tmp_path / "products.jsonl"
    products.write_text("".join(json.dumps({"id": i, "in_stock": "blue" not in i}) + "\n" for i in catalogue.ids))
    index = tmp_path / "index"
    shutil.copytree(catalogue.index, index)
    from cti_ir.index import cli as index_cli

    assert index_cli.main(["products", "--index", str(index), "--file", str(products)]) == 0
    engine = Engine(catalogue.checkpoint, index)
    turn = SessionTurn("make it blue", "dress/red_dress", ("dress/black_dress",), "dress/black_dress")
    result = engine.search(image=photo(engine, "shirt/red_shirt"), text="", k=5, category="all",
                           exclude="shirt/red_shirt", session=Session((turn,)), filters={"in_stock": True})
    assert result.hits and not any("blue" in h.image_id for h in result.hits), "out of stock stays out"


def test_the_session_benchmark_reads_its_methods_and_tables_its_runs(capsys):
    from benchmarks.session import bench_session

    assert bench_session.parse_method("session:constraints=0:query=sum") == (
        "session", {"constraints": False, "query": "sum"})
    assert bench_session.main(["--seeds", "one"]) == 2 and "--seeds" in capsys.readouterr().err
    assert bench_session.main(["--methods", "magic"]) == 2 and "unknown method magic" in capsys.readouterr().err
    summary = {"target_success": [0.5, 1.0], "attribute_success": [0.5, 1.0], "wrong_attributes": [3.0, 1.0, 0.0]}
    runs = [{"method": "session", "seed": s, "layouts": {"Shoes": summary}} for s in (0, 1)]
    result = {"settings": {"turns": 2, "catalogue_seed": 7, "sessions": 3, "seeds": [0, 1], "phrasing": "heldout",
                           "k": 10}, "aggregate": bench_session.aggregate(runs)}
    table = bench_session.tables(result)
    assert "| session | 50.0 ± 0.0 | 100.0 ± 0.0 |" in table and "| session | 3.00 | 1.00 | 0.00 |" in table
