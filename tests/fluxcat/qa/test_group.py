"""Variant-consistent shots: every row of a `group` shares one seed, so its variants come out as one shot."""

from fluxcat.plan import group_seed, plan_row


def test_rows_of_a_group_share_a_seed_and_other_rows_do_not():
    red = plan_row({"prompt": "a red leather wallet, studio photo", "group": "WALLET-1"}, 0)
    brown = plan_row({"prompt": "a brown leather wallet, studio photo", "group": "WALLET-1"}, 1)
    other = plan_row({"prompt": "a red leather wallet, studio photo", "group": "WALLET-2"}, 2)
    alone = [plan_row({"prompt": p}, 3).seed for p in ("a red leather wallet", "a brown leather wallet")]
    assert red.seed == brown.seed == group_seed("WALLET-1") != other.seed
    assert alone[0] != alone[1]  # without a group each prompt derives its own seed


def test_an_explicit_seed_wins_over_the_group():
    assert plan_row({"prompt": "a mug", "group": "G", "seed": 7}, 0).seed == 7


def test_the_sample_catalog_groups_its_variants():
    import pyarrow.parquet as pq

    from tests.conftest import SAMPLE_CATALOG

    rows = pq.read_table(SAMPLE_CATALOG).to_pylist()
    seeds: dict[str, set[int]] = {}
    for number, row in enumerate(rows):
        if row["group"]:
            seeds.setdefault(row["group"], set()).add(plan_row(row, number).seed)
    assert set(seeds) == {"WALLET-100", "TEE-200", "VASE-300"} and all(len(s) == 1 for s in seeds.values())
