"""A profile lists the 10 reference cells first; a campaign times them in shuffled rounds."""

from devices import Device
from hwnas.core.spaces.nb201 import NB201Space
from hwnas.jobs import ProfileConfig, profile_archs
from profilers import MeasurementStore, create_runtime, run_campaign
from profilers.rounds import RoundsConfig, base_plan


def test_the_10_reference_cells_come_first_then_distinct_samples():
    archs = profile_archs(ProfileConfig(samples=7, seed=3))
    assert tuple(archs[:10]) == NB201Space().reference_archs()
    assert len(archs) == 17 and len(set(archs)) == 17


def test_campaign_times_the_seeded_plan_of_rounds_and_stores_in_item_order(
    tiny_onnx_factory, tmp_path, fast_timing
):
    keys = ("ref0", "ref1", "s0", "s1")
    items = [(key, tiny_onnx_factory(f"{key}.onnx")) for key in keys]
    device = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
    rounds = RoundsConfig(rounds=3, max_rounds=3, probe=None, seed=4)
    seen = []
    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result = run_campaign(
            items,
            store,
            create_runtime("onnxruntime", intra_op_threads=1),
            device,
            timing=fast_timing,
            rounds=rounds,
            progress=lambda done, total, key, row: seen.append((done, total, key, row.round)),
        )
        assert [m.key for m in store.measurements()] == list(keys)
        assert all(m.rounds.rounds == 3 for m in store.measurements())
        assert len(store.rounds()) == 12
    assert result.measured == keys
    assert [(key, r) for _, _, key, r in seen] == base_plan(list(keys), rounds)
    assert [(done, total) for done, total, _, _ in seen] == [(i, 12) for i in range(1, 13)]


def test_fbnet_profiles_the_table_references_first_then_table_networks():
    from hwnas.core.spaces import FBNetSpace

    space = FBNetSpace()
    archs = profile_archs(ProfileConfig(space="fbnet", samples=6, seed=2))
    assert tuple(archs[:10]) == space.reference_archs()
    assert len(set(archs)) == 16 and all(space.table_index(a) is not None for a in archs)
    assert archs == profile_archs(ProfileConfig(space="fbnet", samples=6, seed=2))
    assert archs[10:] != profile_archs(ProfileConfig(space="fbnet", samples=6, seed=3))[10:]
